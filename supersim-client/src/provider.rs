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
//! The provider is `"supersim"` ([`crate::PROVIDER`]) whatever the dialect: [`SimProvider::name`]
//! and every snapshot say so. Errors name the dialect that answered (`"twilio"` or `"kore"`,
//! [`Client::dialect`]), and so do transition refusals.
//!
//! A snapshot's aliases hold the SIM's unique name (Twilio accepts it in place of the SID).
//! [`SimProvider::list`] reads `GET /v1/Sims` a page at a time, at `PageSize=1000` unless the
//! options say otherwise.

use std::sync::LazyLock;

use futures_util::TryStreamExt as _;
use simcore::validate::quote;
use simcore::{
    Applied, CallOptions, Error, Lifecycle, ListOptions, Result, SimChange, SimProvider,
    SimSnapshot, SimState, SnapshotPages, ValidationError,
};

use crate::client::Client;
pub use crate::models::{LIFECYCLE, TRANSITIONS};
use crate::models::{Sim, Status};
use crate::requests::{ListSims, SettableStatus, SimRef, UniqueName, UpdateSimRequest};

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

/// A SIM in canonical terms, stamped `"supersim"` ([`crate::PROVIDER`]) whichever dialect
/// returned it; `id` is used when the answer carried no SID.
pub fn snapshot(sim: &Sim, id: &str) -> SimSnapshot {
    let fields = Sim {
        sid: sim.sid.clone(),
        unique_name: sim.unique_name.clone(),
        iccid: sim.iccid.clone(),
        status: sim.status.clone(),
        ..Sim::default()
    };
    into_snapshot(fields, id)
}

/// [`snapshot`], taking the SIM: its texts move into the snapshot rather than being copied (a
/// listing makes 100,000 of them).
pub fn into_snapshot(sim: Sim, id: &str) -> SimSnapshot {
    let state = match &sim.status {
        Some(s) => canonical(s),
        None => SimState::Unknown(String::new()),
    };
    let id = sim.sid.unwrap_or_else(|| id.to_owned());
    let mut snap = SimSnapshot::new(crate::PROVIDER, id, state);
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
    /// `"supersim"`, whatever the dialect ([`Client::dialect`] says which).
    fn name(&self) -> &'static str {
        crate::PROVIDER
    }

    /// The Super SIM lifecycle in canonical states; its refusals name the dialect.
    fn lifecycle(&self) -> Lifecycle<SimState> {
        CANONICAL_LIFECYCLE
            .clone()
            .with_provider(self.dialect().as_str())
    }

    async fn fetch_with(&self, id: &str, options: &CallOptions) -> Result<SimSnapshot> {
        let sim = self.get_sim_with(id, options.started()).await?;
        Ok(snapshot(&sim, id))
    }

    fn validate(&self, id: &str, change: &SimChange) -> Result<()> {
        prepare(id, change).map(drop).map_err(|e| self.own(e))
    }

    /// Every SIM, a page of `GET /v1/Sims` at a time: `PageSize` is `options.page_size` or the
    /// largest Twilio serves (1000), and each page is read once, straight into typed SIMs, and
    /// of each SIM only what its snapshot holds. Each snapshot's aliases hold the SIM's unique
    /// name. A page size over 1000 is refused as [`Error::Invalid`] before anything is sent,
    /// and so is a position to resume from that is not a page's next (a page number).
    fn list(&self, options: &ListOptions) -> SnapshotPages<'_> {
        let size = options.page_size.unwrap_or(ListSims::MAX_PAGE_SIZE);
        let start = options.resume.clone();
        let mut list = self
            .list_sims()
            .page_size(size)
            .snapshot_only()
            .options(options.call);
        if let Some(position) = &start {
            list = list.resume_from(position.clone());
        }
        SnapshotPages::resumable(
            start,
            list.pages().map_ok(|page| {
                let sims = page
                    .items
                    .into_iter()
                    .map(|sim| into_snapshot(sim, ""))
                    .collect();
                (sims, page.next)
            }),
        )
    }

    async fn apply_with(
        &self,
        id: &str,
        change: &SimChange,
        options: &CallOptions,
    ) -> Result<Applied> {
        // Options no call can honour are refused first, even for a change with nothing to send.
        options.check()?;
        let options = options.started();
        let request = prepare(id, change).map_err(|e| self.own(e))?;
        if request.is_empty() {
            // Already as asked (validated by `prepare`): nothing to send.
            return Ok(Applied::Unchanged);
        }
        let updated = self.send_with(&request, options).await?;
        Ok(updated.map(|sim| snapshot(&sim, id)))
    }
}

/// The update a canonical change asks for, checked without any I/O (shared by `validate` and
/// `apply`, so a dry run refuses exactly what a real run would).
fn prepare(id: &str, change: &SimChange) -> Result<UpdateSimRequest> {
    let mut request = UpdateSimRequest::new(SimRef::parse(id)?);
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
        let snap = snapshot(&named, "pump 7");
        assert_eq!(snap.provider, "supersim");
        assert_eq!(snap.aliases, ["pump 7"]);
        assert!(snap.answers_to("pump 7") && snap.answers_to("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        let snap = snapshot(&Sim::default(), "pump 7");
        assert_eq!(snap.id, "pump 7");
        assert_eq!(snap.state, SimState::Unknown(String::new()));
    }
}
