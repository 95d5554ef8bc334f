//! What Sixfab Connect returns.

simcore::open_enum! {
    /// An asset's status: the master switch of every SIM on the asset.
    pub enum AssetStatus {
        /// Every SIM on the asset is active.
        Active = "active",
        /// Every SIM on the asset is inactive.
        Inactive = "inactive",
    }
}
