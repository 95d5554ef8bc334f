//! The asset update as plain data ([`UpdateAssetRequest`]) and its fluent builder
//! ([`UpdateAssetBuilder`]); the list builder ([`ListAssets`]).
//!
//! `PATCH /assets/{asset_id}` takes a JSON body where every field is optional and at least one is
//! required. Only the fields set are sent:
//!
//! ```
//! use serde_json::json;
//! use sixfab_client::{AssetId, NetworkGroup, SettableStatus, UpdateAssetRequest};
//!
//! let mut update = UpdateAssetRequest::new(AssetId::parse("SN123")?);
//! update.status = Some(SettableStatus::Inactive);
//! update.network_group = Some(NetworkGroup::Default1Gb);
//! assert_eq!(
//!     update.body(),
//!     json!({"status": "inactive", "supersim": {"network_group": "default_1gb"}})
//! );
//! # Ok::<(), simcore::ValidationError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde::ser::SerializeMap as _;
use serde_json::Value;
use simcore::paging::{Page, PagePosition, PageSource};
use simcore::{CallOptions, DisplayName, Updated, ValidationError};

use crate::client::Client;
use crate::models::{Asset, AssetId, AssetStatus, IntoAssetId, LIFECYCLE, list_keys};

/// A status an update can set: `active` or `inactive`.
///
/// The asset's status is a **master switch**: `Active` activates every SIM on the asset (Super
/// SIM and PRO SIM), `Inactive` deactivates every one of them. See [`crate::pricing`] for what
/// each costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SettableStatus {
    /// Activate every SIM on the asset.
    Active,
    /// Deactivate every SIM on the asset.
    Inactive,
}

impl SettableStatus {
    /// The wire word (`"active"`, `"inactive"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SettableStatus::Active => "active",
            SettableStatus::Inactive => "inactive",
        }
    }
}

/// The former name of [`SettableStatus`], the name every client of this family uses.
#[deprecated(note = "renamed SettableStatus")]
pub type TargetStatus = SettableStatus;

impl fmt::Display for SettableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<SettableStatus> for AssetStatus {
    fn from(s: SettableStatus) -> Self {
        match s {
            SettableStatus::Active => AssetStatus::Active,
            SettableStatus::Inactive => AssetStatus::Inactive,
        }
    }
}

/// The Super SIM's network group: one of Sixfab's four presets, or a custom group of the account
/// by its name. Sixfab may add presets: match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// `PATCH /assets/{asset_id}` as plain data: which asset, and what to set (`None` leaves a field
/// alone).
///
/// Build it with [`Client::update_asset`] and [`UpdateAssetBuilder::into_request`] (validated),
/// or directly; send it with [`Client::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAssetRequest {
    /// The asset to update.
    pub asset_id: AssetId,
    /// The new display name (3 to 64 characters).
    pub name: Option<DisplayName>,
    /// The new status of every SIM on the asset.
    pub status: Option<SettableStatus>,
    /// The Super SIM's new network group.
    pub network_group: Option<NetworkGroup>,
    /// This call's deadline and attempts cap, honoured by [`Client::send`]; never in the body.
    /// [`UpdateAssetBuilder::into_request`] sets the builder's.
    pub options: CallOptions,
}

impl UpdateAssetRequest {
    /// An update of `asset_id` that sets nothing yet.
    pub fn new(asset_id: AssetId) -> Self {
        Self {
            asset_id,
            name: None,
            status: None,
            network_group: None,
            options: CallOptions::new(),
        }
    }

    /// Sets this call's deadline and attempts cap ([`CallOptions`]), replacing any set before;
    /// [`Client::send`] honours them.
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
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

    /// Checks the status change against the asset lifecycle ([`LIFECYCLE`]), given the asset's
    /// current status. Passes when the update sets no status, when the asset has the status
    /// already (that part needs no request: see [`already_there`](Self::already_there)), and
    /// when the current status is one this SDK does not know (Sixfab decides then).
    pub fn check_transition(&self, current: &AssetStatus) -> simcore::Result<()> {
        match self.status {
            Some(target) if !current.is_unknown() => {
                LIFECYCLE.judge(current, &target.into()).into_result()?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether the status it sets is the one the asset already has (that part needs no
    /// request).
    pub fn already_there(&self, current: &AssetStatus) -> bool {
        self.status
            .is_some_and(|t| AssetStatus::from(t) == *current)
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
/// [`UpdateAssetRequest::body`], the network group nested at [`NETWORK_GROUP_PATH`].
pub(crate) struct WireBody<'a>(&'a UpdateAssetRequest);

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
/// custom network group's name, that something is set, the call's options) before anything is
/// sent, and refuses with [`Error::Invalid`](simcore::Error::Invalid) naming the field and the
/// rule.
///
/// ```
/// use sixfab_client::{AssetStatus, Client, SettableStatus};
/// let client = Client::new("key")?;
/// let request = client
///     .update_asset("SN-ALPON-0042")
///     .known_status(AssetStatus::Active)
///     .status(SettableStatus::Inactive)
///     .into_request()?; // validated; nothing sent
/// assert_eq!(request.body(), serde_json::json!({"status": "inactive"}));
/// let refused = client.update_asset("SN-ALPON-0042").name("ab").into_request();
/// assert!(matches!(refused, Err(simcore::Error::Invalid(v)) if v.field() == "name"));
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "an update does nothing until `send()` is awaited"]
pub struct UpdateAssetBuilder {
    client: Client,
    asset_id: Result<AssetId, ValidationError>,
    name: Option<String>,
    status: Option<SettableStatus>,
    network_group: Option<NetworkGroup>,
    current: Current,
    options: CallOptions,
}

/// What the builder knows about the asset's current status.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Current {
    /// Nothing: every field set is sent.
    Unchecked,
    /// Given by the caller.
    Known(AssetStatus),
    /// Read the asset before sending.
    Fetch,
}

impl UpdateAssetBuilder {
    pub(crate) fn new(client: Client, asset_id: impl IntoAssetId) -> Self {
        Self {
            client,
            asset_id: asset_id.into_asset_id(),
            name: None,
            status: None,
            network_group: None,
            current: Current::Unchecked,
            options: CallOptions::new(),
        }
    }

    simcore::call_options_methods!();

    /// Declares the asset's current status: a status change to the status it already has is
    /// then left out (setting what is already there needs no request), and an update left with
    /// nothing to send is not sent at all ([`Updated::Unchanged`]).
    pub fn known_status(mut self, status: impl Into<AssetStatus>) -> Self {
        self.current = Current::Known(status.into());
        self
    }

    /// Declares the current status from the asset as last read (nothing is declared if it
    /// reported none).
    pub fn current(mut self, asset: &Asset) -> Self {
        if let Some(s) = &asset.status {
            self.current = Current::Known(s.clone());
        }
        self
    }

    /// Reads the asset first (one `GET`, within this call's deadline: the read and the update
    /// share it, and each has this call's attempts cap) and uses its status as
    /// [`known_status`](Self::known_status) would. Off by default: it costs a request. An
    /// update that sets no status needs no status, and reads nothing.
    pub fn fetch_current(mut self) -> Self {
        self.current = Current::Fetch;
        self
    }

    /// Sets the display name (3 to 64 characters; checked by `send`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the status of every SIM on the asset (the master switch).
    pub fn status(mut self, status: impl Into<SettableStatus>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Sets the Super SIM's network group: a preset or a custom group's name.
    pub fn network_group(mut self, group: impl Into<NetworkGroup>) -> Self {
        self.network_group = Some(group.into());
        self
    }

    /// The request, every value checked, and checked against a declared status.
    fn checked(&self) -> simcore::Result<UpdateAssetRequest> {
        self.options.check()?;
        let asset_id = self.asset_id.clone()?;
        let name = self
            .name
            .as_deref()
            .map(|n| DisplayName::parse(n).map_err(|e| e.for_field("name")))
            .transpose()?;
        let request = UpdateAssetRequest {
            asset_id,
            name,
            status: self.status,
            network_group: self.network_group.clone(),
            options: self.options,
        };
        request.validate()?;
        if let Current::Known(current) = &self.current {
            request.check_transition(current)?;
        }
        Ok(request)
    }

    /// Checks everything and returns the request as plain data, for [`Client::send`]; nothing
    /// is sent. Refused as [`Error::Invalid`](simcore::Error::Invalid): a bad id, a name of the
    /// wrong length, an empty custom network group, an update that sets nothing, an option no
    /// call can honour. The request is the update as set: a status the asset is known to have
    /// is still in it (only [`send`](Self::send) leaves it out). It carries this call's
    /// options, which [`Client::send`] honours.
    pub fn into_request(self) -> simcore::Result<UpdateAssetRequest> {
        self.checked()
    }

    /// Checks the update and sends it, with this call's options; says what the answer carried:
    /// [`Updated::Done`] with the asset when Sixfab answers with it, `Done(None)` for no body
    /// or a confirmation. A status the asset is known to have (declared, or read with
    /// [`fetch_current`](Self::fetch_current)) is left out, and an update left with nothing to
    /// send sends nothing: [`Updated::Unchanged`].
    ///
    /// The call's deadline counts from here and spans every request it sends: the read of
    /// [`fetch_current`](Self::fetch_current) and the update together.
    pub async fn send(self) -> simcore::Result<Updated<Asset>> {
        let mut request = self.checked()?;
        let options = self.options.started();
        request.options = options;
        let current = match (&self.current, request.status) {
            (Current::Known(s), _) => Some(s.clone()),
            (Current::Fetch, Some(_)) => {
                self.client
                    .get_asset_with(request.asset_id.clone(), options)
                    .await?
                    .status
            }
            _ => None,
        };
        if let Some(current) = current {
            request.check_transition(&current)?;
            if request.already_there(&current) {
                request.status = None;
                if request.is_empty() {
                    return Ok(Updated::Unchanged);
                }
            }
        }
        self.client
            .send_answer(&request, options)
            .await
            .map(|(updated, _)| updated)
    }
}

/// The list builder returned by [`Client::list_assets`] (`GET /assets`): a page size, then one
/// page, every page, or every asset, from the first page or from the one
/// [`resume_from`](Self::resume_from) names (`PagePosition::Number(n)`, from
/// [`list_keys::FIRST_PAGE`]).
///
/// How the list is read and paged is **unconfirmed** (Sixfab documents neither): see
/// [`list_keys`] for this crate's reading, each part in one place. Each page's
/// [`next`](simcore::paging::Page::next) is decided by the paging the answer carries (a next
/// page, a page count, a total) or, without any, by whether the page came back full; its
/// [`total`](simcore::paging::Page::total) is the answer's total, when it has one.
///
/// The call's options ([`deadline`](Self::deadline), [`attempts`](Self::attempts)) apply to
/// each page request on its own: a listing of many pages is not held to one deadline.
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
    /// The page to start at (`None`: the first).
    start: Option<PagePosition>,
    options: CallOptions,
}

impl ListAssets {
    /// The largest page this crate asks for, and the default ([`list_keys::MAX_PAGE_SIZE`]).
    pub const MAX_PAGE_SIZE: u32 = list_keys::MAX_PAGE_SIZE;

    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            page_size: list_keys::MAX_PAGE_SIZE,
            snapshot_only: false,
            start: None,
            options: CallOptions::new(),
        }
    }

    simcore::call_options_methods!();
    simcore::list_methods!(Asset);

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
}

impl PageSource for ListAssets {
    type Item = Asset;

    /// Reads page `at` (a page number; `None`: [`list_keys::FIRST_PAGE`]) with this list's
    /// options. A bad page number, page size or option is refused before anything is sent.
    async fn read_page(&self, at: Option<&PagePosition>) -> simcore::Result<Page<Asset>> {
        let page = at.map_or(Ok(list_keys::FIRST_PAGE), |p| p.number(list_keys::PAGE))?;
        let pairs = self.query_pairs(page)?;
        self.options.check()?;
        self.client
            .asset_page(
                &pairs,
                page,
                self.page_size,
                self.snapshot_only,
                self.options,
            )
            .await
    }

    /// The id the asset is listed by ([`Asset::address`]; every listed asset has one).
    fn key(asset: &Asset) -> String {
        asset.address().unwrap_or_default()
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
            status in proptest::option::of(prop_oneof![Just(SettableStatus::Active), Just(SettableStatus::Inactive)]),
            group in proptest::option::of("[a-z-]{1,12}"),
        ) {
            let mut update = UpdateAssetRequest::new(AssetId::parse("SN-1").unwrap());
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
        let mut u = UpdateAssetRequest::new(id());
        assert_eq!(u.validate().unwrap_err(), ValidationError::empty_update());
        assert_eq!(u.body(), json!({}));
        u.name = Some(DisplayName::parse("pump 7").unwrap());
        assert_eq!(u.body(), json!({"name": "pump 7"}));
        u.status = Some(SettableStatus::Active);
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
            serde_json::to_value(SettableStatus::Inactive).unwrap(),
            json!("inactive")
        );
        assert_eq!(
            AssetStatus::from(SettableStatus::Active),
            AssetStatus::Active
        );
    }
}
