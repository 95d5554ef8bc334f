//! The emnify SIM lifecycle, its canonical view, and [`SimProvider`] for [`Client`].
//!
//! Through the trait, SIM ids are emnify's numeric ids as text (`"250"`); anything else is refused
//! with [`Error::Invalid`](simcore::Error::Invalid) before sending. Canonical states map to emnify's statuses as follows:
//!
//! | canonical | emnify | as a target |
//! |---|---|---|
//! | `new` | Issued (0) | refused: never a target |
//! | `active` | Activated (1) | yes |
//! | `inactive` | Suspended (2) | yes |
//! | `deleted` | Deleted (3) | refused: use [`Client::delete_sim`] |
//! | `ready` | Factory Test (4) | yes |
//!
//! emnify SIMs have no display name (names belong to endpoints), so a change with a
//! `display_name` is refused. A successful change is [`Applied::Done`]`(None)`, and only
//! emnify's own answer, `204` with no body, makes one: any other success answer is an
//! [`Error::Decode`](simcore::Error::Decode) ([`Sent::Maybe`](simcore::error::Sent::Maybe)), which
//! a bulk run settles by reading the SIM back, never counts done on its own.
//!
//! [`SimProvider::list`] reads `GET /api/v1/sim` a page at a time, 2500 SIMs per page unless the
//! options say otherwise, at a pace under emnify's list limit. emnify addresses a SIM by its id
//! only, so snapshots carry no aliases.

use std::sync::LazyLock;

use futures_util::TryStreamExt as _;
use simcore::charge::{Estimate, Pricing};
use simcore::paging::PagePosition;
use simcore::validate::quote;
use simcore::{
    Applied, CallOptions, Lifecycle, ListOptions, Result, SimChange, SimProvider, SimSnapshot,
    SimState, SnapshotPages, ValidationError,
};

use crate::billing;
use crate::client::Client;
pub use crate::models::{LIFECYCLE, TRANSITIONS};
use crate::models::{Sim, SimStatus};
use crate::requests::{DELETED_RULE, ISSUED_RULE, ListSims, SettableStatus};

/// emnify's status in canonical terms.
pub fn canonical(status: &SimStatus) -> SimState {
    match status {
        SimStatus::Issued => SimState::New,
        SimStatus::FactoryTest => SimState::Ready,
        SimStatus::Activated => SimState::Active,
        SimStatus::Suspended => SimState::Inactive,
        SimStatus::Deleted => SimState::Deleted,
        SimStatus::Unknown(id) => SimState::Unknown(format!("status {id}")),
    }
}

/// [`LIFECYCLE`] in canonical states, mapped once (every change validated judges by it).
static CANONICAL_LIFECYCLE: LazyLock<Lifecycle<SimState>> =
    LazyLock::new(|| LIFECYCLE.map(canonical));

/// The emnify lifecycle in canonical states.
pub fn canonical_lifecycle() -> Lifecycle<SimState> {
    LazyLock::force(&CANONICAL_LIFECYCLE).shared()
}

/// The emnify status a canonical state stands for (`None` for states emnify does not have).
pub fn native(state: &SimState) -> Option<SimStatus> {
    match state {
        SimState::New => Some(SimStatus::Issued),
        SimState::Ready => Some(SimStatus::FactoryTest),
        SimState::Active => Some(SimStatus::Activated),
        SimState::Inactive => Some(SimStatus::Suspended),
        SimState::Deleted => Some(SimStatus::Deleted),
        _ => None,
    }
}

/// The settable status a canonical target state stands for, or the refusal.
pub fn target_status(state: &SimState) -> Result<SettableStatus, ValidationError> {
    match state {
        SimState::Active => Ok(SettableStatus::Activated),
        SimState::Inactive => Ok(SettableStatus::Suspended),
        SimState::Ready => Ok(SettableStatus::FactoryTest),
        SimState::Deleted => Err(ValidationError::new("state", DELETED_RULE, "deleted")),
        SimState::New => Err(ValidationError::new("state", ISSUED_RULE, "new")),
        other => Err(ValidationError::new(
            "state",
            "must be active, inactive or ready for an emnify SIM",
            quote(other.as_str()),
        )),
    }
}

/// Parses a SIM id given as text: emnify's ids are integers.
pub fn parse_sim_id(id: &str) -> Result<u64, ValidationError> {
    let refuse = || {
        ValidationError::new(
            "sim_id",
            "must be emnify's numeric SIM id (ASCII digits)",
            quote(id),
        )
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    id.parse().map_err(|_| refuse())
}

/// A SIM in canonical terms.
pub fn snapshot(sim: &Sim) -> SimSnapshot {
    into_snapshot(sim.clone())
}

/// [`snapshot`], taking the SIM: its ICCID moves into the snapshot rather than being copied (a
/// listing makes 100,000 of them).
pub fn into_snapshot(sim: Sim) -> SimSnapshot {
    let state = sim
        .status
        .as_ref()
        .map(canonical)
        .unwrap_or_else(|| SimState::Unknown("no status".to_owned()));
    let mut snap = SimSnapshot::new(crate::PROVIDER, sim.id.to_string(), state);
    if let Some(iccid) = sim.iccid_with_luhn.or(sim.iccid) {
        snap = snap.with_iccid(iccid);
    }
    if let Some(status) = &sim.status {
        snap = snap.with_native_status(status.description());
    }
    snap
}

#[simcore::async_trait]
impl SimProvider for Client {
    fn name(&self) -> &'static str {
        crate::PROVIDER
    }

    fn lifecycle(&self) -> Lifecycle<SimState> {
        canonical_lifecycle()
    }

    async fn fetch_with(&self, id: &str, options: &CallOptions) -> Result<SimSnapshot> {
        let sim_id = parse_sim_id(id)?;
        Ok(into_snapshot(
            self.get_sim_with(sim_id, options.started()).await?,
        ))
    }

    fn validate(&self, id: &str, change: &SimChange) -> Result<()> {
        prepare(id, change).map(drop)
    }

    /// Every SIM, a page of `GET /api/v1/sim` at a time: `per_page` is `options.page_size` or
    /// the largest emnify serves (2500), pages are paced under emnify's limit for the list path
    /// (see [`ListPace`](crate::ListPace)), and each is read once, straight into typed SIMs (of
    /// each, only what its snapshot holds), each page with `options.call`. A page size over
    /// 2500, a resume position that is not a page number, and an option no call can honour are
    /// refused as [`Error::Invalid`](simcore::Error::Invalid) before anything is sent.
    fn list(&self, options: &ListOptions) -> SnapshotPages<'_> {
        let size = options.page_size.unwrap_or(ListSims::MAX_PAGE_SIZE);
        let start = options.resume.clone().unwrap_or(PagePosition::Number(1));
        if let Err(e) = start.number("resume") {
            return SnapshotPages::new(futures_util::stream::iter([Err(e)]));
        }
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
                (
                    page.items.into_iter().map(into_snapshot).collect(),
                    page.next,
                )
            }),
        )
    }

    async fn apply_with(
        &self,
        id: &str,
        change: &SimChange,
        options: &CallOptions,
    ) -> Result<Applied> {
        // Options no call can honour are refused before anything else.
        options.check()?;
        let options = options.started();
        let (sim_id, target) = prepare(id, change)?;
        if change.is_noop() {
            return Ok(Applied::Unchanged);
        }
        let updated = self
            .update_sim(sim_id)
            .status(target)
            .options(options)
            .send()
            .await?;
        Ok(updated.map(into_snapshot))
    }

    fn charges(&self) -> Option<&dyn simcore::ChargePreview> {
        Some(self)
    }
}

/// Charge previews by this provider's documented billing rules and published prices.
#[simcore::async_trait]
impl simcore::ChargePreview for Client {
    /// Prices the change by emnify's billing rules ([`crate::billing`]) and the price book in
    /// `pricing` (emnify publishes no prices: an activated SIM is "unpriced" until the book gives
    /// `sim.active_monthly`, but the preview still says which month a charge starts or stops
    /// from). Checks the change as [`apply`](SimProvider::apply) would, then reads the SIM (one
    /// `GET`) for its status and `activation_date`; a move the lifecycle forbids from the status
    /// read is refused, with nothing sent.
    async fn estimate_charge(
        &self,
        id: &str,
        change: &SimChange,
        pricing: &Pricing,
    ) -> Result<Estimate> {
        let (sim_id, target) = prepare(id, change)?;
        let book = pricing.book_for(crate::PROVIDER)?;
        let sim = self.get_sim(sim_id).await?;
        let target_status = target.status();
        if let Some(current) = sim.status.as_ref().filter(|s| !s.is_unknown()) {
            if *current != target_status {
                LIFECYCLE.check(current, &target_status)?;
            }
        }
        Ok(billing::estimate(
            sim.status.as_ref(),
            sim.activation_date.map(|d| d.date_naive()),
            target,
            book,
            pricing.as_of,
        ))
    }
}

/// The SIM id and status a canonical change asks for, checked without any I/O (shared by
/// `validate` and `apply`, so a dry run refuses exactly what a real run would).
fn prepare(id: &str, change: &SimChange) -> Result<(u64, SettableStatus)> {
    let sim_id = parse_sim_id(id)?;
    if change.display_name.is_some() {
        return Err(ValidationError::new(
            "display_name",
            "emnify SIMs have no display name (names belong to endpoints)",
            "a display name",
        )
        .into());
    }
    let Some(state) = &change.state else {
        return Err(ValidationError::empty_update().into());
    };
    let target = target_status(state)?;
    if let Some(known) = &change.known_state {
        if native(known).is_some() {
            canonical_lifecycle().judge(known, state).into_result()?;
        }
    }
    Ok((sim_id, target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::assert_lifecycle_exact;

    #[test]
    fn every_documented_pair_and_nothing_else() {
        use SimStatus::*;
        let documented = [
            (Issued, Activated),
            (Issued, FactoryTest),
            (FactoryTest, Activated),
            (Activated, Suspended),
            (Suspended, Activated),
        ];
        let mut all = SimStatus::KNOWN.to_vec();
        all.push(Unknown(9));
        assert_lifecycle_exact(&LIFECYCLE, &all, &documented);
        for s in SimStatus::KNOWN {
            assert!(!LIFECYCLE.allows(s, &Deleted), "{s} -> Deleted");
        }
    }

    #[test]
    fn ids_round_trip() {
        for s in SimStatus::KNOWN {
            assert_eq!(&SimStatus::from_id(s.id()), s);
        }
        assert_eq!(SimStatus::from_id(7), SimStatus::Unknown(7));
        assert_eq!(canonical(&SimStatus::Suspended), SimState::Inactive);
    }

    #[test]
    fn canonical_targets() {
        assert_eq!(
            target_status(&SimState::Active),
            Ok(SettableStatus::Activated)
        );
        assert_eq!(
            target_status(&SimState::Inactive),
            Ok(SettableStatus::Suspended)
        );
        assert_eq!(
            target_status(&SimState::Ready),
            Ok(SettableStatus::FactoryTest)
        );
        let e = target_status(&SimState::Deleted).unwrap_err();
        assert!(e.rule().contains("delete_sim"), "{e}");
        assert_eq!(
            target_status(&SimState::New).unwrap_err().rule(),
            ISSUED_RULE
        );
        for other in [
            SimState::Pending,
            SimState::Retired,
            SimState::Unknown("x".into()),
        ] {
            assert_eq!(target_status(&other).unwrap_err().field(), "state");
        }
        for s in SimStatus::KNOWN {
            assert_eq!(native(&canonical(s)).as_ref(), Some(s));
        }
        assert_eq!(native(&SimState::Pending), None);
    }

    #[test]
    fn canonical_lifecycle_mirrors_the_table() {
        use SimState::*;
        assert_lifecycle_exact(
            &canonical_lifecycle(),
            &[New, Ready, Active, Inactive, Deleted],
            &[
                (New, Active),
                (New, Ready),
                (Ready, Active),
                (Active, Inactive),
                (Inactive, Active),
            ],
        );
    }

    #[test]
    fn sim_ids_are_integers() {
        assert_eq!(parse_sim_id("250"), Ok(250));
        assert_eq!(parse_sim_id("0007"), Ok(7));
        for bad in [
            "",
            "+5",
            "-1",
            "2.5",
            "abc",
            " 1",
            "18446744073709551616",
            "../1",
        ] {
            let e = parse_sim_id(bad).unwrap_err();
            assert_eq!(e.field(), "sim_id", "{bad}");
        }
    }
}
