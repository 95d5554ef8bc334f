//! The update: a JSON merge patch (RFC 7396) as plain data ([`UpdateSimRequest`]), and its
//! fluent builder ([`UpdateSimBuilder`]); the list builder ([`ListSims`]).
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
//! # Validation (in [`UpdateSimBuilder::into_request`] and every send, before any I/O)
//! The id is 24 hex digits; `iccid` is 18 to 22 digits ([`Iccid`]); `msisdn` at most 20
//! characters ([`Msisdn`]); `status` at most 30 ([`CarrierStatus`]); plan names at most 255
//! ([`PlanName`]); ids not empty; at least one field set. `sim_metadata` is checked twice:
//! - the patch object itself has at most 50 top-level keys, **`null` keys included** (the
//!   platform may check the body as sent, before merging: a patch removing many keys goes in
//!   more than one update);
//! - when the current record is known ([`UpdateSimBuilder::current`],
//!   [`UpdateSimBuilder::fetch_current`]), the patch is merged onto it
//!   locally with the same RFC 7396 algorithm ([`merge_patch`]) and the merged metadata must have
//!   at most 50 top-level keys.
//!
//! Read-only fields (`company_id`, usage counters, `sim_barred`, `last_sync_at`, audit fields)
//! have no place in [`UpdateSimRequest`]: a request built from a fetched record drops them by
//! construction.

use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};
use simcore::paging::{Page, PagePosition, PageSource};
use simcore::validate::quote;
use simcore::{
    CallOptions, CarrierStatus, Iccid, Metadata, Msisdn, PlanName, Updated, ValidationError,
};

use crate::client::Client;
use crate::models::{SimId, SimInput, SimRecord, keys, list_has_next, list_keys};

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

/// An update of a SIM record as plain data: the record it updates, and the JSON merge patch
/// sent as the body of `PUT /sims/{id}`.
///
/// Every field but the id starts as [`PatchField::Keep`]. Values are checked by
/// [`UpdateSimRequest::validate`] (which every send calls); see the [module docs](self) for the
/// rules and for which fields may be removed. [`Client::send`] sends it as it is.
///
/// ```
/// use edgeiq_client::{PatchField, SimId, UpdateSimRequest};
/// use serde_json::json;
///
/// let request = UpdateSimRequest {
///     msisdn: PatchField::Set("+491700000001".into()),
///     rate_plan: PatchField::Remove,
///     ..UpdateSimRequest::new(SimId::parse("65f1c0ffee0123456789abcd")?)
/// };
/// request.validate()?;
/// assert_eq!(request.to_json(), json!({"msisdn": "+491700000001", "rate_plan": null}));
/// # Ok::<(), simcore::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateSimRequest {
    /// The record to update (its system id: the path, never the body).
    pub id: SimId,
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
    /// This call's deadline and attempts cap, honoured by [`Client::send`]; never in the body.
    /// [`UpdateSimBuilder::into_request`] sets the builder's.
    pub options: CallOptions,
}

impl UpdateSimRequest {
    /// A request for the record `id` that changes nothing yet ([`validate`](Self::validate)
    /// refuses it as it is).
    pub fn new(id: SimId) -> Self {
        Self {
            id,
            device_id: PatchField::Keep,
            mno_integration_id: PatchField::Keep,
            iccid: PatchField::Keep,
            msisdn: PatchField::Keep,
            status: PatchField::Keep,
            communication_plan: PatchField::Keep,
            rate_plan: PatchField::Keep,
            sim_metadata: PatchField::Keep,
            options: CallOptions::new(),
        }
    }

    /// Sets this call's deadline and attempts cap ([`CallOptions`]), replacing any set before;
    /// [`Client::send`] honours them.
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    /// A request for the record `record` that sets every writable field present in it; read-only
    /// fields and unknown keys are dropped by construction. The record must carry its id
    /// (every record EdgeIQ returns does).
    pub fn from_record(record: &SimRecord) -> Result<Self, ValidationError> {
        let id = match &record.id {
            Some(id) => SimId::parse(id).map_err(|e| e.for_field(keys::ID))?,
            None => {
                return Err(ValidationError::new(
                    keys::ID,
                    "a record must carry its id to be turned into an update",
                    "no id",
                ));
            }
        };
        Ok(Self::from_input(id, record.input()))
    }

    /// A request for the record `id` setting every value present in `input` (absent ones are
    /// kept).
    pub fn from_input(id: SimId, input: SimInput) -> Self {
        Self {
            id,
            device_id: input.device_id.into(),
            mno_integration_id: input.mno_integration_id.into(),
            iccid: input.iccid.into(),
            msisdn: input.msisdn.into(),
            status: input.status.into(),
            communication_plan: input.communication_plan.into(),
            rate_plan: input.rate_plan.into(),
            sim_metadata: input.sim_metadata.into(),
            options: CallOptions::new(),
        }
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

    /// Also checks the request against `current`, the record as last read: its id, when it has
    /// one, must be the request's, and the merged metadata must have at most 50 top-level keys.
    pub fn validate_against(&self, current: &SimRecord) -> Result<(), ValidationError> {
        self.validate()?;
        if let Some(current_id) = &current.id {
            if !current_id.eq_ignore_ascii_case(self.id.as_str()) {
                return Err(ValidationError::new(
                    "current",
                    "must be the record of the SIM being updated",
                    format!("record {}", quote(current_id)),
                ));
            }
        }
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

    /// The status the request sets, when it sets nothing else.
    pub fn only_status(&self) -> Option<&str> {
        let rest = UpdateSimRequest {
            status: PatchField::Keep,
            ..self.clone()
        };
        match &self.status {
            PatchField::Set(s) if rest.is_empty() => Some(s),
            _ => None,
        }
    }

    /// Whether, merged onto `current`, the request changes nothing in it.
    pub fn changes_nothing_in(&self, current: &SimRecord) -> bool {
        self.merge_into(current).to_json() == current.to_json()
    }

    /// The JSON body: the keys of [`keys::WRITABLE`] that are set (`value`) or removed (`null`);
    /// the id is the path, never the body.
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

/// Serializes as the JSON body ([`UpdateSimRequest::to_json`]): the id is not in it.
impl Serialize for UpdateSimRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// The fluent builder of an update, from [`Client::update_sim`]: owns its data and a cheap clone
/// of the client. Nothing is checked until [`into_request`](Self::into_request) or
/// [`send`](Self::send).
///
/// Calling a setter twice keeps the last value; `metadata` and `remove_metadata_key` add to the
/// metadata merge object.
#[derive(Debug, Clone)]
#[must_use = "an update does nothing until `send` is awaited"]
pub struct UpdateSimBuilder {
    client: Client,
    id: String,
    /// The fields so far; its id is the one [`UpdateSimBuilder::patch`] gave, if any (the
    /// builder's own id is `id`, checked by `into_request`).
    patch: UpdateSimRequest,
    /// Whether `patch` came whole from [`UpdateSimBuilder::patch`] (its id must then be `id`).
    patch_given: bool,
    current: Option<SimRecord>,
    known_status: Option<String>,
    fetch_current: bool,
    options: CallOptions,
}

impl UpdateSimBuilder {
    pub(crate) fn new(client: Client, id: String) -> Self {
        Self {
            client,
            id,
            patch: UpdateSimRequest::new(SimId::unchecked(String::new())),
            patch_given: false,
            current: None,
            known_status: None,
            fetch_current: false,
            options: CallOptions::new(),
        }
    }

    simcore::call_options_methods!();

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
    /// are objects; `null` removes the key. After [`UpdateSimBuilder::remove_metadata`], this starts a
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

    /// Replaces every field with those of `request` (for example one built with
    /// [`SimRecord::to_request`]). It must be a request for the SIM this builder updates:
    /// [`into_request`](Self::into_request) refuses one for another SIM.
    pub fn patch(mut self, request: UpdateSimRequest) -> Self {
        self.patch = request;
        self.patch_given = true;
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

    /// The SIM's current status, as the caller knows it (EdgeIQ's status is free carrier text,
    /// so no move is refused): an update that sets nothing but this very status is not sent
    /// ([`Updated::Unchanged`]). The comparison is exact (`"Active"` is not `"active"`: setting
    /// it changes the stored word).
    pub fn known_status(mut self, status: impl Into<String>) -> Self {
        self.known_status = Some(status.into());
        self
    }

    /// Reads the record first (one `GET /sims/{id}`, within this call's deadline: the read and
    /// the update share it, and each has this call's attempts cap) and checks the
    /// update against it, as [`current`](Self::current) does with a record you give: the merged
    /// metadata's key count, and a patch that changes nothing is not sent. The record read
    /// replaces one given with `current`.
    pub fn fetch_current(mut self) -> Self {
        self.fetch_current = true;
        self
    }

    /// Whether, merged onto the current record given with [`UpdateSimBuilder::current`], the
    /// patch changes nothing (`false` without a current record: then nothing is known).
    pub fn changes_nothing(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|current| self.patch.changes_nothing_in(current))
    }

    /// Validates everything [`send`](Self::send) would (this call's options, the id, every
    /// value, the merge onto the current record when one is given) and returns the request as
    /// plain data, carrying this call's options (they replace those of a request given to
    /// [`patch`](Self::patch)); nothing is sent. [`Client::send`] sends it, with those options.
    pub fn into_request(self) -> simcore::Result<UpdateSimRequest> {
        self.options.check()?;
        let id = SimId::parse(&self.id)?;
        let mut request = self.patch;
        if self.patch_given && !request.id.as_str().eq_ignore_ascii_case(id.as_str()) {
            return Err(ValidationError::new(
                "patch",
                "must be a request for the SIM being updated",
                format!("a request for {}", quote(request.id.as_str())),
            )
            .into());
        }
        request.id = id;
        request.options = self.options;
        match &self.current {
            Some(current) => request.validate_against(current)?,
            None => request.validate()?,
        }
        Ok(request)
    }

    /// Validates, then sends `PUT /sims/{id}` with the merge patch, and returns the record as
    /// the platform stored it ([`Updated::Done`]).
    ///
    /// Setting what is already there is not an error and sends nothing: with the current
    /// record known ([`current`](Self::current), [`fetch_current`](Self::fetch_current)) and a
    /// patch that changes nothing in it, or with a [`known_status`](Self::known_status) that is
    /// all the update sets, the answer is [`Updated::Unchanged`] and no update is sent.
    ///
    /// The call's deadline counts from here and spans every request it sends: the read of
    /// [`fetch_current`](Self::fetch_current) and the update together.
    pub async fn send(self) -> simcore::Result<Updated<SimRecord>> {
        self.options.check()?;
        let client = self.client.clone();
        let options = self.options.started();
        let fetch = self.fetch_current;
        let known_status = self.known_status.clone();
        let mut current = self.current.clone();
        let request = self.into_request()?.options(options);
        if fetch {
            let record = client.get_sim_with(request.id.as_str(), options).await?;
            request.validate_against(&record)?;
            current = Some(record);
        }
        let unchanged = match (&current, &known_status) {
            (Some(record), _) => request.changes_nothing_in(record),
            (None, Some(known)) => request.only_status() == Some(known.as_str()),
            (None, None) => false,
        };
        if unchanged {
            return Ok(Updated::Unchanged);
        }
        client.send_with(&request, options).await
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

/// The list builder returned by [`Client::list_sims`] (`GET /sims`): a page size, then the list
/// verbs: [`first_page`](Self::first_page), [`pages`](Self::pages), [`stream`](Self::stream),
/// [`collect_all`](Self::collect_all), from the first page or the one
/// [`resume_from`](Self::resume_from) names.
///
/// Every page is asked for with `page_meta=true`, so EdgeIQ answers with the total and the list
/// ends without a request past it; a bare array is read too, and then ends at a short page. A
/// page that starts with the record the page before started with ends the listing with an
/// error: the API ignored the page asked for, and going on would never end. The page
/// parameters' names are **unconfirmed**: see [`list_keys`].
///
/// The call's options ([`deadline`](Self::deadline), [`attempts`](Self::attempts)) apply to
/// each page request on its own: a listing of many pages is not held to one deadline.
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
    start: Option<PagePosition>,
    options: CallOptions,
}

impl ListSims {
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
    simcore::list_methods!(SimRecord);

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
}

/// Reads `GET /sims` a numbered page at a time: the page after page `n` is `n + 1` while
/// [`list_keys`]'s end rules say one follows (the `total`, or a full page without one).
impl PageSource for ListSims {
    type Item = SimRecord;

    async fn read_page(&self, at: Option<&PagePosition>) -> simcore::Result<Page<SimRecord>> {
        let page = match at {
            Some(position) => position.number(list_keys::PAGE)?,
            None => list_keys::FIRST_PAGE,
        };
        let pairs = self.query_pairs(page)?;
        let (sims, total) = self
            .client
            .sim_page(&pairs, self.page_size, self.snapshot_only, self.options)
            .await?;
        let next = list_has_next(page, self.page_size, sims.len(), total)
            .then(|| page.checked_add(1).map(PagePosition::Number))
            .flatten();
        Ok(Page::new(sims, next).with_total(total))
    }

    fn key(item: &SimRecord) -> String {
        item.id.clone().unwrap_or_default()
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

    /// A request for the record the tests use, changing nothing yet.
    fn req() -> UpdateSimRequest {
        UpdateSimRequest::new(SimId::parse("65f1c0ffee0123456789abcd").unwrap())
    }

    #[test]
    fn each_state_has_its_json() {
        let p = UpdateSimRequest {
            device_id: PatchField::Set("dev-2".into()),
            msisdn: PatchField::Remove,
            ..req()
        };
        assert_eq!(p.to_json(), json!({"device_id": "dev-2", "msisdn": null}));
        assert_eq!(req().to_json(), json!({}));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            serde_json::to_string(&p.to_json()).unwrap()
        );
    }

    #[test]
    fn validation_table() {
        let long = |n| "x".repeat(n);
        let cases: Vec<(UpdateSimRequest, Option<(&str, &str)>)> = vec![
            (req(), Some(("update", "must set at least one field"))),
            (
                UpdateSimRequest {
                    iccid: PatchField::Set("8988".into()),
                    ..req()
                },
                Some(("iccid", "must be 18 to 22 ASCII digits")),
            ),
            (
                UpdateSimRequest {
                    iccid: PatchField::Remove,
                    ..req()
                },
                Some((
                    "iccid",
                    "cannot be removed: required and unique on the platform",
                )),
            ),
            (
                UpdateSimRequest {
                    device_id: PatchField::Remove,
                    ..req()
                },
                Some((
                    "device_id",
                    "cannot be removed: a SIM record belongs to a device (set another device instead)",
                )),
            ),
            (
                UpdateSimRequest {
                    device_id: PatchField::Set(String::new()),
                    ..req()
                },
                Some((
                    "device_id",
                    "must not be empty (remove it instead, where removing is allowed)",
                )),
            ),
            (
                UpdateSimRequest {
                    mno_integration_id: PatchField::Set(String::new()),
                    ..req()
                },
                Some((
                    "mno_integration_id",
                    "must not be empty (remove it instead, where removing is allowed)",
                )),
            ),
            (
                UpdateSimRequest {
                    status: PatchField::Remove,
                    ..req()
                },
                Some((
                    "status",
                    "cannot be removed: set a status instead (the platform's default is inactive)",
                )),
            ),
            (
                UpdateSimRequest {
                    status: PatchField::Set(long(31)),
                    ..req()
                },
                Some(("status", "must be 1 to 30 characters (not empty)")),
            ),
            (
                UpdateSimRequest {
                    status: PatchField::Set(long(30)),
                    ..req()
                },
                None,
            ),
            (
                UpdateSimRequest {
                    msisdn: PatchField::Set(long(21)),
                    ..req()
                },
                Some(("msisdn", "must be 1 to 20 characters (not empty)")),
            ),
            (
                UpdateSimRequest {
                    msisdn: PatchField::Set(long(20)),
                    ..req()
                },
                None,
            ),
            (
                UpdateSimRequest {
                    communication_plan: PatchField::Set(long(256)),
                    ..req()
                },
                Some((
                    "communication_plan",
                    "must be 1 to 255 characters (not empty)",
                )),
            ),
            (
                UpdateSimRequest {
                    rate_plan: PatchField::Set(String::new()),
                    ..req()
                },
                Some(("rate_plan", "must be 1 to 255 characters (not empty)")),
            ),
            (
                UpdateSimRequest {
                    rate_plan: PatchField::Set(long(255)),
                    ..req()
                },
                None,
            ),
            (
                UpdateSimRequest {
                    rate_plan: PatchField::Remove,
                    ..req()
                },
                None,
            ),
            (
                UpdateSimRequest {
                    mno_integration_id: PatchField::Remove,
                    ..req()
                },
                None,
            ),
            (
                UpdateSimRequest {
                    sim_metadata: PatchField::Remove,
                    ..req()
                },
                None,
            ),
            (
                UpdateSimRequest {
                    sim_metadata: PatchField::Set(Map::new()),
                    ..req()
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
        let ok = UpdateSimRequest {
            sim_metadata: PatchField::Set(keys_map(50, Value::Null)),
            ..req()
        };
        assert!(ok.validate().is_ok());
        let too_many = UpdateSimRequest {
            sim_metadata: PatchField::Set(keys_map(51, Value::Null)),
            ..req()
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
        let two_new = UpdateSimRequest {
            sim_metadata: PatchField::Set(
                json!({"new1": 1, "new2": 2}).as_object().unwrap().clone(),
            ),
            ..req()
        };
        assert!(two_new.validate().is_ok());
        let e = two_new.validate_against(&current).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid sim_metadata: must have at most 50 top-level keys after merging onto the current record (found 51 keys)"
        );
        // Adding one and removing one stays at 49.
        let swap = UpdateSimRequest {
            sim_metadata: PatchField::Set(
                json!({"new1": 1, "k0": null}).as_object().unwrap().clone(),
            ),
            ..req()
        };
        assert!(swap.validate_against(&current).is_ok());
        // Clearing everything is always fine.
        let clear = UpdateSimRequest {
            sim_metadata: PatchField::Remove,
            ..req()
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
        let patch = UpdateSimRequest {
            msisdn: PatchField::Remove,
            status: PatchField::Set("active".into()),
            sim_metadata: PatchField::Set(
                json!({"site": {"floor": null, "room": 4}, "tag": null})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..req()
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
            let patch = UpdateSimRequest {
                iccid: PatchField::Set(iccid),
                msisdn: PatchField::Set(msisdn),
                status: PatchField::Set(status),
                communication_plan: PatchField::Set(plan),
                sim_metadata: PatchField::Set(
                    meta.into_iter().map(|(k, v)| (k, v.map_or(Value::Null, Value::from))).collect(),
                ),
                ..req()
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
