//! The update: a JSON merge patch (RFC 7396) as plain data, and its fluent builder; the list
//! builder ([`ListSims`]).
//!
//! EdgeIQ merges the body of `PUT /sims/{id}` onto the stored record, so each field has three
//! states, modelled by [`PatchField`]:
//!
//! | state | JSON | effect on the record |
//! |---|---|---|
//! | [`PatchField::Keep`] | key absent | left as it is |
//! | [`PatchField::Set`] | `"key": value` | set to the value |
//! | [`PatchField::Remove`] | `"key": null` | removed |
//!
//! `sim_metadata` is itself a merge patch: `Set(object)` merges the object into the stored
//! metadata key by key (nested objects merge too, `null` removes a key), `Remove` drops the whole
//! metadata object.
//!
//! # What may be removed
//! | field | remove? | why |
//! |---|---|---|
//! | `device_id` | refused | required on creation: a SIM record belongs to a device; set another device to move it |
//! | `mno_integration_id` | allowed | the SIM stops syncing with a carrier platform |
//! | `iccid` | refused | required on creation and unique on the platform |
//! | `msisdn` | allowed | |
//! | `status` | refused | set a status instead (the platform's default is `inactive`) |
//! | `communication_plan`, `rate_plan` | allowed | |
//! | `sim_metadata` | allowed | removes every key at once |
//!
//! # Validation (in [`UpdateSim::send`], before any I/O)
//! The id is 24 hex digits; `iccid` is 18 to 22 digits ([`Iccid`]); `msisdn` at most 20
//! characters ([`Msisdn`]); `status` at most 30 ([`CarrierStatus`]); plan names at most 255
//! ([`PlanName`]); ids not empty; at least one field set. `sim_metadata` is checked twice:
//! - the patch object itself has at most 50 top-level keys, **`null` keys included** (the
//!   platform may check the body as sent, before merging: a patch removing many keys goes in
//!   more than one update);
//! - when the current record is given ([`UpdateSim::current`]), the patch is merged onto it
//!   locally with the same RFC 7396 algorithm ([`merge_patch`]) and the merged metadata must have
//!   at most 50 top-level keys.
//!
//! Read-only fields (`company_id`, usage counters, `sim_barred`, `last_sync_at`, audit fields)
//! have no place in [`SimPatch`]: a patch built from a fetched record drops them by construction.

use futures_util::{Stream, TryStreamExt as _, stream};
use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};
use simcore::http::Method;
use simcore::validate::quote;
use simcore::{CarrierStatus, Iccid, Metadata, Msisdn, PlanName, ValidationError};

use crate::client::Client;
use crate::models::{SimId, SimInput, SimPage, SimRecord, keys, list_keys};

/// RFC 7396 `MergePatch(target, patch)`: the algorithm EdgeIQ applies to an update, and the one
/// this crate uses to predict its result (from the `json-patch` crate).
///
/// ```
/// use serde_json::json;
/// let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
/// edgeiq_client::merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
/// assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
/// ```
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// One field of a merge patch: keep it, set it, or remove it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PatchField<T> {
    /// Leave the stored value alone (the key is not sent).
    #[default]
    Keep,
    /// Set the value (`"key": value`).
    Set(T),
    /// Remove the stored value (`"key": null`).
    Remove,
}

impl<T> PatchField<T> {
    /// Whether the field is left alone.
    pub fn is_keep(&self) -> bool {
        matches!(self, PatchField::Keep)
    }

    /// The value being set, if any.
    pub fn as_set(&self) -> Option<&T> {
        match self {
            PatchField::Set(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> From<Option<T>> for PatchField<T> {
    /// `Some(v)` sets, `None` keeps (a value absent from a record is not a removal).
    fn from(v: Option<T>) -> Self {
        match v {
            Some(v) => PatchField::Set(v),
            None => PatchField::Keep,
        }
    }
}

/// An update of a SIM record as plain data: the JSON merge patch sent as the body of
/// `PUT /sims/{id}`.
///
/// Every field defaults to [`PatchField::Keep`]. Values are checked by [`SimPatch::validate`]
/// (which [`UpdateSim::send`] calls); see the [module docs](self) for the rules and for which
/// fields may be removed.
///
/// ```
/// use edgeiq_client::{PatchField, SimPatch};
/// use serde_json::json;
///
/// let patch = SimPatch {
///     msisdn: PatchField::Set("+491700000001".into()),
///     rate_plan: PatchField::Remove,
///     ..SimPatch::default()
/// };
/// patch.validate()?;
/// assert_eq!(patch.to_json(), json!({"msisdn": "+491700000001", "rate_plan": null}));
/// # Ok::<(), simcore::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimPatch {
    /// The linked device's id (may not be removed).
    pub device_id: PatchField<String>,
    /// The MNO integration's id.
    pub mno_integration_id: PatchField<String>,
    /// The ICCID (may not be removed).
    pub iccid: PatchField<String>,
    /// The MSISDN.
    pub msisdn: PatchField<String>,
    /// The carrier status (may not be removed).
    pub status: PatchField<String>,
    /// The communication plan name.
    pub communication_plan: PatchField<String>,
    /// The rate plan name.
    pub rate_plan: PatchField<String>,
    /// The metadata merge patch: `Set` merges the object key by key (a `null` value removes that
    /// key), `Remove` drops all metadata.
    pub sim_metadata: PatchField<Map<String, Value>>,
}

impl SimPatch {
    /// An empty patch (changes nothing; [`SimPatch::validate`] refuses it).
    pub fn new() -> Self {
        Self::default()
    }

    /// A patch setting every writable field present in `record`; read-only fields, the id and
    /// unknown keys are dropped by construction.
    pub fn from_record(record: &SimRecord) -> Self {
        Self::from(record.input())
    }

    /// Whether nothing is set or removed.
    pub fn is_empty(&self) -> bool {
        self.device_id.is_keep()
            && self.mno_integration_id.is_keep()
            && self.iccid.is_keep()
            && self.msisdn.is_keep()
            && self.status.is_keep()
            && self.communication_plan.is_keep()
            && self.rate_plan.is_keep()
            && self.sim_metadata.is_keep()
    }

    /// Checks every rule that does not need the current record: values, removals, the metadata
    /// patch's key count, and that something is set.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.is_empty() {
            return Err(ValidationError::empty_update());
        }
        check_id(keys::DEVICE_ID, &self.device_id)?;
        refuse_removal(
            keys::DEVICE_ID,
            &self.device_id,
            "cannot be removed: a SIM record belongs to a device (set another device instead)",
        )?;
        check_id(keys::MNO_INTEGRATION_ID, &self.mno_integration_id)?;
        if let PatchField::Set(v) = &self.iccid {
            Iccid::parse(v).map_err(|e| e.for_field(keys::ICCID))?;
        }
        refuse_removal(
            keys::ICCID,
            &self.iccid,
            "cannot be removed: required and unique on the platform",
        )?;
        if let PatchField::Set(v) = &self.msisdn {
            Msisdn::parse(v).map_err(|e| e.for_field(keys::MSISDN))?;
        }
        if let PatchField::Set(v) = &self.status {
            CarrierStatus::parse(v).map_err(|e| e.for_field(keys::STATUS))?;
        }
        refuse_removal(
            keys::STATUS,
            &self.status,
            "cannot be removed: set a status instead (the platform's default is inactive)",
        )?;
        for (key, field) in [
            (keys::COMMUNICATION_PLAN, &self.communication_plan),
            (keys::RATE_PLAN, &self.rate_plan),
        ] {
            if let PatchField::Set(v) = field {
                PlanName::parse(v).map_err(|e| e.for_field(key))?;
            }
        }
        if let PatchField::Set(m) = &self.sim_metadata {
            Metadata::check_keys(m.len()).map_err(|e| e.for_field(keys::SIM_METADATA))?;
        }
        Ok(())
    }

    /// Also checks the result of merging this patch onto `current`: the merged metadata must
    /// have at most 50 top-level keys.
    pub fn validate_against(&self, current: &SimRecord) -> Result<(), ValidationError> {
        self.validate()?;
        let merged = self.merge_into(current);
        let count = merged.sim_metadata.as_ref().map_or(0, Map::len);
        Metadata::check_keys(count).map_err(|e| {
            ValidationError::new(
                keys::SIM_METADATA,
                format!("{} after merging onto the current record", e.rule()),
                e.found().to_owned(),
            )
        })
    }

    /// The record as it will be once EdgeIQ merged this patch onto `current` (RFC 7396, see
    /// [`merge_patch`]). Read-only fields and unknown keys pass through unchanged.
    pub fn merge_into(&self, current: &SimRecord) -> SimRecord {
        let mut doc = Value::Object(current.to_json());
        merge_patch(&mut doc, &self.to_json());
        match doc {
            Value::Object(map) => SimRecord::from_json(map),
            // A patch object merged onto an object is an object.
            _ => current.clone(),
        }
    }

    /// The JSON body: the keys of [`keys::WRITABLE`] that are set (`value`) or removed (`null`).
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, field: PatchField<Value>| match field {
            PatchField::Keep => {}
            PatchField::Set(v) => {
                map.insert(key.to_owned(), v);
            }
            PatchField::Remove => {
                map.insert(key.to_owned(), Value::Null);
            }
        };
        put(keys::DEVICE_ID, string(&self.device_id));
        put(keys::MNO_INTEGRATION_ID, string(&self.mno_integration_id));
        put(keys::ICCID, string(&self.iccid));
        put(keys::MSISDN, string(&self.msisdn));
        put(keys::STATUS, string(&self.status));
        put(keys::COMMUNICATION_PLAN, string(&self.communication_plan));
        put(keys::RATE_PLAN, string(&self.rate_plan));
        put(
            keys::SIM_METADATA,
            match &self.sim_metadata {
                PatchField::Keep => PatchField::Keep,
                PatchField::Set(m) => PatchField::Set(Value::Object(m.clone())),
                PatchField::Remove => PatchField::Remove,
            },
        );
        Value::Object(map)
    }
}

fn string(field: &PatchField<String>) -> PatchField<Value> {
    match field {
        PatchField::Keep => PatchField::Keep,
        PatchField::Set(s) => PatchField::Set(Value::String(s.clone())),
        PatchField::Remove => PatchField::Remove,
    }
}

fn check_id(key: &'static str, field: &PatchField<String>) -> Result<(), ValidationError> {
    match field {
        PatchField::Set(v) if v.is_empty() => Err(ValidationError::new(
            key,
            "must not be empty (remove it instead, where removing is allowed)",
            quote(v),
        )),
        _ => Ok(()),
    }
}

fn refuse_removal<T>(
    key: &'static str,
    field: &PatchField<T>,
    rule: &'static str,
) -> Result<(), ValidationError> {
    match field {
        PatchField::Remove => Err(ValidationError::new(key, rule, "null")),
        _ => Ok(()),
    }
}

impl From<SimInput> for SimPatch {
    /// Present values are set, absent ones kept.
    fn from(input: SimInput) -> Self {
        Self {
            device_id: input.device_id.into(),
            mno_integration_id: input.mno_integration_id.into(),
            iccid: input.iccid.into(),
            msisdn: input.msisdn.into(),
            status: input.status.into(),
            communication_plan: input.communication_plan.into(),
            rate_plan: input.rate_plan.into(),
            sim_metadata: input.sim_metadata.into(),
        }
    }
}

impl Serialize for SimPatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// What an update did: the platform stored it, or nothing was sent because the patch changes
/// nothing in the current record the caller gave ([`UpdateSim::current`]).
///
/// Either way it holds a record, and it dereferences to it: `updated.status` reads the status
/// after the update.
///
/// ```
/// use edgeiq_client::{SimRecord, Updated};
/// let record = SimRecord::from_json(serde_json::json!({"status": "active"}).as_object().unwrap().clone());
/// let updated = Updated::Unchanged(record);
/// assert!(!updated.was_sent());
/// assert_eq!(updated.status.as_deref(), Some("active"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Updated {
    /// Sent and stored: the record as the platform answered.
    Done(SimRecord),
    /// Nothing was sent: merged onto the current record given, the patch changes nothing. The
    /// record is that current record, as given.
    Unchanged(SimRecord),
}

impl Updated {
    /// Whether a request was sent.
    pub fn was_sent(&self) -> bool {
        matches!(self, Updated::Done(_))
    }

    /// The record: as the platform answered, or as given when nothing was sent.
    pub fn record(&self) -> &SimRecord {
        match self {
            Updated::Done(r) | Updated::Unchanged(r) => r,
        }
    }

    /// The record, owned.
    pub fn into_record(self) -> SimRecord {
        match self {
            Updated::Done(r) | Updated::Unchanged(r) => r,
        }
    }
}

impl std::ops::Deref for Updated {
    type Target = SimRecord;

    fn deref(&self) -> &SimRecord {
        self.record()
    }
}

/// The fluent builder of an update, from [`Client::update_sim`]: owns its data and a cheap clone
/// of the client. Nothing is checked until [`UpdateSim::send`] (or [`UpdateSim::body`]).
///
/// Calling a setter twice keeps the last value; `metadata` and `remove_metadata_key` add to the
/// metadata merge object.
#[derive(Debug, Clone)]
#[must_use = "an update does nothing until `send` is awaited"]
pub struct UpdateSim {
    client: Client,
    id: String,
    patch: SimPatch,
    current: Option<SimRecord>,
}

impl UpdateSim {
    pub(crate) fn new(client: Client, id: String) -> Self {
        Self {
            client,
            id,
            patch: SimPatch::default(),
            current: None,
        }
    }

    /// Links the SIM to another device.
    pub fn device_id(mut self, id: impl Into<String>) -> Self {
        self.patch.device_id = PatchField::Set(id.into());
        self
    }

    /// Sets the MNO integration that syncs the SIM with a carrier.
    pub fn mno_integration_id(mut self, id: impl Into<String>) -> Self {
        self.patch.mno_integration_id = PatchField::Set(id.into());
        self
    }

    /// Removes the MNO integration (`"mno_integration_id": null`).
    pub fn remove_mno_integration_id(mut self) -> Self {
        self.patch.mno_integration_id = PatchField::Remove;
        self
    }

    /// Sets the ICCID (18 to 22 digits). It cannot be removed.
    pub fn iccid(mut self, iccid: impl Into<String>) -> Self {
        self.patch.iccid = PatchField::Set(iccid.into());
        self
    }

    /// Sets the MSISDN (at most 20 characters).
    pub fn msisdn(mut self, msisdn: impl Into<String>) -> Self {
        self.patch.msisdn = PatchField::Set(msisdn.into());
        self
    }

    /// Removes the MSISDN (`"msisdn": null`).
    pub fn remove_msisdn(mut self) -> Self {
        self.patch.msisdn = PatchField::Remove;
        self
    }

    /// Sets the carrier status (open text, at most 30 characters; common values `inactive`,
    /// `active`, `suspended`, `deactivated`, `retired`). It cannot be removed.
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.patch.status = PatchField::Set(status.into());
        self
    }

    /// Sets the communication plan name (at most 255 characters).
    pub fn communication_plan(mut self, name: impl Into<String>) -> Self {
        self.patch.communication_plan = PatchField::Set(name.into());
        self
    }

    /// Removes the communication plan (`"communication_plan": null`).
    pub fn remove_communication_plan(mut self) -> Self {
        self.patch.communication_plan = PatchField::Remove;
        self
    }

    /// Sets the rate plan name (at most 255 characters).
    pub fn rate_plan(mut self, name: impl Into<String>) -> Self {
        self.patch.rate_plan = PatchField::Set(name.into());
        self
    }

    /// Removes the rate plan (`"rate_plan": null`).
    pub fn remove_rate_plan(mut self) -> Self {
        self.patch.rate_plan = PatchField::Remove;
        self
    }

    /// Merges one metadata key: `value` replaces the stored value, or merges into it when both
    /// are objects; `null` removes the key. After [`UpdateSim::remove_metadata`], this starts a
    /// new merge object (the removal is dropped: one merge patch cannot both clear and set).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata_map().insert(key.into(), value.into());
        self
    }

    /// Removes one metadata key (`"sim_metadata": {"key": null}`).
    pub fn remove_metadata_key(self, key: impl Into<String>) -> Self {
        self.metadata(key, Value::Null)
    }

    /// Replaces the metadata merge object as a whole (RFC 7396: nested objects merge, `null`
    /// removes).
    pub fn metadata_patch(mut self, patch: Map<String, Value>) -> Self {
        self.patch.sim_metadata = PatchField::Set(patch);
        self
    }

    /// Removes all metadata (`"sim_metadata": null`).
    pub fn remove_metadata(mut self) -> Self {
        self.patch.sim_metadata = PatchField::Remove;
        self
    }

    /// Replaces the whole patch (for example one built with [`SimRecord::to_patch`]).
    pub fn patch(mut self, patch: SimPatch) -> Self {
        self.patch = patch;
        self
    }

    /// The SIM's current record (as fetched): the merge result is then checked too (metadata
    /// key count), and the record's id, when it has one, must be the id being updated.
    ///
    /// It also decides whether anything is sent: a patch that changes nothing in this record is
    /// not sent ([`Updated::Unchanged`]). Give a record fresh enough to trust for that: if
    /// another writer changed the SIM since it was read, an update that would undo that change
    /// is not sent. Without a current record, the patch is always sent.
    pub fn current(mut self, record: &SimRecord) -> Self {
        self.current = Some(record.clone());
        self
    }

    /// The patch as it stands (not yet validated).
    pub fn sim_patch(&self) -> &SimPatch {
        &self.patch
    }

    /// The patch, owned (not yet validated).
    pub fn into_patch(self) -> SimPatch {
        self.patch
    }

    /// Validates everything `send` would and returns the id and the exact JSON body it would
    /// send; nothing is sent.
    pub fn body(&self) -> simcore::Result<(SimId, Value)> {
        let id = SimId::parse(&self.id)?;
        match &self.current {
            Some(current) => {
                if let Some(current_id) = &current.id {
                    if !current_id.eq_ignore_ascii_case(id.as_str()) {
                        return Err(ValidationError::new(
                            "current",
                            "must be the record of the SIM being updated",
                            format!("record {}", quote(current_id)),
                        )
                        .into());
                    }
                }
                self.patch.validate_against(current)?;
            }
            None => self.patch.validate()?,
        }
        Ok((id, self.patch.to_json()))
    }

    /// Whether, merged onto the current record given with [`UpdateSim::current`], the patch
    /// changes nothing (`false` without a current record: then nothing is known).
    pub fn changes_nothing(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|current| self.patch.merge_into(current).to_json() == current.to_json())
    }

    /// Validates, then sends `PUT /sims/{id}` with the merge patch, and returns the record as
    /// the platform stored it ([`Updated::Done`]).
    ///
    /// Setting what is already there is not an error and sends nothing: with the current
    /// record given ([`UpdateSim::current`]) and a patch that changes nothing in it, the answer
    /// is [`Updated::Unchanged`] with that record, and no request is made.
    pub async fn send(self) -> simcore::Result<Updated> {
        let (id, body) = self.body()?;
        if self.changes_nothing() {
            let current = self
                .current
                .expect("changes_nothing needs a current record");
            return Ok(Updated::Unchanged(current));
        }
        let request = self
            .client
            .transport()
            .request(Method::PUT, &["sims", id.as_str()])?
            .operation("update_sim", "/sims/{id}", Some(id.as_str()))
            .json(&body)?;
        let response = self.client.transport().send(&request).await?;
        response.resource().map(Updated::Done)
    }

    fn metadata_map(&mut self) -> &mut Map<String, Value> {
        if !matches!(self.patch.sim_metadata, PatchField::Set(_)) {
            self.patch.sim_metadata = PatchField::Set(Map::new());
        }
        match &mut self.patch.sim_metadata {
            PatchField::Set(m) => m,
            _ => unreachable!("set just above"),
        }
    }
}

/// The list builder returned by [`Client::list_sims`] (`GET /sims`): a page size, then one
/// page, every page, or every record.
///
/// Every page is asked for with `page_meta=true`, so EdgeIQ answers with the total and the list
/// ends without a request past it; a bare array is read too. The page parameters' names are
/// **unconfirmed**: see [`list_keys`].
///
/// ```
/// let client = edgeiq_client::Client::builder().api_token("t").build()?;
/// let list = client.list_sims().page_size(500);
/// assert_eq!(
///     list.query_pairs(2)?,
///     [("page", "2".to_owned()), ("per_page", "500".to_owned()), ("page_meta", "true".to_owned())]
/// );
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a list does nothing until it is read"]
pub struct ListSims {
    client: Client,
    page_size: u32,
    /// Read of each record only what a snapshot holds (for `SimProvider::list`).
    snapshot_only: bool,
}

impl ListSims {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            page_size: list_keys::MAX_PAGE_SIZE,
            snapshot_only: false,
        }
    }

    /// Reads of each record only its id, ICCID and status, skipping the rest unread: the cheap
    /// read a fleet-wide snapshot needs.
    pub(crate) fn snapshot_only(mut self) -> Self {
        self.snapshot_only = true;
        self
    }

    /// Records per page (1 to [`list_keys::MAX_PAGE_SIZE`], which is the default).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// The validated query pairs of page `page`. Nothing is sent.
    pub fn query_pairs(&self, page: u32) -> simcore::Result<Vec<(&'static str, String)>> {
        if page < list_keys::FIRST_PAGE {
            return Err(ValidationError::new(
                list_keys::PAGE,
                format!("pages count from {}", list_keys::FIRST_PAGE),
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
            (list_keys::PAGE_META, "true".to_owned()),
        ])
    }

    /// Fetches page `page` (from [`list_keys::FIRST_PAGE`]).
    pub async fn page(&self, page: u32) -> simcore::Result<SimPage> {
        let pairs = self.query_pairs(page)?;
        self.client
            .sim_page(&pairs, page, self.page_size, self.snapshot_only)
            .await
    }

    /// Fetches the first page.
    pub async fn first_page(&self) -> simcore::Result<SimPage> {
        self.page(list_keys::FIRST_PAGE).await
    }

    /// Every page, until [`SimPage::has_next`] says the last was read. An error ends the stream
    /// after it is yielded; so does a page that starts with the record the page before started
    /// with (the API ignores the paging parameters: going on would never end).
    pub fn pages(self) -> impl Stream<Item = simcore::Result<SimPage>> + Send + 'static {
        self.pages_from(list_keys::FIRST_PAGE)
            .map_ok(|(page, _)| page)
    }

    /// Every page from page `first` on (to resume a listing an error interrupted), each with the
    /// number of the page after it (`None` after the last), by the rules of
    /// [`pages`](Self::pages).
    pub fn pages_from(
        self,
        first: u32,
    ) -> impl Stream<Item = simcore::Result<(SimPage, Option<u32>)>> + Send + 'static {
        simcore::paging::numbered_pages_positioned(
            self,
            first,
            list_keys::PAGE,
            "must not repeat the page before (the API ignored the page asked for; \
             see edgeiq_client::models::list_keys)",
            |list, n| async move {
                let page = list.page(n).await;
                (list, page)
            },
        )
    }

    /// Every record on every page, one at a time.
    pub fn stream(self) -> impl Stream<Item = simcore::Result<SimRecord>> + Send + 'static {
        self.pages()
            .map_ok(|page| stream::iter(page.sims.into_iter().map(Ok)))
            .try_flatten()
    }

    /// Every record on every page, collected.
    pub async fn collect_all(self) -> simcore::Result<Vec<SimRecord>> {
        self.stream().try_collect().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn record(v: Value) -> SimRecord {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn each_state_has_its_json() {
        let p = SimPatch {
            device_id: PatchField::Set("dev-2".into()),
            msisdn: PatchField::Remove,
            ..SimPatch::default()
        };
        assert_eq!(p.to_json(), json!({"device_id": "dev-2", "msisdn": null}));
        assert_eq!(SimPatch::new().to_json(), json!({}));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            serde_json::to_string(&p.to_json()).unwrap()
        );
    }

    #[test]
    fn validation_table() {
        let long = |n| "x".repeat(n);
        let cases: Vec<(SimPatch, Option<(&str, &str)>)> = vec![
            (
                SimPatch::new(),
                Some(("update", "must set at least one field")),
            ),
            (
                SimPatch {
                    iccid: PatchField::Set("8988".into()),
                    ..SimPatch::default()
                },
                Some(("iccid", "must be 18 to 22 ASCII digits")),
            ),
            (
                SimPatch {
                    iccid: PatchField::Remove,
                    ..SimPatch::default()
                },
                Some((
                    "iccid",
                    "cannot be removed: required and unique on the platform",
                )),
            ),
            (
                SimPatch {
                    device_id: PatchField::Remove,
                    ..SimPatch::default()
                },
                Some((
                    "device_id",
                    "cannot be removed: a SIM record belongs to a device (set another device instead)",
                )),
            ),
            (
                SimPatch {
                    device_id: PatchField::Set(String::new()),
                    ..SimPatch::default()
                },
                Some((
                    "device_id",
                    "must not be empty (remove it instead, where removing is allowed)",
                )),
            ),
            (
                SimPatch {
                    mno_integration_id: PatchField::Set(String::new()),
                    ..SimPatch::default()
                },
                Some((
                    "mno_integration_id",
                    "must not be empty (remove it instead, where removing is allowed)",
                )),
            ),
            (
                SimPatch {
                    status: PatchField::Remove,
                    ..SimPatch::default()
                },
                Some((
                    "status",
                    "cannot be removed: set a status instead (the platform's default is inactive)",
                )),
            ),
            (
                SimPatch {
                    status: PatchField::Set(long(31)),
                    ..SimPatch::default()
                },
                Some(("status", "must be 1 to 30 characters (not empty)")),
            ),
            (
                SimPatch {
                    status: PatchField::Set(long(30)),
                    ..SimPatch::default()
                },
                None,
            ),
            (
                SimPatch {
                    msisdn: PatchField::Set(long(21)),
                    ..SimPatch::default()
                },
                Some(("msisdn", "must be 1 to 20 characters (not empty)")),
            ),
            (
                SimPatch {
                    msisdn: PatchField::Set(long(20)),
                    ..SimPatch::default()
                },
                None,
            ),
            (
                SimPatch {
                    communication_plan: PatchField::Set(long(256)),
                    ..SimPatch::default()
                },
                Some((
                    "communication_plan",
                    "must be 1 to 255 characters (not empty)",
                )),
            ),
            (
                SimPatch {
                    rate_plan: PatchField::Set(String::new()),
                    ..SimPatch::default()
                },
                Some(("rate_plan", "must be 1 to 255 characters (not empty)")),
            ),
            (
                SimPatch {
                    rate_plan: PatchField::Set(long(255)),
                    ..SimPatch::default()
                },
                None,
            ),
            (
                SimPatch {
                    rate_plan: PatchField::Remove,
                    ..SimPatch::default()
                },
                None,
            ),
            (
                SimPatch {
                    mno_integration_id: PatchField::Remove,
                    ..SimPatch::default()
                },
                None,
            ),
            (
                SimPatch {
                    sim_metadata: PatchField::Remove,
                    ..SimPatch::default()
                },
                None,
            ),
            (
                SimPatch {
                    sim_metadata: PatchField::Set(Map::new()),
                    ..SimPatch::default()
                },
                None,
            ),
        ];
        for (patch, expected) in cases {
            match (patch.validate(), expected) {
                (Ok(()), None) => {}
                (Err(e), Some((field, rule))) => {
                    assert_eq!((e.field(), e.rule()), (field, rule), "{patch:?}");
                }
                (got, want) => panic!("{patch:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn keys_map(n: usize, value: Value) -> Map<String, Value> {
        (0..n).map(|i| (format!("k{i}"), value.clone())).collect()
    }

    #[test]
    fn metadata_patch_counts_null_keys_too() {
        let ok = SimPatch {
            sim_metadata: PatchField::Set(keys_map(50, Value::Null)),
            ..SimPatch::default()
        };
        assert!(ok.validate().is_ok());
        let too_many = SimPatch {
            sim_metadata: PatchField::Set(keys_map(51, Value::Null)),
            ..SimPatch::default()
        };
        let e = too_many.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid sim_metadata: must have at most 50 top-level keys (found 51 keys)"
        );
    }

    #[test]
    fn merged_metadata_is_counted() {
        let current = record(
            json!({"_id": "65f1c0ffee0123456789abcd", "sim_metadata": keys_map(49, json!(1))}),
        );
        let two_new = SimPatch {
            sim_metadata: PatchField::Set(
                json!({"new1": 1, "new2": 2}).as_object().unwrap().clone(),
            ),
            ..SimPatch::default()
        };
        assert!(two_new.validate().is_ok());
        let e = two_new.validate_against(&current).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid sim_metadata: must have at most 50 top-level keys after merging onto the current record (found 51 keys)"
        );
        // Adding one and removing one stays at 49.
        let swap = SimPatch {
            sim_metadata: PatchField::Set(
                json!({"new1": 1, "k0": null}).as_object().unwrap().clone(),
            ),
            ..SimPatch::default()
        };
        assert!(swap.validate_against(&current).is_ok());
        // Clearing everything is always fine.
        let clear = SimPatch {
            sim_metadata: PatchField::Remove,
            ..SimPatch::default()
        };
        assert!(clear.validate_against(&current).is_ok());
    }

    #[test]
    fn merge_into_predicts_the_record() {
        let current = record(json!({
            "_id": "65f1c0ffee0123456789abcd",
            "iccid": "89882806660004909182",
            "msisdn": "+1",
            "sim_metadata": {"site": {"name": "a", "floor": 2}, "tag": "x"},
            "ctd_data_usage": 7,
        }));
        let patch = SimPatch {
            msisdn: PatchField::Remove,
            status: PatchField::Set("active".into()),
            sim_metadata: PatchField::Set(
                json!({"site": {"floor": null, "room": 4}, "tag": null})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..SimPatch::default()
        };
        let merged = patch.merge_into(&current);
        assert_eq!(merged.msisdn, None);
        assert_eq!(merged.status.as_deref(), Some("active"));
        assert_eq!(
            Value::Object(merged.sim_metadata.unwrap()),
            json!({"site": {"name": "a", "room": 4}})
        );
        assert_eq!(merged.ctd_data_usage, current.ctd_data_usage);
        assert_eq!(merged.id, current.id);
    }

    #[test]
    fn from_option_keeps_absent_values() {
        assert_eq!(PatchField::from(Some(1)), PatchField::Set(1));
        assert_eq!(PatchField::<i32>::from(None), PatchField::Keep);
        assert_eq!(PatchField::Set(2).as_set(), Some(&2));
        assert_eq!(PatchField::<i32>::Remove.as_set(), None);
    }

    proptest! {
        #[test]
        fn validation_never_panics(
            iccid in any::<String>(),
            msisdn in any::<String>(),
            status in any::<String>(),
            plan in any::<String>(),
            meta in proptest::collection::btree_map(any::<String>(), any::<Option<i64>>(), 0..60),
        ) {
            let patch = SimPatch {
                iccid: PatchField::Set(iccid),
                msisdn: PatchField::Set(msisdn),
                status: PatchField::Set(status),
                communication_plan: PatchField::Set(plan),
                sim_metadata: PatchField::Set(
                    meta.into_iter().map(|(k, v)| (k, v.map_or(Value::Null, Value::from))).collect(),
                ),
                ..SimPatch::default()
            };
            let _ = patch.validate();
            let _ = patch.validate_against(&SimRecord::default());
            prop_assert!(patch.to_json().is_object());
        }

        /// An update changes nothing exactly when each field it touches already holds what it
        /// asks: a plain model of the merge, field by field, against the builder's answer.
        #[test]
        fn an_update_changes_nothing_exactly_when_every_field_is_already_so(
            status in prop_oneof![Just("active"), Just("inactive")],
            msisdn in proptest::option::of(prop_oneof![Just("4917001"), Just("4917002")]),
            site in proptest::option::of(0i64..2),
            new_status in proptest::option::of(prop_oneof![Just("active"), Just("inactive")]),
            new_msisdn in prop_oneof![
                Just(PatchField::Keep),
                Just(PatchField::Remove),
                Just(PatchField::Set("4917001")),
                Just(PatchField::Set("4917002")),
            ],
            new_site in proptest::option::of(proptest::option::of(0i64..2)),
            with_current in any::<bool>(),
        ) {
            let mut current = json!({"_id": "65f1c0ffee0123456789abcd", "status": status});
            if let Some(m) = msisdn {
                current["msisdn"] = json!(m);
            }
            if let Some(v) = site {
                current["sim_metadata"] = json!({"site": v});
            }
            let current = record(current);
            let client = crate::Client::builder().api_token("t").build().unwrap();
            let mut update = client.update_sim("65f1c0ffee0123456789abcd");
            if let Some(s) = new_status {
                update = update.status(s);
            }
            update = match new_msisdn {
                PatchField::Keep => update,
                PatchField::Remove => update.remove_msisdn(),
                PatchField::Set(m) => update.msisdn(m),
            };
            if let Some(v) = new_site {
                update = update.metadata("site", v.map_or(Value::Null, Value::from));
            }
            let model = new_status.is_none_or(|s| s == status)
                && match new_msisdn {
                    PatchField::Keep => true,
                    PatchField::Remove => msisdn.is_none(),
                    PatchField::Set(m) => msisdn == Some(m),
                }
                // Removing a key that is not there leaves an empty metadata object where there
                // was none: a change of the record's shape, so it is sent.
                && new_site.is_none_or(|v| v.is_some() && v == site);
            if with_current {
                update = update.current(&current);
                prop_assert_eq!(update.changes_nothing(), model);
            } else {
                prop_assert!(!update.changes_nothing(), "nothing is known without the record");
            }
        }
    }
}
