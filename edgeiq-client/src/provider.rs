//! The EdgeIQ SIM status (an open carrier string), its canonical view, and
//! [`SimProvider`] for [`Client`].
//!
//! Through the common interface:
//! - `fetch` reads the record and maps its status with [`canonical`]; the carrier's own word is
//!   kept as the snapshot's `native_status`.
//! - `apply` can set three canonical states, each to one carrier word ([`target_status`]):
//!   `Active` -> `active`, `Inactive` -> `inactive`, `Retired` -> `retired`. Any other target is
//!   refused before sending. Other carrier words (`suspended`, `deactivated`, …) are set with
//!   [`Client::update_sim`].
//! - A display name is refused before sending: EdgeIQ SIM records have no display name field.
//! - The answer is the stored record: `apply` returns [`Applied::Done`] with its snapshot, or
//!   [`Applied::Unchanged`] with nothing sent when the known state is the target already.
//! - `list` reads `GET /sims` a page at a time (see [`list_keys`]); records are addressed by
//!   their system id only, so snapshots carry no aliases.

use futures_util::TryStreamExt as _;
use simcore::paging::PagePosition;
use simcore::validate::quote;
use simcore::{
    Applied, CallOptions, Lifecycle, ListOptions, Result, SimChange, SimProvider, SimSnapshot,
    SimState, SnapshotPages, ValidationError,
};

use crate::client::Client;
pub use crate::models::{LIFECYCLE, canonical};
use crate::models::{SimId, SimRecord, list_keys};

/// The carrier word `apply` sends for a canonical target; other targets are refused.
pub fn target_status(state: &SimState) -> Result<&'static str, ValidationError> {
    match state {
        SimState::Active => Ok("active"),
        SimState::Inactive => Ok("inactive"),
        SimState::Retired => Ok("retired"),
        other => Err(ValidationError::new(
            "state",
            "edgeiq can set only active, inactive or retired through SimProvider",
            quote(other.as_str()),
        )),
    }
}

/// The snapshot of a record; `id` is used when the record does not carry its own.
pub fn snapshot(record: &SimRecord, id: &str) -> SimSnapshot {
    let fields = SimRecord {
        id: record.id.clone(),
        iccid: record.iccid.clone(),
        status: record.status.clone(),
        ..SimRecord::default()
    };
    into_snapshot(fields, id)
}

/// [`snapshot`], taking the record: its texts move into the snapshot rather than being copied
/// (a listing makes 100,000 of them).
pub fn into_snapshot(record: SimRecord, id: &str) -> SimSnapshot {
    let state = record.state();
    let id = record.id.unwrap_or_else(|| id.to_owned());
    let mut snap = SimSnapshot::new(crate::PROVIDER, id, state);
    if let Some(iccid) = record.iccid {
        snap = snap.with_iccid(iccid);
    }
    if let Some(status) = record.status {
        snap = snap.with_native_status(status);
    }
    snap
}

#[simcore::async_trait]
impl SimProvider for Client {
    fn name(&self) -> &'static str {
        crate::PROVIDER
    }

    fn lifecycle(&self) -> Lifecycle<SimState> {
        LIFECYCLE.map(|s| canonical(s.as_str()))
    }

    async fn fetch_with(
        &self,
        id: &str,
        options: &CallOptions,
    ) -> Result<SimSnapshot, simcore::Error> {
        let record = self.get_sim_with(id, options.started()).await?;
        Ok(snapshot(&record, id))
    }

    fn validate(&self, id: &str, change: &SimChange) -> Result<(), simcore::Error> {
        prepare(id, change).map(drop)
    }

    /// Every record, a page of `GET /sims` at a time ([`list_keys::MAX_PAGE_SIZE`] records a
    /// page unless the options say fewer; the page parameters are **unconfirmed**, see
    /// [`list_keys`]), each page read once, straight into typed records (of each, only what its
    /// snapshot holds). EdgeIQ addresses a
    /// record by its system id only: snapshots carry no aliases.
    fn list(&self, options: &ListOptions) -> SnapshotPages<'_> {
        let size = options.page_size.unwrap_or(list_keys::MAX_PAGE_SIZE);
        let start = (options.resume.clone()).unwrap_or(PagePosition::Number(list_keys::FIRST_PAGE));
        let pages = self
            .list_sims()
            .page_size(size)
            .snapshot_only()
            .options(options.call)
            .resume_from(start.clone())
            .pages();
        SnapshotPages::resumable(
            Some(start),
            pages.map_ok(|page| {
                let sims = page
                    .items
                    .into_iter()
                    .map(|record| into_snapshot(record, ""))
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
    ) -> Result<Applied, simcore::Error> {
        // Options no call can honour are refused before anything else, a no-op included.
        options.check()?;
        let options = options.started();
        let word = prepare(id, change)?;
        if change.is_noop() {
            // Already as asked: nothing to send.
            return Ok(Applied::Unchanged);
        }
        let updated = self
            .update_sim(id)
            .status(word)
            .options(options)
            .send()
            .await?;
        Ok(updated.map(|record| snapshot(&record, id)))
    }
}

/// The status word a canonical change asks for, checked without any I/O (shared by `validate`
/// and `apply`, so a dry run refuses exactly what a real run would).
fn prepare(id: &str, change: &SimChange) -> Result<&'static str, simcore::Error> {
    SimId::parse(id)?;
    if let Some(name) = &change.display_name {
        return Err(ValidationError::new(
            "display_name",
            "edgeiq SIM records have no display name",
            quote(name.as_str()),
        )
        .into());
    }
    let Some(target) = &change.state else {
        return Err(ValidationError::empty_update().into());
    };
    // The status is open carrier text: no move is refused, whatever the known state.
    target_status(target).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::CarrierStatus;

    #[test]
    fn open_lifecycle() {
        let a = CarrierStatus::parse("active").unwrap();
        let b = CarrierStatus::parse("TEST READY").unwrap();
        assert!(LIFECYCLE.is_open());
        assert!(LIFECYCLE.allows(&a, &b) && LIFECYCLE.allows(&b, &a));
        assert!(CarrierStatus::parse(&"x".repeat(31)).is_err());
    }

    #[test]
    fn target_table() {
        for (state, word) in [
            (SimState::Active, Some("active")),
            (SimState::Inactive, Some("inactive")),
            (SimState::Retired, Some("retired")),
            (SimState::New, None),
            (SimState::Ready, None),
            (SimState::Deleted, None),
            (SimState::Pending, None),
            (SimState::Unknown("suspended".into()), None),
        ] {
            match (target_status(&state), word) {
                (Ok(w), Some(expected)) => assert_eq!(w, expected),
                (Err(e), None) => {
                    assert_eq!(e.field(), "state");
                    assert_eq!(
                        e.rule(),
                        "edgeiq can set only active, inactive or retired through SimProvider"
                    );
                }
                (got, want) => panic!("{state}: got {got:?}, want {want:?}"),
            }
        }
        // Every settable word reads back as the state it was set for.
        for state in [SimState::Active, SimState::Inactive, SimState::Retired] {
            assert_eq!(canonical(target_status(&state).unwrap()), state);
        }
    }

    #[test]
    fn snapshot_keeps_the_carrier_word() {
        let r: SimRecord = serde_json::from_value(serde_json::json!({
            "_id": "65f1c0ffee0123456789abcd", "iccid": "89882806660004909182", "status": "Suspended"
        }))
        .unwrap();
        let s = snapshot(&r, "ignored");
        assert_eq!(s.id, "65f1c0ffee0123456789abcd");
        assert_eq!(s.state, SimState::Inactive);
        assert_eq!(s.native_status.as_deref(), Some("Suspended"));
        assert_eq!(s.iccid.as_deref(), Some("89882806660004909182"));
        let bare = snapshot(&SimRecord::default(), "65f1c0ffee0123456789abcd");
        assert_eq!(bare.id, "65f1c0ffee0123456789abcd");
        assert_eq!(bare.native_status, None);
    }

    #[test]
    fn canonical_table() {
        for (word, state) in [
            ("active", SimState::Active),
            ("ACTIVE", SimState::Active),
            ("inactive", SimState::Inactive),
            ("suspended", SimState::Inactive),
            ("deactivated", SimState::Retired),
            ("retired", SimState::Retired),
            ("test ready", SimState::Unknown("test ready".into())),
        ] {
            assert_eq!(canonical(word), state, "{word}");
        }
    }
}
