//! The Super SIM lifecycle, its canonical view, and `impl SimProvider for Client`.
//!
//! Through [`SimProvider`], a canonical change maps onto a Super SIM update:
//!
//! | canonical | Twilio |
//! |---|---|
//! | `state: Ready` / `Active` / `Inactive` | `Status=ready` / `active` / `inactive` |
//! | `state: New`, `Retired`, `Deleted`, `Pending`, `Unknown` | refused: [`Error::Invalid`] for `state` |
//! | `display_name` | `UniqueName` |
//! | `known_state` | the transition is checked against [`LIFECYCLE`] in canonical terms first (an `Unknown` state is left to Twilio) |
//!
//! A `202 Accepted` (the SIM in `scheduled`) is [`Applied::Pending`]; a `200` is
//! [`Applied::Done`].
//!
//! A snapshot's aliases hold the SIM's unique name (Twilio accepts it in place of the SID).
//! [`SimProvider::list`] reads `GET /v1/Sims` a page at a time, at `PageSize=1000` unless the
//! options say otherwise.

use std::sync::LazyLock;

use futures_util::TryStreamExt as _;
use simcore::paging::PagePosition;
use simcore::validate::quote;
use simcore::{
    Applied, Error, Lifecycle, ListOptions, Result, SimChange, SimProvider, SimSnapshot, SimState,
    SnapshotPages, ValidationError,
};

use crate::client::Client;
pub use crate::models::{LIFECYCLE, TRANSITIONS};
use crate::models::{Sim, Status, UpdateOutcome};
use crate::requests::{ListSims, SettableStatus, SimRef, SimUpdateRequest, UniqueName};

/// [`LIFECYCLE`] in canonical states, mapped once (every change a plan validates judges by it).
pub static CANONICAL_LIFECYCLE: LazyLock<Lifecycle<SimState>> =
    LazyLock::new(|| LIFECYCLE.map(canonical));

/// Twilio's status in canonical terms.
pub fn canonical(status: &Status) -> SimState {
    match status {
        Status::New => SimState::New,
        Status::Ready => SimState::Ready,
        Status::Active => SimState::Active,
        Status::Inactive => SimState::Inactive,
        Status::Scheduled => SimState::Pending,
        Status::Unknown(s) => SimState::Unknown(s.clone()),
    }
}

/// The Twilio status a canonical target state is set with, or a refusal naming the three
/// settable ones.
pub fn settable(state: &SimState) -> Result<SettableStatus, ValidationError> {
    match state {
        SimState::Ready => Ok(SettableStatus::Ready),
        SimState::Active => Ok(SettableStatus::Active),
        SimState::Inactive => Ok(SettableStatus::Inactive),
        other => Err(ValidationError::new(
            "state",
            "a Super SIM can only be set to ready, active or inactive",
            quote(other.as_str()),
        )),
    }
}

/// A SIM in canonical terms, from Twilio; `id` is used when the answer carried no SID.
pub fn snapshot(sim: &Sim, id: &str) -> SimSnapshot {
    snapshot_from(crate::PROVIDER, sim, id)
}

/// A SIM in canonical terms, as `provider` (`"twilio"` or `"kore"`) returned it.
pub fn snapshot_from(provider: &'static str, sim: &Sim, id: &str) -> SimSnapshot {
    let fields = Sim {
        sid: sim.sid.clone(),
        unique_name: sim.unique_name.clone(),
        iccid: sim.iccid.clone(),
        status: sim.status.clone(),
        ..Sim::default()
    };
    into_snapshot(provider, fields, id)
}

/// [`snapshot_from`], taking the SIM: its texts move into the snapshot rather than being
/// copied (a listing makes 100,000 of them).
pub fn into_snapshot(provider: &'static str, sim: Sim, id: &str) -> SimSnapshot {
    let state = match &sim.status {
        Some(s) => canonical(s),
        None => SimState::Unknown(String::new()),
    };
    let id = sim.sid.unwrap_or_else(|| id.to_owned());
    let mut snap = SimSnapshot::new(provider, id, state);
    if let Some(iccid) = sim.iccid {
        snap = snap.with_iccid(iccid);
    }
    if let Some(status) = &sim.status {
        snap = snap.with_native_status(status.as_str());
    }
    if let Some(name) = sim.unique_name.filter(|n| !n.is_empty()) {
        // The unique name addresses the SIM in place of its SID.
        snap = snap.with_display_name(name.clone()).with_alias(name);
    }
    snap
}

#[simcore::async_trait]
impl SimProvider for Client {
    fn name(&self) -> &'static str {
        self.provider_name()
    }

    fn lifecycle(&self) -> Lifecycle<SimState> {
        CANONICAL_LIFECYCLE
            .clone()
            .with_provider(self.provider_name())
    }

    async fn fetch(&self, id: &str) -> Result<SimSnapshot> {
        let sim = self.fetch_sim(id).await?;
        Ok(snapshot_from(self.provider_name(), &sim, id))
    }

    fn validate(&self, id: &str, change: &SimChange) -> Result<()> {
        prepare(id, change).map(drop).map_err(|e| self.own(e))
    }

    /// Every SIM, a page of `GET /v1/Sims` at a time: `PageSize` is `options.page_size` or the
    /// largest Twilio serves (1000), and each page is read once, straight into typed SIMs, and
    /// of each SIM only what its snapshot holds. Each
    /// snapshot's aliases hold the SIM's unique name. A page size over 1000 is refused as
    /// [`Error::Invalid`] before anything is sent.
    fn list(&self, options: &ListOptions) -> SnapshotPages<'_> {
        let provider = self.provider_name();
        let size = options.page_size.unwrap_or(ListSims::MAX_PAGE_SIZE);
        let from = match &options.resume {
            None => None,
            Some(PagePosition::Token(url)) => Some(url.clone()),
            Some(other) => {
                let e = ValidationError::new(
                    "resume",
                    "Super SIM's list is paged by link: resume from a page's next_page_url",
                    other.to_string(),
                );
                return SnapshotPages::new(futures_util::stream::iter([Err(self.own(e.into()))]));
            }
        };
        let start = from.clone().map(PagePosition::Token);
        let pages = self
            .list_sims()
            .page_size(size)
            .snapshot_only()
            .pages_from(from);
        SnapshotPages::resumable(
            start,
            pages.map_ok(move |(page, next)| {
                let sims = page
                    .sims
                    .into_iter()
                    .map(|sim| into_snapshot(provider, sim, ""))
                    .collect();
                (sims, next.map(PagePosition::Token))
            }),
        )
    }

    async fn apply(&self, id: &str, change: &SimChange) -> Result<Applied> {
        let request = prepare(id, change).map_err(|e| self.own(e))?;
        if request.is_empty() {
            // Already as asked (validated by `prepare`): nothing to send.
            return Ok(Applied::Unchanged);
        }
        let p = self.provider_name();
        Ok(match self.send_update(&request).await? {
            UpdateOutcome::Done(sim) => Applied::Done(snapshot_from(p, &sim, id)),
            UpdateOutcome::Scheduled { sim, .. } => Applied::Pending(snapshot_from(p, &sim, id)),
            _ => Applied::Unchanged,
        })
    }
}

/// The update a canonical change asks for, checked without any I/O (shared by `validate` and
/// `apply`, so a dry run refuses exactly what a real run would).
fn prepare(id: &str, change: &SimChange) -> Result<SimUpdateRequest> {
    let mut request = SimUpdateRequest::new(SimRef::parse(id)?);
    if let Some(target) = &change.state {
        // Checked even when it is already there: a target Super SIM cannot be set is refused.
        let status = settable(target)?;
        if !change.state_already_there() {
            request.status = Some(status);
        }
    }
    if let Some(name) = &change.display_name {
        // Twilio's own rule for unique names (no length limit is documented).
        request.unique_name =
            Some(UniqueName::parse(name.as_str()).map_err(|e| e.for_field("display_name"))?);
    }
    if request.is_empty() && !change.is_noop() {
        return Err(ValidationError::empty_update().into());
    }
    if let (Some(known), Some(target)) = (&change.known_state, &change.state) {
        // As with the native builder, a state this crate does not know, and a SIM whose change
        // is still being applied (`scheduled`: Twilio forbids only a Fleet change then), are left
        // to Twilio.
        if !known.is_unknown() && *known != SimState::Pending {
            CANONICAL_LIFECYCLE
                .judge(known, target)
                .into_result()
                .map_err(Error::from)?;
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::assert_lifecycle_exact;

    #[test]
    fn every_documented_pair_and_nothing_else() {
        use Status::*;
        let documented = [
            (New, Ready),
            (New, Active),
            (New, Inactive),
            (Ready, Active),
            (Ready, Inactive),
            (Active, Inactive),
            (Inactive, Active),
        ];
        let mut all = Status::KNOWN.to_vec();
        all.push(Status::Unknown("suspended".into()));
        assert_lifecycle_exact(&LIFECYCLE, &all, &documented);
    }

    #[test]
    fn never_back_to_new() {
        for s in Status::KNOWN {
            assert!(!LIFECYCLE.allows(s, &Status::New), "{s} -> new");
        }
        let e = LIFECYCLE
            .check(&Status::Active, &Status::Ready)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "twilio: a SIM in state active cannot move to ready (allowed: inactive)"
        );
    }

    #[test]
    fn canonical_view_keeps_the_table() {
        let c = LIFECYCLE.map(canonical);
        assert!(c.allows(&SimState::New, &SimState::Ready));
        assert!(c.allows(&SimState::Inactive, &SimState::Active));
        assert!(!c.allows(&SimState::Active, &SimState::New));
        assert_eq!(canonical(&Status::Scheduled), SimState::Pending);
    }
}

#[cfg(test)]
mod mapping_tests {
    use super::*;

    #[test]
    fn canonical_targets() {
        assert_eq!(settable(&SimState::Ready).unwrap(), SettableStatus::Ready);
        assert_eq!(settable(&SimState::Active).unwrap(), SettableStatus::Active);
        assert_eq!(
            settable(&SimState::Inactive).unwrap(),
            SettableStatus::Inactive
        );
        for s in [
            SimState::New,
            SimState::Retired,
            SimState::Deleted,
            SimState::Pending,
            SimState::Unknown("x".into()),
        ] {
            let e = settable(&s).unwrap_err();
            assert_eq!(e.field(), "state", "{s}");
        }
    }

    #[test]
    fn snapshots() {
        let sim: Sim = serde_json::from_value(serde_json::json!({
            "sid": "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "status": "scheduled",
            "iccid": "89883070000123456789",
            "unique_name": ""
        }))
        .unwrap();
        let snap = snapshot(&sim, "pump 7");
        assert_eq!(snap.id, "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(snap.state, SimState::Pending);
        assert_eq!(snap.native_status.as_deref(), Some("scheduled"));
        assert_eq!(snap.iccid.as_deref(), Some("89883070000123456789"));
        assert_eq!(snap.display_name, None);
        assert!(snap.aliases.is_empty());
        let named: Sim = serde_json::from_value(serde_json::json!({
            "sid": "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "status": "active", "unique_name": "pump 7"
        }))
        .unwrap();
        let snap = snapshot_from("kore", &named, "pump 7");
        assert_eq!(snap.provider, "kore");
        assert_eq!(snap.aliases, ["pump 7"]);
        assert!(snap.answers_to("pump 7") && snap.answers_to("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        let snap = snapshot(&Sim::default(), "pump 7");
        assert_eq!(snap.id, "pump 7");
        assert_eq!(snap.state, SimState::Unknown(String::new()));
    }
}
