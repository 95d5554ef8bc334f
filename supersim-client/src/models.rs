//! What Twilio's Super SIM API returns.

simcore::open_enum! {
    /// A Super SIM's status as Twilio reports it (`new`, `ready`, `active`, `inactive`,
    /// `scheduled`); a status Twilio adds later is kept as `Unknown`.
    pub enum Status {
        /// Never used; the only status from which `ready` can be set and the account moved.
        New = "new",
        /// Ready: becomes `active` by itself after 250 KB of data, five SMS commands or three months.
        Ready = "ready",
        /// Active: may connect, billed.
        Active = "active",
        /// Inactive: may not connect.
        Inactive = "inactive",
        /// A status or fleet change was accepted and is being applied.
        Scheduled = "scheduled",
    }
}
