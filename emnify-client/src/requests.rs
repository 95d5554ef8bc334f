//! The SIM update as plain data ([`UpdateSimRequest`]) and its fluent builder ([`UpdateSimBuilder`]);
//! the list builder ([`ListSims`]).
//!
//! Every field of `PATCH /api/v1/sim/{sim_id}` is optional, and the organisation fields have
//! three states, which [`OrgChange`] keeps apart:
//!
//! | state | Rust | JSON |
//! |---|---|---|
//! | leave alone | [`OrgChange::Keep`] (the default) | key absent |
//! | set | [`OrgChange::Set`]`(n)` | `{"id": n}` |
//! | clear | [`OrgChange::Clear`] | `{"id": null}` |
//!
//! `issuer_org` can be set but never cleared, so it is an `Option<u64>` (absent or set): a cleared
//! issuer cannot be written down.
//!
//! ```
//! use emnify_client::{OrgChange, SettableStatus, UpdateSimRequest};
//!
//! let mut update = UpdateSimRequest::new(250);
//! update.status = Some(SettableStatus::Suspended);
//! update.reseller_org = OrgChange::Clear;
//! update.customer_org = OrgChange::Set(13886);
//! assert_eq!(
//!     serde_json::to_value(&update)?,
//!     serde_json::json!({"reseller_org": {"id": null}, "customer_org": {"id": 13886}, "status": {"id": 2}})
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{self, SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use simcore::paging::{Page, PagePosition, PageSource};
use simcore::state::TransitionError;
use simcore::{CallOptions, Result, Updated, ValidationError};

use crate::client::Client;
use crate::models::LIFECYCLE;
use crate::models::{Sim, SimStatus};

/// A status an update may set. Closed: Issued is never a target, and Deleted is reached with
/// [`Client::delete_sim`], never with an update.
///
/// Converting from a [`SimStatus`] refuses the others with a typed error:
/// ```
/// use emnify_client::{SettableStatus, SimStatus};
/// assert_eq!(SettableStatus::try_from(SimStatus::Suspended), Ok(SettableStatus::Suspended));
/// let err = SettableStatus::try_from(SimStatus::Deleted).unwrap_err();
/// assert_eq!(err.field(), "status");
/// assert!(err.rule().contains("delete_sim"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettableStatus {
    /// 1: Activated (emnify charges for activated SIMs).
    Activated,
    /// 2: Suspended.
    Suspended,
    /// 4: Factory Test.
    FactoryTest,
}

impl SettableStatus {
    /// Every settable status.
    pub const ALL: [SettableStatus; 3] = [
        SettableStatus::Activated,
        SettableStatus::Suspended,
        SettableStatus::FactoryTest,
    ];

    /// emnify's numeric id.
    pub fn id(self) -> i64 {
        self.status().id()
    }

    /// The same status as a [`SimStatus`].
    pub fn status(self) -> SimStatus {
        match self {
            SettableStatus::Activated => SimStatus::Activated,
            SettableStatus::Suspended => SimStatus::Suspended,
            SettableStatus::FactoryTest => SimStatus::FactoryTest,
        }
    }
}

impl fmt::Display for SettableStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.status(), f)
    }
}

impl From<SettableStatus> for SimStatus {
    fn from(s: SettableStatus) -> Self {
        s.status()
    }
}

/// The rule given when Deleted is asked of an update.
pub(crate) const DELETED_RULE: &str =
    "cannot be set to Deleted by an update; delete the SIM with Client::delete_sim";
/// The rule given when Issued is asked of an update.
pub(crate) const ISSUED_RULE: &str = "cannot be set back to Issued";

impl TryFrom<SimStatus> for SettableStatus {
    type Error = ValidationError;

    fn try_from(s: SimStatus) -> Result<Self, ValidationError> {
        match s {
            SimStatus::Activated => Ok(SettableStatus::Activated),
            SimStatus::Suspended => Ok(SettableStatus::Suspended),
            SimStatus::FactoryTest => Ok(SettableStatus::FactoryTest),
            SimStatus::Deleted => Err(ValidationError::new("status", DELETED_RULE, "Deleted")),
            SimStatus::Issued => Err(ValidationError::new("status", ISSUED_RULE, "Issued")),
            SimStatus::Unknown(id) => Err(ValidationError::new(
                "status",
                "must be Activated (1), Suspended (2) or Factory Test (4)",
                format!("id {id}"),
            )),
        }
    }
}

impl Serialize for SettableStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        IdRef(Some(self.id() as u64)).serialize(s)
    }
}

impl<'de> Deserialize<'de> for SettableStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let status = SimStatus::deserialize(d)?;
        SettableStatus::try_from(status).map_err(de::Error::custom)
    }
}

/// One state of an organisation field in an update: leave alone, set, or clear.
///
/// `From<u64>` sets: `builder.customer_org(13886)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OrgChange {
    /// Leave the field as it is (the key is not sent).
    #[default]
    Keep,
    /// Assign this organisation (`{"id": n}`).
    Set(u64),
    /// Remove the organisation (`{"id": null}`).
    ///
    /// emnify documents both `{"id": null}` and `{}` for clearing. This SDK sends
    /// `{"id": null}`: it says "no organisation" in so many words, where an empty object could
    /// be read by a merging server as "nothing to change". See [`CLEAR_ORG_JSON`].
    Clear,
}

/// The JSON sent to clear an organisation field. Both this and `{}` are documented; the explicit
/// `null` is kept here, in one place, should emnify ever prefer the other.
pub const CLEAR_ORG_JSON: &str = r#"{"id":null}"#;

impl OrgChange {
    /// Whether this is [`OrgChange::Keep`].
    pub fn is_keep(&self) -> bool {
        matches!(self, OrgChange::Keep)
    }
}

impl From<u64> for OrgChange {
    fn from(id: u64) -> Self {
        OrgChange::Set(id)
    }
}

/// `{"id": n}`, or `{"id": null}` for `None`.
struct IdRef(Option<u64>);

impl Serialize for IdRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("id", &self.0)?;
        m.end()
    }
}

impl Serialize for OrgChange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OrgChange::Set(id) => IdRef(Some(*id)).serialize(s),
            OrgChange::Clear => IdRef(None).serialize(s),
            OrgChange::Keep => Err(ser::Error::custom(
                "OrgChange::Keep is never sent: skip the key",
            )),
        }
    }
}

/// What a present organisation key says: `{"id": n}` sets; `{}`, `{"id": null}` and `null`
/// clear.
fn read_org<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        id: Option<u64>,
    }
    Ok(Option::<Raw>::deserialize(d)?.and_then(|r| r.id))
}

impl<'de> Deserialize<'de> for OrgChange {
    /// Reads a present key (an absent key is [`OrgChange::Keep`] through `#[serde(default)]`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match read_org(d)? {
            Some(id) => OrgChange::Set(id),
            None => OrgChange::Clear,
        })
    }
}

mod issuer {
    use super::*;

    pub(super) fn serialize<S: Serializer>(id: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match id {
            Some(id) => IdRef(Some(*id)).serialize(s),
            None => Err(ser::Error::custom("issuer_org is never cleared")),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        match read_org(d)? {
            Some(id) => Ok(Some(id)),
            None => Err(de::Error::custom(
                "issuer_org cannot be cleared, only changed to another organisation",
            )),
        }
    }
}

/// `PATCH /api/v1/sim/{sim_id}` as plain data: the SIM it is for, and the body's fields. Every
/// field is optional, at least one must be set ([`UpdateSimRequest::validate`]).
///
/// It serializes to the body alone: the SIM id is in the path, never in the body. Deserializing
/// reads a body back (absent key = keep), refusing what an update may not say (a cleared
/// issuer, a status other than 1, 2 or 4); a body names no SIM, so a request read from one has no
/// `sim_id` until it is given one (and [`validate`](UpdateSimRequest::validate) refuses it
/// until then). Its
/// [`options`](UpdateSimRequest::options) are never serialized either.
///
/// Build it with [`Client::update_sim`] and [`UpdateSimBuilder::into_request`] (validated), or
/// directly; send it with [`Client::send`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateSimRequest {
    /// The SIM to update (emnify's numeric id): the request's path, never in its body.
    /// `None` for a request read from a body, until it is given its SIM.
    #[serde(skip)]
    pub sim_id: Option<u64>,
    /// Move the SIM to another issuer organisation (a direct child of type Mobile Network
    /// Operator or Service Provider). `None` leaves it alone; it cannot be cleared.
    #[serde(default, with = "issuer", skip_serializing_if = "Option::is_none")]
    pub issuer_org: Option<u64>,
    /// Set, clear or keep the reseller organisation.
    #[serde(default, skip_serializing_if = "OrgChange::is_keep")]
    pub reseller_org: OrgChange,
    /// Set, clear or keep the customer organisation.
    #[serde(default, skip_serializing_if = "OrgChange::is_keep")]
    pub customer_org: OrgChange,
    /// The new status, sent as `{"id": n}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SettableStatus>,
    /// This call's deadline and attempts cap, honoured by [`Client::send`]; never in the body.
    /// [`UpdateSimBuilder::into_request`] sets the builder's.
    #[serde(skip)]
    pub options: CallOptions,
}

/// Hashes what the request changes and the SIM it is for; its options are left out (equal
/// requests still hash alike).
impl std::hash::Hash for UpdateSimRequest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.sim_id.hash(state);
        self.issuer_org.hash(state);
        self.reseller_org.hash(state);
        self.customer_org.hash(state);
        self.status.hash(state);
    }
}

impl UpdateSimRequest {
    /// An update of SIM `sim_id` that changes nothing yet.
    pub fn new(sim_id: u64) -> Self {
        Self {
            sim_id: Some(sim_id),
            issuer_org: None,
            reseller_org: OrgChange::Keep,
            customer_org: OrgChange::Keep,
            status: None,
            options: CallOptions::new(),
        }
    }

    /// Sets this call's deadline and attempts cap ([`CallOptions`]), replacing any set before;
    /// [`Client::send`] honours them.
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.issuer_org.is_none()
            && self.reseller_org.is_keep()
            && self.customer_org.is_keep()
            && self.status.is_none()
    }

    /// The SIM the request is for; refused when it names none (a request read from a body,
    /// never given one).
    pub fn sim(&self) -> Result<u64, ValidationError> {
        self.sim_id.ok_or_else(|| {
            ValidationError::new(
                "sim_id",
                "must name the SIM (a request read from a body names none until given one)",
                "none",
            )
        })
    }

    /// Checks what can be checked without knowing the SIM: a SIM is named (a request read from
    /// a body names none until it is given one), and at least one field is set.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.sim()?;
        if self.is_empty() {
            return Err(ValidationError::empty_update());
        }
        Ok(())
    }

    /// Checks the status change against the emnify lifecycle, given the SIM's current status.
    ///
    /// Passes when the update sets no status, and when the current status is one this SDK does
    /// not know (emnify decides then).
    ///
    /// The status the SIM already has is not a refusal: see
    /// [`UpdateSimRequest::already_there`].
    pub fn check_transition(&self, current: &SimStatus) -> Result<(), TransitionError> {
        match self.status {
            Some(target) if !current.is_unknown() => LIFECYCLE
                .judge(current, &target.status())
                .into_result()
                .map(drop)
                .map_err(|mut e| {
                    if *current == SimStatus::Deleted {
                        e.hint = Some("a deleted SIM cannot be changed".to_owned());
                    }
                    e
                }),
            _ => Ok(()),
        }
    }

    /// Whether the status it sets is the one the SIM already has (that part needs no request).
    pub fn already_there(&self, current: &SimStatus) -> bool {
        self.status.is_some_and(|t| t.status() == *current)
    }
}

/// What the builder knows about the SIM's current status.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Current {
    /// Nothing: the transition is left to emnify.
    Unchecked,
    /// Given by the caller.
    Known(SimStatus),
    /// Fetch the SIM before sending, and check against its status.
    Fetch,
}

/// Builds and sends a SIM update: `client.update_sim(id).status(..).customer_org(..).send()`.
///
/// Owns its data and a cheap clone of the client. `send()` validates everything before any
/// request: an empty update, an option no call can honour (`.attempts(0)`), and (when the
/// current status is known) a status change the emnify lifecycle forbids, come back as
/// [`Error::Invalid`](simcore::Error::Invalid) or
/// [`Error::Transition`](simcore::Error::Transition) with nothing sent.
///
/// ```
/// use emnify_client::{Client, SettableStatus, SimStatus};
/// let client = Client::builder().application_token("t").build()?;
/// let request = client
///     .update_sim(250)
///     .known_status(SimStatus::Activated)
///     .status(SettableStatus::Suspended)
///     .into_request()?; // validated; nothing sent
/// assert_eq!((request.sim_id, request.status), (Some(250), Some(SettableStatus::Suspended)));
/// // Activated -> Factory Test is not in the emnify lifecycle.
/// let refused = client
///     .update_sim(250)
///     .known_status(SimStatus::Activated)
///     .status(SettableStatus::FactoryTest)
///     .into_request();
/// assert!(matches!(refused, Err(simcore::Error::Transition(_))));
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "an update does nothing until `send()` is awaited"]
pub struct UpdateSimBuilder {
    client: Client,
    request: UpdateSimRequest,
    current: Current,
    options: CallOptions,
}

impl UpdateSimBuilder {
    pub(crate) fn new(client: Client, sim_id: u64) -> Self {
        Self {
            client,
            request: UpdateSimRequest::new(sim_id),
            current: Current::Unchecked,
            options: CallOptions::new(),
        }
    }

    simcore::call_options_methods!();

    /// Sets the status (Activated, Suspended or Factory Test).
    pub fn status(mut self, status: impl Into<SettableStatus>) -> Self {
        self.request.status = Some(status.into());
        self
    }

    /// Moves the SIM to another issuer organisation. The issuer cannot be cleared.
    pub fn issuer_org(mut self, org_id: u64) -> Self {
        self.request.issuer_org = Some(org_id);
        self
    }

    /// Sets (`13886` or [`OrgChange::Set`]), clears ([`OrgChange::Clear`]) or keeps the reseller
    /// organisation.
    pub fn reseller_org(mut self, change: impl Into<OrgChange>) -> Self {
        self.request.reseller_org = change.into();
        self
    }

    /// Sets (`13886` or [`OrgChange::Set`]), clears ([`OrgChange::Clear`]) or keeps the customer
    /// organisation.
    pub fn customer_org(mut self, change: impl Into<OrgChange>) -> Self {
        self.request.customer_org = change.into();
        self
    }

    /// Replaces every field of the request with those of `request` (plain data built
    /// elsewhere). The SIM stays the one given to [`Client::update_sim`].
    pub fn request_data(mut self, request: UpdateSimRequest) -> Self {
        self.request = UpdateSimRequest {
            sim_id: self.request.sim_id,
            ..request
        };
        self
    }

    /// Declares the SIM's current status: a status change is then checked against the emnify
    /// lifecycle before sending.
    pub fn known_status(mut self, status: impl Into<SimStatus>) -> Self {
        self.current = Current::Known(status.into());
        self
    }

    /// Declares the SIM as last read (its status, if it has one, is checked as with
    /// [`known_status`](Self::known_status)). A SIM read without a status declares nothing and
    /// leaves an earlier setting alone ([`fetch_current`](Self::fetch_current) included).
    pub fn current(mut self, sim: &Sim) -> Self {
        if let Some(s) = &sim.status {
            self.current = Current::Known(s.clone());
        }
        self
    }

    /// Reads the SIM first (one `GET`, within this call's deadline: the read and the update
    /// share it, and each has this call's attempts cap) and checks a status change
    /// against its status before sending. Off by default: it costs a request. An update that
    /// sets no status needs no check, and reads nothing.
    pub fn fetch_current(mut self) -> Self {
        self.current = Current::Fetch;
        self
    }

    /// The SIM id the update is for.
    pub fn sim_id(&self) -> u64 {
        // Always set: `Client::update_sim` names it, and `request_data` keeps it.
        self.request.sim_id.unwrap_or_default()
    }

    /// The request as plain data, as set so far (not validated: see
    /// [`into_request`](Self::into_request)).
    pub fn request(&self) -> &UpdateSimRequest {
        &self.request
    }

    /// Everything checked that can be checked without sending: the call's options, an empty
    /// update, and a status change against a declared status.
    fn check(&self) -> Result<()> {
        self.options.check()?;
        self.request.validate()?;
        if let Current::Known(current) = &self.current {
            self.request.check_transition(current)?;
        }
        Ok(())
    }

    /// Validates the update and returns it as plain data, for [`Client::send`]; nothing is
    /// sent. Refused as [`Error::Invalid`](simcore::Error::Invalid): an empty update, an option
    /// no call can honour; as [`Error::Transition`](simcore::Error::Transition): a status change
    /// the lifecycle forbids from the status declared with [`known_status`](Self::known_status)
    /// or [`current`](Self::current) ([`fetch_current`](Self::fetch_current) is a read, so it
    /// is left to [`send`](Self::send)).
    ///
    /// The request carries this call's options, which [`Client::send`] honours.
    pub fn into_request(self) -> Result<UpdateSimRequest> {
        self.check()?;
        Ok(self.request.options(self.options))
    }

    /// Validates, checks the transition when the current status is known (reading it first if
    /// asked), then sends the update; emnify answers `204 No Content`, so a sent update is
    /// [`Updated::Done`]`(None)`: read the SIM to see it. A status the SIM is known to have
    /// already is left out of the request (emnify does not document whether it accepts one),
    /// and an update left with nothing to send is not sent: [`Updated::Unchanged`].
    ///
    /// The call's deadline counts from here and spans every request it sends: the read of
    /// [`fetch_current`](Self::fetch_current) and the update together.
    pub async fn send(self) -> Result<Updated<Sim>> {
        self.check()?;
        let options = self.options.started();
        let Self {
            client,
            request,
            current,
            ..
        } = self;
        let mut request = request.options(options);
        if request.status.is_some() {
            let current = match current {
                Current::Unchecked => None,
                Current::Known(s) => Some(s),
                Current::Fetch => {
                    let sim_id = request.sim_id.unwrap_or_default();
                    client.get_sim_with(sim_id, options).await?.status
                }
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
        }
        client.patch_sim(&request, options).await?;
        Ok(Updated::Done(None))
    }
}

/// The list builder returned by [`Client::list_sims`] (`GET /api/v1/sim`): a page size, an
/// optional status filter, then one page, every page, or every SIM.
///
/// Pages count from 1, as emnify's `X-Current-Page` does; a listing resumes at a page with
/// [`resume_from`](Self::resume_from)`(PagePosition::Number(n))`. The listing goes on while the
/// paging headers say more pages follow (`X-Total-Pages`, else `X-Total-Count`, else whether
/// the page came back full: the page counted is the one asked for, so a server that names
/// another page cannot make a listing go back), and keeps under emnify's limit for the list
/// path (10 requests a second, bursts of 5) by itself: see
/// [`ClientBuilder::list_pace`](crate::ClientBuilder::list_pace). Each page's
/// [`total`](simcore::paging::Page::total) is `X-Total-Count`.
///
/// The call's options ([`deadline`](Self::deadline), [`attempts`](Self::attempts)) apply to
/// each page request on its own: a listing of many pages is not held to one deadline.
///
/// ```
/// use emnify_client::{Client, SimStatus};
/// let client = Client::builder().application_token("t").build()?;
/// let list = client.list_sims().page_size(2500).status(SimStatus::Activated);
/// assert_eq!(
///     list.query_pairs(3)?,
///     [("page", "3".to_owned()), ("per_page", "2500".to_owned()), ("q", "status:1".to_owned())]
/// );
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a list does nothing until it is read"]
pub struct ListSims {
    client: Client,
    page_size: Option<u32>,
    status: Option<SimStatus>,
    /// Read of each SIM only what a snapshot holds (for `SimProvider::list`).
    snapshot_only: bool,
    /// The page to start at (`None`: the first).
    start: Option<PagePosition>,
    options: CallOptions,
}

impl ListSims {
    /// The largest page emnify serves (`per_page`).
    pub const MAX_PAGE_SIZE: u32 = 2500;
    /// The page size emnify applies when none is sent.
    pub const DEFAULT_PAGE_SIZE: u32 = 2000;

    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            page_size: None,
            status: None,
            snapshot_only: false,
            start: None,
            options: CallOptions::new(),
        }
    }

    simcore::call_options_methods!();
    simcore::list_methods!(Sim);

    /// Reads of each SIM only its id, ICCIDs and status, skipping the rest unread: the cheap
    /// read a fleet-wide snapshot needs.
    pub(crate) fn snapshot_only(mut self) -> Self {
        self.snapshot_only = true;
        self
    }

    /// SIMs per page (`per_page`, 1 to 2500; emnify's default is 2000).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Only SIMs in this status (`q=status:<id>`).
    pub fn status(mut self, status: impl Into<SimStatus>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// The page size the pages will have: the one set, or emnify's default.
    pub fn effective_page_size(&self) -> u32 {
        self.page_size.unwrap_or(Self::DEFAULT_PAGE_SIZE)
    }

    /// The validated query pairs of page `page` (from 1), in this order: `page`, `per_page`
    /// (when set), `q` (when filtered). Nothing is sent.
    pub fn query_pairs(&self, page: u32) -> Result<Vec<(&'static str, String)>> {
        if page == 0 {
            return Err(ValidationError::new("page", "pages count from 1", "0").into());
        }
        let mut pairs = vec![("page", page.to_string())];
        if let Some(n) = self.page_size {
            if !(1..=Self::MAX_PAGE_SIZE).contains(&n) {
                return Err(
                    ValidationError::new("page_size", "must be 1 to 2500", n.to_string()).into(),
                );
            }
            pairs.push(("per_page", n.to_string()));
        }
        if let Some(status) = &self.status {
            pairs.push(("q", format!("status:{}", status.id())));
        }
        Ok(pairs)
    }
}

impl PageSource for ListSims {
    type Item = Sim;

    /// Reads page `at` (a page number; `None`: page 1), at the list's pace, with this list's
    /// options. A bad page number, page size or option is refused before anything is sent.
    async fn read_page(&self, at: Option<&PagePosition>) -> Result<Page<Sim>> {
        let page = at.map_or(Ok(1), |p| p.number("page"))?;
        let pairs = self.query_pairs(page)?;
        self.options.check()?;
        self.client
            .sim_page(
                &pairs,
                page,
                self.effective_page_size(),
                self.snapshot_only,
                self.options,
            )
            .await
    }

    fn key(sim: &Sim) -> String {
        sim.id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(f: impl FnOnce(&mut UpdateSimRequest)) -> UpdateSimRequest {
        let mut u = UpdateSimRequest::new(250);
        f(&mut u);
        u
    }

    #[test]
    fn every_tri_state_of_every_org_field() {
        let cases = [
            (
                with(|u| u.issuer_org = Some(5)),
                json!({"issuer_org": {"id": 5}}),
            ),
            (
                with(|u| u.reseller_org = OrgChange::Set(6)),
                json!({"reseller_org": {"id": 6}}),
            ),
            (
                with(|u| u.reseller_org = OrgChange::Clear),
                json!({"reseller_org": {"id": null}}),
            ),
            (
                with(|u| u.customer_org = OrgChange::Set(7)),
                json!({"customer_org": {"id": 7}}),
            ),
            (
                with(|u| u.customer_org = OrgChange::Clear),
                json!({"customer_org": {"id": null}}),
            ),
            (
                with(|u| u.status = Some(SettableStatus::Activated)),
                json!({"status": {"id": 1}}),
            ),
            (
                with(|u| u.status = Some(SettableStatus::Suspended)),
                json!({"status": {"id": 2}}),
            ),
            (
                with(|u| u.status = Some(SettableStatus::FactoryTest)),
                json!({"status": {"id": 4}}),
            ),
            (UpdateSimRequest::new(250), json!({})),
        ];
        for (update, expected) in cases {
            assert_eq!(serde_json::to_value(&update).unwrap(), expected);
            let mut back: UpdateSimRequest = serde_json::from_value(expected.clone()).unwrap();
            // A body names no SIM.
            assert_eq!(back.sim_id, None);
            back.sim_id = Some(250);
            assert_eq!(back, update, "{expected}");
        }
        assert_eq!(
            serde_json::to_string(&OrgChange::Clear).unwrap(),
            CLEAR_ORG_JSON
        );
    }

    #[test]
    fn reading_the_other_documented_forms() {
        let u: UpdateSimRequest =
            serde_json::from_value(json!({"reseller_org": {}, "customer_org": null})).unwrap();
        assert_eq!(u.reseller_org, OrgChange::Clear);
        assert_eq!(u.customer_org, OrgChange::Clear);
        assert_eq!(u.issuer_org, None);
        let u: UpdateSimRequest = serde_json::from_value(
            json!({"status": {"id": 2, "description": "Suspended"}, "unknown": 1}),
        )
        .unwrap();
        assert_eq!(u.status, Some(SettableStatus::Suspended));
        for refused in [
            json!({"issuer_org": {}}),
            json!({"issuer_org": {"id": null}}),
            json!({"status": {"id": 3}}),
            json!({"status": {"id": 0}}),
            json!({"status": {"id": 9}}),
        ] {
            assert!(
                serde_json::from_value::<UpdateSimRequest>(refused.clone()).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn keep_is_never_serialized_by_itself() {
        assert!(serde_json::to_value(OrgChange::Keep).is_err());
    }

    #[test]
    fn empty_update_is_refused() {
        let e = UpdateSimRequest::new(250).validate().unwrap_err();
        assert_eq!(e, ValidationError::empty_update());
        assert!(
            with(|u| u.customer_org = OrgChange::Clear)
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn settable_status_conversions() {
        for s in SettableStatus::ALL {
            assert_eq!(SettableStatus::try_from(s.status()), Ok(s));
            assert_eq!(SimStatus::from(s).id(), s.id());
        }
        let e = SettableStatus::try_from(SimStatus::Deleted).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid status: cannot be set to Deleted by an update; delete the SIM with Client::delete_sim (found Deleted)"
        );
        let e = SettableStatus::try_from(SimStatus::Issued).unwrap_err();
        assert_eq!(e.rule(), ISSUED_RULE);
        let e = SettableStatus::try_from(SimStatus::Unknown(8)).unwrap_err();
        assert_eq!(e.found(), "id 8");
        assert_eq!(SettableStatus::FactoryTest.to_string(), "Factory Test");
    }

    #[test]
    fn transition_checks() {
        use SimStatus::*;
        let to = |s: SettableStatus| with(|u| u.status = Some(s));
        // Every (current, target) pair over the known statuses and the three targets.
        for from in SimStatus::KNOWN {
            for target in SettableStatus::ALL {
                // A move to the status the SIM has is not refused: nothing needs sending.
                let allowed = LIFECYCLE.allows(from, &target.status()) || *from == target.status();
                let got = to(target).check_transition(from);
                assert_eq!(got.is_ok(), allowed, "{from} -> {target}");
                if let Err(e) = got {
                    assert_eq!(e.from, from.to_string());
                    assert_eq!(e.to, target.to_string());
                    assert_eq!(e.hint.is_some(), *from == Deleted);
                }
            }
        }
        // An unknown current status, or no status change, is left to emnify.
        assert!(
            to(SettableStatus::Activated)
                .check_transition(&Unknown(7))
                .is_ok()
        );
        assert!(
            with(|u| u.customer_org = OrgChange::Set(1))
                .check_transition(&Deleted)
                .is_ok()
        );
        let e = to(SettableStatus::FactoryTest)
            .check_transition(&Activated)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "emnify: a SIM in state Activated cannot move to Factory Test (allowed: Suspended)"
        );
    }
}
