//! Fleets in desired state, on the four sandboxes: a plan sends exactly its changes and reads
//! states by listing; an interrupted run, re-planned, converges; a SIM changed behind the
//! plan's back is stale and untouched; a dry run and a real run agree on what they leave alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use simcore::{SimChange, SimProvider, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater};
use simfleet::plan::{ActionKind, Applier, ApplyKind, ApplyOutcome, Desired, Planner};
use simsandbox::RecordedRequest;

/// The four sandboxes, each seeded with `n` SIMs of which every `already`-th (30%) is active,
/// the rest inactive; the rows ask for all of them active.
struct Fleet {
    twilio: supersim_client::sandbox::Sandbox,
    emnify: emnify_client::sandbox::Sandbox,
    sixfab: sixfab_client::sandbox::Sandbox,
    edgeiq: edgeiq_client::sandbox::Sandbox,
    rows: Vec<Desired>,
    /// How many rows are already active.
    active: usize,
}

impl Fleet {
    async fn start(per_provider: usize) -> Fleet {
        use emnify_client::sandbox as em;
        use supersim_client::sandbox as ss;
        let twilio = ss::Sandbox::start_with(
            ss::SandboxOptions::new().schedule_delay(Duration::from_millis(1)),
        )
        .await
        .unwrap();
        let emnify = em::Sandbox::start().await.unwrap();
        let sixfab = sixfab_client::sandbox::Sandbox::start().await.unwrap();
        let edgeiq = edgeiq_client::sandbox::Sandbox::start().await.unwrap();
        let mut rows = Vec::new();
        let mut active = 0;
        for i in 0..per_provider {
            // 3 of every 10 already as asked.
            let on = i % 10 < 3;
            active += 4 * usize::from(on);
            let name = format!("pump-{i:05}");
            twilio.seed_sim(ss::SimSeed::new().unique_name(&name).status(if on {
                ss::SimStatus::Active
            } else {
                ss::SimStatus::Inactive
            }));
            rows.push(Desired::new("supersim", name).state(SimState::Active));
            let id = 100_000 + i as u64;
            emnify.seed_sim(em::SimSeed::new().id(id).status(if on { 1 } else { 2 }));
            rows.push(Desired::new("emnify", id.to_string()).state(SimState::Active));
            let serial = format!("SN-{i:05}");
            sixfab.seed_asset(
                sixfab_client::sandbox::AssetSeed::new()
                    .serial_number(&serial)
                    .status(if on {
                        sixfab_client::sandbox::SandboxStatus::Active
                    } else {
                        sixfab_client::sandbox::SandboxStatus::Inactive
                    }),
            );
            rows.push(Desired::new("sixfab", serial).state(SimState::Active));
            let eid = format!("{:024x}", 0x65f1_0000_0000u64 + i as u64);
            edgeiq.seed_sim(
                edgeiq_client::sandbox::SimSeed::new()
                    .id(&eid)
                    .status(if on { "active" } else { "inactive" }),
            );
            rows.push(Desired::new("edgeiq", eid).state(SimState::Active));
        }
        Fleet {
            twilio,
            emnify,
            sixfab,
            edgeiq,
            rows,
            active,
        }
    }

    fn providers(&self) -> Vec<Arc<dyn SimProvider>> {
        vec![
            Arc::new(self.twilio.client()),
            Arc::new(self.emnify.client()),
            Arc::new(self.sixfab.client()),
            Arc::new(self.edgeiq.client()),
        ]
    }

    /// Every request the four sandboxes received, by provider.
    fn requests(&self) -> BTreeMap<&'static str, Vec<RecordedRequest>> {
        BTreeMap::from([
            ("supersim", self.twilio.requests()),
            ("emnify", self.emnify.requests()),
            ("sixfab", self.sixfab.requests()),
            ("edgeiq", self.edgeiq.requests()),
        ])
    }

    /// Updates received (authentication calls aside).
    fn updates(&self) -> usize {
        self.requests()
            .values()
            .flatten()
            .filter(|r| {
                r.is_write() && !r.path.ends_with("authenticate") && !r.path.ends_with("/token")
            })
            .count()
    }

    /// Single-SIM reads received (lists aside).
    fn single_reads(&self) -> usize {
        self.requests()
            .iter()
            .map(|(p, rs)| {
                rs.iter()
                    .filter(|r| r.method == "GET" && !is_list(p, r))
                    .count()
            })
            .sum()
    }

    fn clear(&self) {
        self.twilio.server().clear_requests();
        self.emnify.server().clear_requests();
        self.sixfab.server().clear_requests();
        self.edgeiq.server().clear_requests();
    }
}

fn is_list(provider: &str, r: &RecordedRequest) -> bool {
    let p = r.path.trim_end_matches('/');
    match provider {
        "supersim" => p == "/v1/Sims",
        "emnify" => p == "/api/v1/sim",
        "sixfab" => p.ends_with("/assets"),
        _ => p.ends_with("/sims"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sims_send_exactly_the_changes_and_are_read_by_listing() {
    let fleet = Fleet::start(2500).await;
    let providers = fleet.providers();
    // Without charge previews (which may read a changed SIM once more): only listing.
    let plan = Planner::new(providers.clone())
        .price(false)
        .plan(fleet.rows.clone())
        .await;
    assert_eq!(plan.entries.len(), 10_000);
    assert_eq!(plan.count(ActionKind::Unchanged), fleet.active);
    assert_eq!(plan.count(ActionKind::Change), 10_000 - fleet.active);
    // Read by listing: a handful of pages per provider, no single-SIM read.
    assert_eq!(fleet.single_reads(), 0, "{:?}", plan.reads);
    for (name, reads) in &plan.reads {
        assert_eq!(reads.fetches, 0, "{name}");
        assert!(reads.list_pages <= 25, "{name}: {reads:?}");
    }
    // With them: at most one read more per change.
    fleet.clear();
    let priced = Planner::new(providers.clone())
        .plan(fleet.rows.clone())
        .await;
    assert_eq!(
        priced.count(ActionKind::Change),
        plan.count(ActionKind::Change)
    );
    assert!(fleet.single_reads() <= plan.count(ActionKind::Change));
    fleet.clear();
    let report = Applier::new(providers.clone())
        .concurrency(32)
        .apply(&plan)
        .await;
    assert_eq!(report.entries.len(), 10_000);
    assert_eq!(fleet.updates(), plan.count(ActionKind::Change));
    assert_eq!(
        report.count(ApplyKind::Done) + report.count(ApplyKind::Pending),
        plan.count(ActionKind::Change),
        "{report}"
    );
    fleet.twilio.settled().await;
    // Nothing left: a second plan sends nothing.
    let again = Planner::new(providers).plan(fleet.rows.clone()).await;
    assert_eq!(again.count(ActionKind::Unchanged), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_re_planned_sends_only_what_is_left() {
    let fleet = Fleet::start(500).await;
    let providers = fleet.providers();
    let plan = Planner::new(providers.clone())
        .plan(fleet.rows.clone())
        .await;
    let changes = plan.count(ActionKind::Change);
    fleet.clear();
    let concurrency = 8;
    let applier = Applier::new(providers.clone()).concurrency(concurrency);
    // Stop the run once about half its updates have been sent.
    let mut run = Box::pin(applier.apply(&plan));
    loop {
        tokio::select! {
            _ = run.as_mut() => panic!("the run finished before it was interrupted"),
            _ = tokio::time::sleep(Duration::from_millis(2)) => {
                if fleet.updates() >= changes / 2 {
                    break;
                }
            }
        }
    }
    drop(run);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let first = fleet.updates();
    assert!(
        first >= changes / 2 && first < changes,
        "{first} of {changes}"
    );
    fleet.twilio.settled().await;
    fleet.clear();
    // Re-run the same desired state: the plan sees what is done, and only the rest is sent.
    let second_plan = Planner::new(providers.clone())
        .plan(fleet.rows.clone())
        .await;
    let left = second_plan.count(ActionKind::Change);
    let report = Applier::new(providers.clone()).apply(&second_plan).await;
    let second = fleet.updates();
    assert_eq!(second, left);
    // The updates in flight when the run was stopped may have been sent twice, no more: at most
    // the concurrency of each of the four providers' runs.
    assert!(
        first + second <= changes + 4 * concurrency,
        "{first} + {second} vs {changes}"
    );
    assert!(first + second >= changes);
    assert_eq!(report.count(ApplyKind::Failed), 0, "{report}");
    fleet.twilio.settled().await;
    let done = Planner::new(providers).plan(fleet.rows.clone()).await;
    assert_eq!(done.count(ActionKind::Unchanged), fleet.rows.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_changed_behind_the_plan_is_stale_and_untouched() {
    let fleet = Fleet::start(20).await;
    let providers = fleet.providers();
    let plan = Planner::new(providers.clone())
        .plan(fleet.rows.clone())
        .await;
    // Behind the plan's back: an inactive EdgeIQ record set to another carrier status, and an
    // emnify SIM deleted... by hand through the API.
    let edge = plan
        .changes()
        .find(|e| e.provider == "edgeiq")
        .unwrap()
        .clone();
    let edge_client = fleet.edgeiq.client();
    edge_client
        .update_sim(&edge.id)
        .status("retired")
        .send()
        .await
        .unwrap();
    fleet.clear();
    let report = Applier::new(providers).apply(&plan).await;
    let entry = &report.entries[edge.row];
    assert_eq!(
        entry.outcome,
        ApplyOutcome::Stale {
            planned: SimState::Inactive,
            found: SimState::Retired
        }
    );
    let touched = fleet
        .edgeiq
        .requests()
        .iter()
        .filter(|r| r.is_write() && r.path.ends_with(&edge.id))
        .count();
    assert_eq!(touched, 0);
    assert_eq!(report.count(ApplyKind::Stale), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_and_a_real_run_agree_on_unchanged_and_refused_rows() {
    let fleet = Fleet::start(30).await;
    for p in fleet.providers() {
        let name = p.name();
        let mut items: Vec<BulkItem> = fleet
            .rows
            .iter()
            .filter(|r| r.provider == name)
            .map(|r| BulkItem::new(r.id.clone(), SimChange::new().state(SimState::Active)))
            .collect();
        // A move every provider refuses.
        items.push(BulkItem::new(
            items[0].id.clone(),
            SimChange::new().state(SimState::Deleted),
        ));
        let outcome_sets = |dry: bool| {
            let p = p.clone();
            let items = items.clone();
            async move {
                let mut seen: BTreeMap<usize, &'static str> = BTreeMap::new();
                BulkUpdater::new(p)
                    .fetch_current(true)
                    .dry_run(dry)
                    .run_with(futures_util::stream::iter(items), |o| {
                        seen.insert(o.index, o.outcome.label());
                    })
                    .await;
                seen.into_iter()
                    .filter(|(_, l)| matches!(*l, "unchanged" | "refused"))
                    .collect::<Vec<_>>()
            }
        };
        let dry = outcome_sets(true).await;
        let real = outcome_sets(false).await;
        assert_eq!(dry, real, "{name}");
        assert!(dry.iter().any(|(_, l)| *l == "unchanged"), "{name}");
        assert!(dry.iter().any(|(_, l)| *l == "refused"), "{name}");
    }
}
