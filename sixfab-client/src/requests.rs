//! The asset update as plain data ([`UpdateAsset`]) and its fluent builder
//! ([`UpdateAssetBuilder`]); the list builder ([`ListAssets`]).
//!
//! `PATCH /assets/{asset_id}` takes a JSON body where every field is optional and at least one is
//! required. Only the fields set are sent:
//!
//! ```
//! use serde_json::json;
//! use sixfab_client::{AssetId, NetworkGroup, TargetStatus, UpdateAsset};
//!
//! let mut update = UpdateAsset::new(AssetId::parse("SN123")?);
//! update.status = Some(TargetStatus::Inactive);
//! update.network_group = Some(NetworkGroup::Default1Gb);
//! assert_eq!(
//!     update.body(),
//!     json!({"status": "inactive", "supersim": {"network_group": "default_1gb"}})
//! );
//! # Ok::<(), simcore::ValidationError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use futures_util::{Stream, TryStreamExt as _, stream};
use serde::Serialize;
use serde::ser::SerializeMap as _;
use serde_json::Value;
use simcore::{DisplayName, ValidationError};

use crate::client::Client;
use crate::models::{Asset, AssetId, AssetPage, AssetStatus, IntoAssetId, Updated, list_keys};

/// A status an update can set: `active` or `inactive`.
///
/// The asset's status is a **master switch**: `Active` activates every SIM on the asset (Super
/// SIM and PRO SIM), `Inactive` deactivates every one of them. See [`crate::pricing`] for what
/// each costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetStatus {
    /// Activate every SIM on the asset.
    Active,
    /// Deactivate every SIM on the asset.
    Inactive,
}

impl TargetStatus {
    /// The wire word (`"active"`, `"inactive"`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetStatus::Active => "active",
            TargetStatus::Inactive => "inactive",
        }
    }
}

impl fmt::Display for TargetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<TargetStatus> for AssetStatus {
    fn from(s: TargetStatus) -> Self {
        match s {
            TargetStatus::Active => AssetStatus::Active,
            TargetStatus::Inactive => AssetStatus::Inactive,
        }
    }
}

/// The Super SIM's network group: one of Sixfab's four presets, or a custom group of the account
/// by its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetworkGroup {
    /// `default_100mb`: the default networks, 100 MB data usage restriction.
    Default100Mb,
    /// `default_1gb`: the default networks, 1 GB data usage restriction.
    Default1Gb,
    /// `default_10gb`: the default networks, 10 GB data usage restriction.
    Default10Gb,
    /// `default_unlimited`: the default networks without data usage restriction.
    DefaultUnlimited,
    /// A custom network group of the account, by name (must not be empty).
    Custom(String),
}

impl NetworkGroup {
    /// The field name used in errors.
    pub const FIELD: &'static str = "network_group";

    /// The four presets.
    pub const PRESETS: [NetworkGroup; 4] = [
        NetworkGroup::Default100Mb,
        NetworkGroup::Default1Gb,
        NetworkGroup::Default10Gb,
        NetworkGroup::DefaultUnlimited,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            NetworkGroup::Default100Mb => "default_100mb",
            NetworkGroup::Default1Gb => "default_1gb",
            NetworkGroup::Default10Gb => "default_10gb",
            NetworkGroup::DefaultUnlimited => "default_unlimited",
            NetworkGroup::Custom(name) => name,
        }
    }

    /// Checks a custom name (the presets are always valid).
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            NetworkGroup::Custom(name) if name.is_empty() => Err(ValidationError::new(
                Self::FIELD,
                "a custom network group name must not be empty",
                "\"\"",
            )),
            _ => Ok(()),
        }
    }
}

impl From<&str> for NetworkGroup {
    /// A preset's wire name becomes the preset; any other text is a custom group.
    fn from(s: &str) -> Self {
        Self::PRESETS
            .into_iter()
            .find(|p| p.as_str() == s)
            .unwrap_or_else(|| NetworkGroup::Custom(s.to_owned()))
    }
}

impl From<String> for NetworkGroup {
    fn from(s: String) -> Self {
        NetworkGroup::from(s.as_str())
    }
}

impl fmt::Display for NetworkGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for NetworkGroup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where the network group goes in an update body: the object, then the key.
///
/// **Unconfirmed:** Sixfab documents the field as `supersim.network_group`; this crate sends it
/// nested, as `{"supersim": {"network_group": "..."}}`. This is the one place that decides it.
pub const NETWORK_GROUP_PATH: (&str, &str) = ("supersim", "network_group");

/// An asset update as plain data: which asset, and what to set (`None` leaves a field alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAsset {
    /// The asset to update.
    pub asset_id: AssetId,
    /// The new display name (3 to 64 characters).
    pub name: Option<DisplayName>,
    /// The new status of every SIM on the asset.
    pub status: Option<TargetStatus>,
    /// The Super SIM's new network group.
    pub network_group: Option<NetworkGroup>,
}

impl UpdateAsset {
    /// An update of `asset_id` that sets nothing yet.
    pub fn new(asset_id: AssetId) -> Self {
        Self {
            asset_id,
            name: None,
            status: None,
            network_group: None,
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.status.is_none() && self.network_group.is_none()
    }

    /// Checks what the types cannot: at least one field set, a custom network group named.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.is_empty() {
            return Err(ValidationError::empty_update());
        }
        if let Some(group) = &self.network_group {
            group.validate()?;
        }
        Ok(())
    }

    /// The JSON body as sent, written straight from the fields (no map is built); it
    /// serializes to the bytes of [`body`](Self::body).
    pub(crate) fn wire_body(&self) -> WireBody<'_> {
        WireBody(self)
    }

    /// The JSON body: only the fields set.
    pub fn body(&self) -> Value {
        serde_json::to_value(self.wire_body()).expect("a JSON object with text keys")
    }
}

/// An update's body as it is serialized: only the fields set, in the order of the keys of
/// [`UpdateAsset::body`], the network group nested at [`NETWORK_GROUP_PATH`].
pub(crate) struct WireBody<'a>(&'a UpdateAsset);

impl Serialize for WireBody<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut body = s.serialize_map(None)?;
        if let Some(name) = &self.0.name {
            body.serialize_entry("name", name.as_str())?;
        }
        if let Some(status) = self.0.status {
            body.serialize_entry("status", status.as_str())?;
        }
        if let Some(group) = &self.0.network_group {
            let (object, key) = NETWORK_GROUP_PATH;
            body.serialize_entry(object, &BTreeMap::from([(key, group.as_str())]))?;
        }
        body.end()
    }
}

/// Builds and sends an asset update: `client.update_asset(id).name(..).status(..).send()`.
///
/// Setters only record; [`send`](Self::send) checks everything (the id, the name's length, a
/// custom network group's name, that something is set) before anything is sent, and refuses
/// with [`Error::Invalid`](simcore::Error::Invalid) naming the field and the rule.
#[derive(Debug, Clone)]
pub struct UpdateAssetBuilder {
    client: Client,
    asset_id: Result<AssetId, ValidationError>,
    name: Option<String>,
    status: Option<TargetStatus>,
    network_group: Option<NetworkGroup>,
    known_status: Option<AssetStatus>,
}

impl UpdateAssetBuilder {
    pub(crate) fn new(client: Client, asset_id: impl IntoAssetId) -> Self {
        Self {
            client,
            asset_id: asset_id.into_asset_id(),
            name: None,
            status: None,
            network_group: None,
            known_status: None,
        }
    }

    /// Declares the asset's current status: a status change to the status it already has is
    /// then left out (setting what is already there needs no request), and an update left with
    /// nothing to send is not sent at all ([`Updated::Unchanged`]).
    pub fn known_status(mut self, status: AssetStatus) -> Self {
        self.known_status = Some(status);
        self
    }

    /// Declares the current status from a fetched asset (nothing is declared if it reported
    /// none).
    pub fn current(mut self, asset: &crate::models::Asset) -> Self {
        if let Some(s) = &asset.status {
            self.known_status = Some(s.clone());
        }
        self
    }

    /// Whether the update would set only the status the asset is known to have.
    fn already_there(&self) -> bool {
        let known = match &self.known_status {
            Some(AssetStatus::Active) => Some(TargetStatus::Active),
            Some(AssetStatus::Inactive) => Some(TargetStatus::Inactive),
            _ => None,
        };
        self.status.is_some() && self.status == known
    }

    /// Sets the display name (3 to 64 characters; checked by `send`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the status of every SIM on the asset (the master switch).
    pub fn status(mut self, status: impl Into<TargetStatus>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Sets the Super SIM's network group: a preset or a custom group's name.
    pub fn network_group(mut self, group: impl Into<NetworkGroup>) -> Self {
        self.network_group = Some(group.into());
        self
    }

    /// The checked request as plain data, without sending it.
    pub fn request(&self) -> simcore::Result<UpdateAsset> {
        let asset_id = self.asset_id.clone()?;
        let name = self
            .name
            .as_deref()
            .map(|n| DisplayName::parse(n).map_err(|e| e.for_field("name")))
            .transpose()?;
        let status = if self.already_there() {
            None
        } else {
            self.status
        };
        let request = UpdateAsset {
            asset_id,
            name,
            status,
            network_group: self.network_group.clone(),
        };
        if request.is_empty() && self.already_there() {
            // Only the status the asset already has: valid, and nothing to send.
            return Ok(request);
        }
        request.validate()?;
        Ok(request)
    }

    /// Checks the update and sends it; says what the answer carried. An update that asks only
    /// for the status the asset is known to have sends nothing and is [`Updated::Unchanged`].
    pub async fn send(self) -> simcore::Result<Updated> {
        let request = self.request()?;
        if request.is_empty() {
            return Ok(Updated::Unchanged);
        }
        self.client.send_update(&request).await
    }
}

/// The list builder returned by [`Client::list_assets`] (`GET /assets`): a page size, then one
/// page, every page, or every asset.
///
/// How the list is read and paged is **unconfirmed** (Sixfab documents neither): see
/// [`list_keys`] for this crate's reading, each part in one place.
///
/// ```
/// let client = sixfab_client::Client::new("key")?;
/// let list = client.list_assets().page_size(50);
/// assert_eq!(list.query_pairs(2)?, [("page", "2".to_owned()), ("per_page", "50".to_owned())]);
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a list does nothing until it is read"]
pub struct ListAssets {
    client: Client,
    page_size: u32,
    /// Read of each asset only what a snapshot holds (for `SimProvider::list`).
    snapshot_only: bool,
}

impl ListAssets {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            page_size: list_keys::MAX_PAGE_SIZE,
            snapshot_only: false,
        }
    }

    /// Reads of each asset only its ids, name and status and its SIMs' SIDs and ICCIDs,
    /// skipping the rest unread: the cheap read a fleet-wide snapshot needs.
    pub(crate) fn snapshot_only(mut self) -> Self {
        self.snapshot_only = true;
        self
    }

    /// Assets per page (1 to [`list_keys::MAX_PAGE_SIZE`], which is the default).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// The validated query pairs of page `page` ([`list_keys::PAGE`], [`list_keys::PER_PAGE`]).
    /// Nothing is sent.
    pub fn query_pairs(&self, page: u32) -> simcore::Result<Vec<(&'static str, String)>> {
        if page < list_keys::FIRST_PAGE {
            return Err(ValidationError::new(
                list_keys::PAGE,
                "pages count from 1",
                page.to_string(),
            )
            .into());
        }
        if !(1..=list_keys::MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ValidationError::new(
                "page_size",
                format!("must be 1 to {}", list_keys::MAX_PAGE_SIZE),
                self.page_size.to_string(),
            )
            .into());
        }
        Ok(vec![
            (list_keys::PAGE, page.to_string()),
            (list_keys::PER_PAGE, self.page_size.to_string()),
        ])
    }

    /// Fetches page `page` (from [`list_keys::FIRST_PAGE`]).
    pub async fn page(&self, page: u32) -> simcore::Result<AssetPage> {
        let pairs = self.query_pairs(page)?;
        self.client
            .asset_page(&pairs, page, self.page_size, self.snapshot_only)
            .await
    }

    /// Fetches the first page.
    pub async fn first_page(&self) -> simcore::Result<AssetPage> {
        self.page(list_keys::FIRST_PAGE).await
    }

    /// Every page, until [`AssetPage::has_next`] says the last was read. An error ends the
    /// stream after it is yielded; so does a page that starts with the asset the page before
    /// started with (the API ignores the paging parameters: going on would never end).
    pub fn pages(self) -> impl Stream<Item = simcore::Result<AssetPage>> + Send + 'static {
        self.pages_from(list_keys::FIRST_PAGE)
            .map_ok(|(page, _)| page)
    }

    /// Every page from page `first` on (to resume a listing an error interrupted), each with the
    /// number of the page after it (`None` after the last), by the rules of
    /// [`pages`](Self::pages).
    pub fn pages_from(
        self,
        first: u32,
    ) -> impl Stream<Item = simcore::Result<(AssetPage, Option<u32>)>> + Send + 'static {
        simcore::paging::numbered_pages_positioned(
            self,
            first,
            list_keys::PAGE,
            "must not repeat the page before (the API ignored the page asked for; \
             see sixfab_client::models::list_keys)",
            |list, n| async move {
                let page = list.page(n).await;
                (list, page)
            },
        )
    }

    /// Every asset on every page, one at a time.
    pub fn stream(self) -> impl Stream<Item = simcore::Result<Asset>> + Send + 'static {
        self.pages()
            .map_ok(|page| stream::iter(page.assets.into_iter().map(Ok)))
            .try_flatten()
    }

    /// Every asset on every page, collected.
    pub async fn collect_all(self) -> simcore::Result<Vec<Asset>> {
        self.stream().try_collect().await
    }
}

#[cfg(test)]
mod wire_body_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What is sent is byte for byte what `body()` describes, whatever is set.
        #[test]
        fn the_wire_body_is_the_body(
            name in proptest::option::of("[a-zA-Z0-9][a-zA-Z0-9 \"\\\\é]{1,18}[a-zA-Z0-9]"),
            status in proptest::option::of(prop_oneof![Just(TargetStatus::Active), Just(TargetStatus::Inactive)]),
            group in proptest::option::of("[a-z-]{1,12}"),
        ) {
            let mut update = UpdateAsset::new(AssetId::parse("SN-1").unwrap());
            update.name = name.as_deref().map(|n| DisplayName::try_from(n).unwrap());
            update.status = status;
            update.network_group = group.map(NetworkGroup::Custom);
            prop_assert_eq!(
                serde_json::to_vec(&update.wire_body()).unwrap(),
                serde_json::to_vec(&update.body()).unwrap()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> AssetId {
        AssetId::parse("SN123").unwrap()
    }

    #[test]
    fn body_carries_only_what_is_set() {
        let mut u = UpdateAsset::new(id());
        assert_eq!(u.validate().unwrap_err(), ValidationError::empty_update());
        assert_eq!(u.body(), json!({}));
        u.name = Some(DisplayName::parse("pump 7").unwrap());
        assert_eq!(u.body(), json!({"name": "pump 7"}));
        u.status = Some(TargetStatus::Active);
        u.network_group = Some(NetworkGroup::from("my-group"));
        assert_eq!(
            u.body(),
            json!({"name": "pump 7", "status": "active", "supersim": {"network_group": "my-group"}})
        );
        assert!(u.validate().is_ok());
    }

    #[test]
    fn network_groups() {
        let table = [
            ("default_100mb", NetworkGroup::Default100Mb),
            ("default_1gb", NetworkGroup::Default1Gb),
            ("default_10gb", NetworkGroup::Default10Gb),
            ("default_unlimited", NetworkGroup::DefaultUnlimited),
            ("fleet-eu", NetworkGroup::Custom("fleet-eu".into())),
        ];
        for (wire, group) in table {
            assert_eq!(NetworkGroup::from(wire), group);
            assert_eq!(group.as_str(), wire);
            assert_eq!(serde_json::to_value(&group).unwrap(), json!(wire));
            assert!(group.validate().is_ok());
        }
        let e = NetworkGroup::from("").validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid network_group: a custom network group name must not be empty (found \"\")"
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(
            serde_json::to_value(TargetStatus::Inactive).unwrap(),
            json!("inactive")
        );
        assert_eq!(AssetStatus::from(TargetStatus::Active), AssetStatus::Active);
    }
}
