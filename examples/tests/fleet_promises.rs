//! The fleet promises of the README on the provider sandboxes, judged by what each sandbox
//! received and accepted (its request log and its state), never by what the SDK says of itself:
//! a refusal is never reported scheduled (item 2), a change in progress is planned as pending
//! and waited for (item 3), rows that ask the same of one SIM are one write and a throttled
//! read-back is retried (item 4), a saved plan is applied whole or refused whole (item 5), an
//! answer that is not the provider's is never counted done (item 6), and rows are read by one
//! rule (item 8).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use simcore::retry::RetryPolicy;
use simcore::{SimChange, SimProvider, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater, Outcome};
use simfleet::plan::{
    Action, ActionKind, Applier, ApplyKind, ApplyOutcome, Desired, Plan, Planner,
};
use simsandbox::{RateLimit, RecordedRequest};
use supersim_client::SettableStatus;
use supersim_client::sandbox::{Sandbox, SandboxOptions, SimSeed, SimStatus};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn state(on: bool) -> SimState {
    if on {
        SimState::Active
    } else {
        SimState::Inactive
    }
}

fn status(on: bool) -> SimStatus {
    if on {
        SimStatus::Active
    } else {
        SimStatus::Inactive
    }
}

fn settable(on: bool) -> SettableStatus {
    if on {
        SettableStatus::Active
    } else {
        SettableStatus::Inactive
    }
}

/// A Super SIM sandbox whose scheduled changes wait for the test: a SIM's `scheduled` says
/// which change it accepted, for as long as the test looks.
async fn held() -> Sandbox {
    Sandbox::start_with(SandboxOptions::new().hold_scheduled())
        .await
        .unwrap()
}

/// The status changes a Super SIM sandbox received for `sid` (by SID or unique name).
fn posts(requests: &[RecordedRequest], sid: &str, name: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|r| {
            r.method == "POST"
                && (r.path.ends_with(&format!("/Sims/{sid}"))
                    || r.path.ends_with(&format!("/Sims/{name}")))
        })
        .map(|r| r.body_text())
        .collect()
}

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(6)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(20))
}

/// Item 2, as reported: a Super SIM still `scheduled` from an earlier change answers a new
/// status change `400` (code 83010). The bulk updater used to read it back, see the earlier
/// change in progress and report the row `scheduled`. It is the provider's refusal: failed,
/// with its error, and nothing of it accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_refusal_of_a_sim_still_scheduled_is_never_reported_scheduled() {
    let sandbox = held().await;
    let sid = sandbox.seed_sim(
        SimSeed::new()
            .unique_name("pump-1")
            .status(SimStatus::Active),
    );
    let client = sandbox.client();
    let earlier = client
        .update_sim(&sid)
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert!(earlier.is_pending());
    let provider: Arc<dyn SimProvider> = Arc::new(client);
    for fetch_current in [false, true] {
        let mut seen = Vec::new();
        let report = BulkUpdater::new(provider.clone())
            .fetch_current(fetch_current)
            .run_with(
                futures_util::stream::iter([BulkItem::new(
                    sid.clone(),
                    SimChange::new().state(SimState::Active),
                )]),
                |o| seen.push(o.outcome.clone()),
            )
            .await;
        match &seen[..] {
            [Outcome::Failed(e)] => {
                assert_eq!(e.status(), Some(400), "{e}");
                assert_eq!(e.api().and_then(|a| a.code), Some(83010), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((report.pending, report.done), (0, 0), "{report}");
    }
    // The judge: the sandbox still holds the earlier change only.
    let sim = sandbox.sim(&sid).unwrap();
    assert_eq!(sim.status, SimStatus::Scheduled);
    assert_eq!(sim.scheduled.unwrap().status, SimStatus::Inactive);
    assert_eq!(posts(&sandbox.requests(), &sid, "pump-1").len(), 3);
}

/// Item 3, as reported: re-planning right after an apply on Super SIM proposed
/// `change pending -> inactive`. A SIM with a change in progress is a pending entry, nothing is
/// sent for it, and apply reports it in progress; with a wait, apply reports where the changes
/// settled, and the next plan finds nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_change_in_progress_is_planned_pending_and_apply_can_wait_for_it() {
    let sandbox = held().await;
    let sids: Vec<String> = (0..4)
        .map(|i| {
            sandbox.seed_sim(
                SimSeed::new()
                    .unique_name(format!("pump-{i}"))
                    .status(SimStatus::Active),
            )
        })
        .collect();
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let rows: Vec<Desired> = (0..4)
        .map(|i| Desired::new("twilio", format!("pump-{i}")).state(SimState::Inactive))
        .collect();
    let planner = Planner::new([provider.clone()]).price(false);
    let plan = planner.plan(rows.clone()).await;
    assert_eq!(plan.count(ActionKind::Change), 4);
    let report = Applier::new([provider.clone()]).apply(&plan).await;
    assert_eq!(report.count(ApplyKind::Pending), 4, "{report}");
    // Re-planned at once: pending, not a change, and it says what it waits for.
    let again = planner.plan(rows.clone()).await;
    assert_eq!(again.count(ActionKind::InProgress), 4, "{again}");
    assert_eq!(again.count(ActionKind::Change), 0);
    match &again.entries[0].action {
        Action::InProgress { waits_for, to } => {
            assert!(waits_for.contains("\"scheduled\""), "{waits_for}");
            assert_eq!(to, &Some(SimState::Inactive));
        }
        other => panic!("{other:?}"),
    }
    sandbox.server().clear_requests();
    let report = Applier::new([provider.clone()]).apply(&again).await;
    assert_eq!(report.count(ApplyKind::InProgress), 4, "{report}");
    assert_eq!(report.attempts, 0);
    assert!(sandbox.requests().iter().all(|r| r.method == "GET"));
    // A bounded wait on changes that do not land: reported as they are, within the bound.
    let started = std::time::Instant::now();
    let report = Applier::new([provider.clone()])
        .wait(Duration::from_millis(300))
        .apply(&again)
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.count(ApplyKind::InProgress), 4, "{report}");
    // Once they land during the wait: already there.
    let landing = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sandbox.complete_scheduled().await
    };
    let waiter = Applier::new([provider.clone()]).wait(Duration::from_secs(20));
    let (report, landed) = tokio::join!(waiter.apply(&again), landing);
    assert_eq!(landed, 4);
    assert_eq!(report.count(ApplyKind::AlreadyThere), 4, "{report}");
    // A run's own scheduled changes, waited for: done, read back; the next plan is unchanged.
    sandbox.set_schedule_delay(Some(Duration::from_millis(50)));
    let back: Vec<Desired> = (0..4)
        .map(|i| Desired::new("twilio", format!("pump-{i}")).state(SimState::Active))
        .collect();
    let plan = planner.plan(back.clone()).await;
    let report = Applier::new([provider.clone()])
        .wait(Duration::from_secs(20))
        .apply(&plan)
        .await;
    assert_eq!(report.count(ApplyKind::Done), 4, "{report}");
    assert!(
        report
            .entries
            .iter()
            .all(|e| e.outcome == ApplyOutcome::Done { verified: true })
    );
    assert_eq!(planner.plan(back).await.count(ActionKind::Unchanged), 4);
    for sid in &sids {
        assert_eq!(sandbox.sim(sid).unwrap().status, SimStatus::Active);
    }
}

/// Item 4: two rows that ask the same of one SIM (by its SID and by its unique name) are one
/// write, and each row's outcome says so; rows asking different things of it are refused but
/// the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_rows_asking_the_same_of_one_sim_are_one_write() {
    let sandbox = held().await;
    let sid = sandbox.seed_sim(
        SimSeed::new()
            .unique_name("pump-1")
            .status(SimStatus::Active),
    );
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let rows = [
        Desired::new("twilio", "pump-1").state(SimState::Inactive),
        Desired::new("Twilio", sid.clone()).state(SimState::Inactive),
        Desired::new("twilio", "pump-1").state(SimState::Inactive),
    ];
    let plan = Planner::new([provider.clone()]).plan(rows).await;
    assert_eq!(plan.count(ActionKind::Change), 3, "{plan}");
    let report = Applier::new([provider]).apply(&plan).await;
    assert_eq!(posts(&sandbox.requests(), &sid, "pump-1").len(), 1);
    assert_eq!(report.attempts, 1);
    for (row, others) in [(0, vec![1, 2]), (1, vec![0, 2]), (2, vec![0, 1])] {
        assert_eq!(
            report.entries[row].outcome,
            ApplyOutcome::Pending { wait_error: None }
        );
        assert_eq!(report.entries[row].same_write, others);
    }
    assert!(report.to_string().contains("shared its write"), "{report}");
}

/// One generated case of Super SIM's state before a run: each SIM settled (active or inactive)
/// or with an earlier change in progress; the rows (SIM, target, by its unique name or SID);
/// faults in front of the sandbox; a rate limit that throttles reads and writes alike.
#[derive(Debug, Clone)]
struct Case {
    sims: Vec<(bool, Option<bool>)>,
    rows: Vec<(usize, bool, bool)>,
    drops: usize,
    fails: Vec<u16>,
    delays: usize,
    throttle: bool,
    concurrency: usize,
    fetch_current: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((any::<bool>(), prop::option::of(any::<bool>())), 1..5),
        prop::collection::vec((0usize..5, any::<bool>(), any::<bool>()), 1..9),
        0usize..3,
        prop::collection::vec(
            prop::sample::select(vec![500u16, 502, 503, 200, 201, 202]),
            0..4,
        ),
        0usize..2,
        any::<bool>(),
        1usize..4,
        any::<bool>(),
    )
        .prop_map(
            |(sims, rows, drops, fails, delays, throttle, concurrency, fetch_current)| Case {
                sims,
                rows,
                drops,
                fails,
                delays,
                throttle,
                concurrency,
                fetch_current,
            },
        )
}

/// The sandbox of a case, seeded, its earlier changes sent and held; the SIDs.
async fn seeded(case: &Case) -> (Sandbox, Vec<String>) {
    let sandbox = held().await;
    let client = sandbox.client();
    let mut sids = Vec::new();
    for (i, (on, pending)) in case.sims.iter().enumerate() {
        let sid = sandbox.seed_sim(
            SimSeed::new()
                .unique_name(format!("pump-{i}"))
                .status(status(*on)),
        );
        if let Some(to) = pending {
            // An earlier change, still in progress; one to the status it has is refused, so
            // aim it elsewhere.
            let to = if to == on { !on } else { *to };
            assert!(
                client
                    .update_sim(&sid)
                    .status(settable(to))
                    .send()
                    .await
                    .unwrap()
                    .is_pending()
            );
        }
        sids.push(sid);
    }
    (sandbox, sids)
}

/// The faults and limits of a case, in front of the sandbox from now on.
fn inject(sandbox: &Sandbox, case: &Case) {
    let server = sandbox.server();
    server.drop_next(case.drops);
    for &s in &case.fails {
        server.fail_next(1, s);
    }
    server.delay_next(case.delays, Duration::from_millis(400));
    if case.throttle {
        server.set_rate_limit(Some(RateLimit {
            per_second: 40.0,
            burst: 2,
            retry_after: false,
        }));
    }
}

/// Whether the run got SIM `i`'s change to `on` accepted: the SIM had no change in progress
/// before it, and holds that change now (held changes never land by themselves).
fn accepted(sandbox: &Sandbox, case: &Case, sids: &[String], i: usize, on: bool) -> bool {
    let sim = sandbox.sim(&sids[i]).unwrap();
    case.sims[i].1.is_none()
        && sim
            .scheduled
            .as_ref()
            .is_some_and(|c| c.status == status(on))
        && posts(&sandbox.requests(), &sids[i], &format!("pump-{i}"))
            .iter()
            .any(|b| {
                b.contains(&format!(
                    "Status={}",
                    if on { "active" } else { "inactive" }
                ))
            })
}

/// Whether SIM `i` was as the row asks before the run, with no change in progress: "already
/// so" (another row of the run may have changed it since).
fn already(case: &Case, i: usize, on: bool) -> bool {
    let (was, pending) = case.sims[i];
    pending.is_none() && was == on
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Items 2 and 4 on Super SIM's sandbox: for generated earlier changes in progress,
    /// refusals, duplicate rows (by SID or unique name), faults (dropped connections, 5xx,
    /// 2xx answers that are not Twilio's, delays past the client's timeout) and throttled
    /// reads and read-backs, no item of a bulk run is reported done, verified or scheduled
    /// unless the sandbox accepted its change in this run (or, for done, the SIM already was
    /// as asked).
    #[test]
    fn no_bulk_item_is_done_or_scheduled_unless_the_sandbox_accepted_it(case in case()) {
        let rt = runtime();
        rt.block_on(async {
            let (sandbox, sids) = seeded(&case).await;
            inject(&sandbox, &case);
            let client = sandbox
                .client_builder()
                .timeout(Duration::from_millis(150))
                .build()
                .unwrap();
            let items: Vec<BulkItem> = case
                .rows
                .iter()
                .map(|&(i, on, by_sid)| {
                    let i = i % case.sims.len();
                    let id = if by_sid { sids[i].clone() } else { format!("pump-{i}") };
                    BulkItem::new(id, SimChange::new().state(state(on)))
                })
                .collect();
            let mut seen = Vec::new();
            let report = BulkUpdater::new(Arc::new(client) as Arc<dyn SimProvider>)
                .retry(fast())
                .concurrency(case.concurrency)
                .fetch_current(case.fetch_current)
                .run_with(futures_util::stream::iter(items), |o| {
                    seen.push((o.index, o.outcome.clone()))
                })
                .await;
            prop_assert_eq!(report.total, case.rows.len());
            prop_assert_eq!(seen.len(), case.rows.len());
            if case.delays > 0 {
                // A delayed update is processed after the client gave up on it: let it land
                // before judging.
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
            for (index, outcome) in &seen {
                let (i, on, _) = case.rows[*index];
                let i = i % case.sims.len();
                let ok = match outcome {
                    Outcome::Pending(_) => accepted(&sandbox, &case, &sids, i, on),
                    Outcome::Done(_) | Outcome::Verified(_) | Outcome::Unchanged => {
                        accepted(&sandbox, &case, &sids, i, on)
                            || already(&case, i, on)
                    }
                    _ => true,
                };
                prop_assert!(ok, "row {} {:?}: {:?}", index, case.rows[*index], outcome);
            }
            Ok(())
        })?;
    }

    /// Items 2, 3 and 4 through plans: generated earlier changes in progress, duplicate rows
    /// and faults; a plan made and applied. A SIM with a change in progress is planned pending
    /// and gets no write; every SIM gets at most one accepted write; no row is reported done or
    /// scheduled unless the sandbox accepted its change (or it was as asked already).
    #[test]
    fn no_plan_row_is_done_or_scheduled_unless_the_sandbox_accepted_it(case in case()) {
        let rt = runtime();
        rt.block_on(async {
            let (sandbox, sids) = seeded(&case).await;
            let provider: Arc<dyn SimProvider> = Arc::new(
                sandbox
                    .client_builder()
                    .timeout(Duration::from_millis(150))
                    .retry(fast())
                    .build()
                    .unwrap(),
            );
            let rows: Vec<Desired> = case
                .rows
                .iter()
                .map(|&(i, on, by_sid)| {
                    let i = i % case.sims.len();
                    let id = if by_sid { sids[i].clone() } else { format!("pump-{i}") };
                    Desired::new("twilio", id).state(state(on))
                })
                .collect();
            let plan = Planner::new([provider.clone()])
                .price(false)
                .fetch_at_most(if case.fetch_current { 0 } else { 50 })
                .plan(rows)
                .await;
            for (k, e) in plan.entries.iter().enumerate() {
                let i = case.rows[k].0 % case.sims.len();
                if case.sims[i].1.is_some() {
                    prop_assert!(
                        matches!(e.action, Action::InProgress { .. } | Action::Refused { .. }),
                        "row {} of a SIM with a change in progress: {:?}", k, e.action
                    );
                }
            }
            sandbox.server().clear_requests();
            inject(&sandbox, &case);
            let report = Applier::new([provider])
                .concurrency(case.concurrency)
                .retry(fast())
                .apply(&plan)
                .await;
            prop_assert_eq!(report.entries.len(), case.rows.len());
            if case.delays > 0 {
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
            let requests = sandbox.requests();
            for (i, (_, pending)) in case.sims.iter().enumerate() {
                if pending.is_some() {
                    prop_assert!(
                        posts(&requests, &sids[i], &format!("pump-{i}")).is_empty(),
                        "a write to SIM {} with a change in progress", i
                    );
                }
            }
            for (k, e) in report.entries.iter().enumerate() {
                let (i, on, _) = case.rows[k];
                let i = i % case.sims.len();
                let ok = match &e.outcome {
                    ApplyOutcome::Pending { .. } => accepted(&sandbox, &case, &sids, i, on),
                    ApplyOutcome::Done { .. } => {
                        accepted(&sandbox, &case, &sids, i, on)
                            || already(&case, i, on)
                    }
                    ApplyOutcome::AlreadyThere | ApplyOutcome::Unchanged => {
                        already(&case, i, on)
                    }
                    _ => true,
                };
                prop_assert!(ok, "row {} {:?}: {:?}", k, case.rows[k], e.outcome);
            }
            // Without faults, one write per SIM that needed one, whatever the duplicates.
            if case.drops + case.fails.len() + case.delays == 0 && !case.throttle {
                let mut wanted: BTreeMap<usize, bool> = BTreeMap::new();
                for &(i, on, _) in &case.rows {
                    wanted.entry(i % case.sims.len()).or_insert(on);
                }
                for (i, on) in wanted {
                    let (was, pending) = case.sims[i];
                    let n = posts(&requests, &sids[i], &format!("pump-{i}")).len();
                    let expected = usize::from(pending.is_none() && was != on);
                    prop_assert_eq!(n, expected, "SIM {}", i);
                }
            }
            Ok(())
        })?;
    }
}

/// The JSON of a saved plan, edited by `edit` on its first change entry.
fn edited(plan: &Plan, edit: impl FnOnce(&mut serde_json::Value)) -> Plan {
    let mut json: serde_json::Value = serde_json::from_str(&plan.to_json().unwrap()).unwrap();
    let entry = json["entries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["action"] == "change")
        .unwrap();
    edit(entry);
    Plan::from_json(&json.to_string()).unwrap()
}

/// Item 5, as reported: a saved plan whose entry was edited into something the rules refuse
/// (a name Sixfab's rule forbids) was half-applied: the status sent, the name dropped, the row
/// done. The edit is caught by the digest; applied anyway, the entry is refused whole and
/// nothing of it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_an_edited_plan_entry_is_applied_whole_or_refused_whole() {
    use sixfab_client::sandbox::{AssetSeed, Sandbox, SandboxStatus};
    let sandbox = Sandbox::start().await.unwrap();
    sandbox.seed_asset(
        AssetSeed::new()
            .serial_number("SN-1")
            .name("pump 1")
            .status(SandboxStatus::Inactive),
    );
    sandbox.seed_asset(
        AssetSeed::new()
            .serial_number("SN-2")
            .name("pump 2")
            .status(SandboxStatus::Inactive),
    );
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let rows = ["SN-1", "SN-2"].map(|id| {
        Desired::new("sixfab", id)
            .state(SimState::Active)
            .name(simcore::SimName::parse(&format!("{id} station")).unwrap())
    });
    // A round trip through the file is no edit, charges and all.
    let priced = Planner::new([provider.clone()]).plan(rows.clone()).await;
    assert_eq!(priced.charges().priced(), 2, "{priced}");
    let back = Plan::from_json(&priced.to_json().unwrap()).unwrap();
    assert!(!back.is_edited());
    let plan = Planner::new([provider.clone()])
        .price(false)
        .plan(rows)
        .await;
    assert!(!plan.is_edited());
    let back = Plan::from_json(&plan.to_json().unwrap()).unwrap();
    assert!(!back.is_edited());
    let bad = edited(&plan, |e| e["rename"]["to"] = "bad\u{1}name".into());
    assert!(bad.is_edited());
    let patches = || {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count()
    };
    // Refused whole: every entry, nothing sent.
    let report = Applier::new([provider.clone()]).apply(&bad).await;
    assert_eq!(report.count(ApplyKind::Refused), 2, "{report}");
    assert!(
        matches!(&report.entries[0].outcome, ApplyOutcome::Refused { error } if error.message.contains("edited")),
        "{report:?}"
    );
    assert_eq!(patches(), 0);
    // Applied anyway: the edited entry is refused whole with the name rule, the other applied.
    let report = Applier::new([provider.clone()])
        .allow_edited(true)
        .apply(&bad)
        .await;
    match &report.entries[0].outcome {
        ApplyOutcome::Refused { error } => assert!(error.message.contains("name"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(report.entries[1].outcome.label(), "done", "{report}");
    assert_eq!(patches(), 1);
    assert_eq!(
        sandbox.asset("SN-1").unwrap().status,
        SandboxStatus::Inactive
    );
    assert_eq!(sandbox.asset("SN-1").unwrap().name, "pump 1");
    assert_eq!(sandbox.asset("SN-2").unwrap().name, "SN-2 station");
    // A target the lifecycle refuses: refused whole too.
    let plan = Planner::new([provider.clone()])
        .price(false)
        .plan([Desired::new("sixfab", "SN-1")
            .state(SimState::Active)
            .name(simcore::SimName::parse("north").unwrap())])
        .await;
    let bad = edited(&plan, |e| e["to"] = "deleted".into());
    let report = Applier::new([provider])
        .allow_edited(true)
        .apply(&bad)
        .await;
    assert_eq!(report.count(ApplyKind::Refused), 1, "{report}");
    assert_eq!(patches(), 1);
    assert_eq!(sandbox.asset("SN-1").unwrap().name, "pump 1");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Item 5: whatever edits a saved plan's change entries get (targets, names, any text),
    /// applied anyway, each entry is applied whole or refused whole: every asset either ends as
    /// its entry asks (status and name) or gets no write at all. Not allowed, an edited plan
    /// sends nothing.
    #[test]
    fn an_edited_plan_is_applied_whole_or_refused_whole(
        edits in prop::collection::vec(
            (
                prop::option::of(prop::sample::select(vec!["active", "inactive", "deleted", "retired", "frozen", "pending"])),
                prop::option::of(prop_oneof![
                    "[a-z][a-z0-9 ]{1,20}",
                    ".{0,70}",
                    Just(String::new()),
                ]),
            ),
            4,
        ),
    ) {
        use sixfab_client::sandbox::{AssetSeed, Sandbox, SandboxStatus};
        let rt = runtime();
        rt.block_on(async {
            let sandbox = Sandbox::start().await.unwrap();
            for i in 0..4 {
                sandbox.seed_asset(
                    AssetSeed::new()
                        .serial_number(format!("SN-{i}"))
                        .name(format!("pump {i}"))
                        .status(SandboxStatus::Inactive),
                );
            }
            let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
            let rows = (0..4).map(|i| {
                Desired::new("sixfab", format!("SN-{i}"))
                    .state(SimState::Active)
                    .name(simcore::SimName::parse(&format!("station {i}")).unwrap())
            });
            let plan = Planner::new([provider.clone()]).price(false).plan(rows).await;
            let mut json: serde_json::Value = serde_json::from_str(&plan.to_json().unwrap()).unwrap();
            for (entry, (to, name)) in json["entries"].as_array_mut().unwrap().iter_mut().zip(&edits) {
                if let Some(to) = to {
                    entry["to"] = (*to).into();
                }
                if let Some(name) = name {
                    entry["rename"]["to"] = name.clone().into();
                }
            }
            let Ok(bad) = Plan::from_json(&json.to_string()) else {
                return Ok(());
            };
            let writes = |sandbox: &Sandbox| -> BTreeSet<String> {
                sandbox
                    .requests()
                    .iter()
                    .filter(|r| r.method == "PATCH")
                    .map(|r| r.path.rsplit('/').next().unwrap().to_owned())
                    .collect()
            };
            if bad.is_edited() {
                let report = Applier::new([provider.clone()]).apply(&bad).await;
                prop_assert_eq!(report.count(ApplyKind::Refused), 4);
                prop_assert!(writes(&sandbox).is_empty());
            }
            let report = Applier::new([provider.clone()]).allow_edited(true).apply(&bad).await;
            let written = writes(&sandbox);
            for (i, e) in bad.entries.iter().enumerate() {
                let asset = sandbox.asset(&format!("SN-{i}")).unwrap();
                let Action::Change { to, rename, .. } = &e.action else {
                    continue;
                };
                let whole = to.as_ref().is_none_or(|t| {
                    *t == if asset.status == SandboxStatus::Active { SimState::Active } else { SimState::Inactive }
                }) && rename.as_ref().is_none_or(|r| r.to == asset.name);
                let untouched = asset.status == SandboxStatus::Inactive
                    && asset.name == format!("pump {i}")
                    && !written.contains(&format!("SN-{i}"));
                prop_assert!(whole || untouched, "entry {}: {:?} -> {:?}, asset {:?}", i, e.action, report.entries[i].outcome, asset);
                if report.entries[i].outcome.label() == "done" {
                    prop_assert!(whole, "entry {} reported done: {:?}", i, asset);
                }
            }
            Ok(())
        })?;
    }
}

/// Item 6, as reported: emnify answers an update `204`; another `2xx` with a body (here from
/// something in front of emnify: the sandbox never processed it) was counted done in a bulk run
/// although nothing changed. It is settled by reading the SIM back: not done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_an_answer_that_is_not_emnify_s_is_never_counted_done() {
    use emnify_client::sandbox::{Sandbox, SimSeed};
    let sandbox = Sandbox::start().await.unwrap();
    let ids: Vec<u64> = (0..6)
        .map(|i| sandbox.seed_sim(SimSeed::new().id(2000 + i).status(2)))
        .collect();
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    // Log in first, so the faults meet the updates.
    provider.fetch(&ids[0].to_string()).await.unwrap();
    let answers = [
        (200u16, r#"{"message":"ok"}"#),
        (201, "{}"),
        (202, r#"{"id": 2001}"#),
        (200, ""),
    ];
    for (k, (status, body)) in answers.into_iter().enumerate() {
        sandbox.server().clear_requests();
        sandbox.server().fail_next_with(
            1,
            status,
            bytes::Bytes::from_static(body.as_bytes()),
            "application/json",
        );
        let mut seen = Vec::new();
        let report = BulkUpdater::new(provider.clone())
            .run_with(
                futures_util::stream::iter([BulkItem::new(
                    ids[k].to_string(),
                    SimChange::new().state(SimState::Active),
                )]),
                |o| seen.push(o.outcome.clone()),
            )
            .await;
        match &seen[..] {
            [Outcome::Failed(e)] => {
                assert!(matches!(e, simcore::Error::Decode { .. }), "{status}: {e}");
                assert_eq!(e.sent(), simcore::error::Sent::Maybe);
            }
            other => panic!("{status} {body:?}: {other:?}"),
        }
        assert_eq!((report.done, report.verified), (0, 0), "{report}");
        // The judge: one update received (and never processed), one read back, the SIM as it
        // was.
        let methods: Vec<String> = sandbox
            .requests()
            .iter()
            .map(|r| r.method.clone())
            .collect();
        assert_eq!(methods, ["PATCH", "GET"], "{status}");
        assert_eq!(sandbox.sim(ids[k]).unwrap().status, 2);
    }
    // emnify's own answer is done.
    sandbox.server().clear_requests();
    let report = BulkUpdater::new(provider)
        .run([BulkItem::new(
            ids[5].to_string(),
            SimChange::new().state(SimState::Active),
        )])
        .await;
    assert_eq!(report.done, 1, "{report}");
    assert_eq!(sandbox.sim(ids[5]).unwrap().status, 1);
    assert_eq!(sandbox.requests().len(), 1);
}

/// Item 8: the library reads provider ids in any case and with aliases, as simctl does (one
/// parser), and a line that cannot be read is refused with its line number while the rest are
/// planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_csv_rows_name_providers_in_any_case_and_a_broken_line_stays_alone() {
    let sandbox = held().await;
    sandbox.seed_sim(
        SimSeed::new()
            .unique_name("pump-1")
            .status(SimStatus::Inactive),
    );
    sandbox.seed_sim(
        SimSeed::new()
            .unique_name("pump-2")
            .status(SimStatus::Inactive),
    );
    let emnify = emnify_client::sandbox::Sandbox::start().await.unwrap();
    emnify.seed_sim(emnify_client::sandbox::SimSeed::new().id(1001).status(2));
    let providers: Vec<Arc<dyn SimProvider>> =
        vec![Arc::new(sandbox.client()), Arc::new(emnify.client())];
    let csv = "Provider,ID,Status\nTwilio,pump-1,active\nSuper-SIM,pump-2,active\nEMNIFY,1001\nemnify,1001,active\n";
    let rows = Desired::from_csv(csv.as_bytes()).unwrap();
    let plan = Planner::new(providers).price(false).plan(rows).await;
    let labels: Vec<&str> = plan.entries.iter().map(|e| e.action.label()).collect();
    assert_eq!(labels, ["change", "change", "refused", "change"], "{plan}");
    assert_eq!(plan.entries[1].provider, "supersim"); // one stable id, whatever the dialect
    match &plan.entries[2].action {
        Action::Refused { error } => {
            assert!(
                error.message.starts_with("invalid row: line 4: "),
                "{error}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(sandbox.requests().iter().all(|r| r.method == "GET"));
}

/// Reads the first page of `provider`'s listing (pages of 2), makes the next page fail once,
/// and resumes at the position the listing gives: every SIM is read once, and the request log
/// shows each page asked for once, the failed one twice, and never page 1 again.
async fn resumes_at_the_page_that_failed(
    provider: &dyn SimProvider,
    server: &simsandbox::SandboxServer,
    total: usize,
    is_list: impl Fn(&RecordedRequest) -> bool,
) {
    use futures_util::{StreamExt, TryStreamExt};
    let options = simcore::ListOptions::new().page_size(2);
    let mut pages = provider.list(&options);
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.len(), 2, "{}", provider.name());
    server.fail_next(1, 503);
    let err = pages.next().await.unwrap().unwrap_err();
    assert_eq!(err.status(), Some(503), "{}", provider.name());
    let at = pages
        .position()
        .cloned()
        .unwrap_or_else(|| panic!("{}: no position to resume at", provider.name()));
    let rest: Vec<Vec<simcore::SimSnapshot>> = provider
        .list(&options.clone().resume_from(at))
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<String> = first
        .iter()
        .chain(rest.iter().flatten())
        .map(|s| s.id.clone())
        .collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!((n, ids.len()), (total, total), "{}", provider.name());
    let lists = server.requests().iter().filter(|r| is_list(r)).count();
    assert_eq!(lists, total.div_ceil(2) + 1, "{}", provider.name());
}

/// Item 7, as reported: an error on a late page ended a listing, and listing again started at
/// page 1. Each provider's listing says where it stood, and resumes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_each_provider_s_listing_resumes_at_the_page_that_failed() {
    let none = RetryPolicy::none();
    // Super SIM: a page token (the next page's link).
    let sandbox = Sandbox::start().await.unwrap();
    for i in 0..5 {
        sandbox.seed_sim(SimSeed::new().unique_name(format!("pump-{i}")));
    }
    let client = sandbox
        .client_builder()
        .retry(none.clone())
        .build()
        .unwrap();
    resumes_at_the_page_that_failed(&client, sandbox.server(), 5, |r| {
        r.path.trim_end_matches('/') == "/v1/Sims"
    })
    .await;
    // emnify: numbered pages.
    let emnify = emnify_client::sandbox::Sandbox::start().await.unwrap();
    for i in 0..5 {
        emnify.seed_sim(
            emnify_client::sandbox::SimSeed::new()
                .id(3000 + i)
                .status(1),
        );
    }
    let client = emnify.client_builder().retry(none.clone()).build().unwrap();
    resumes_at_the_page_that_failed(&client, emnify.server(), 5, |r| {
        r.method == "GET" && r.path.trim_end_matches('/') == "/api/v1/sim"
    })
    .await;
    // Sixfab.
    let sixfab = sixfab_client::sandbox::Sandbox::start().await.unwrap();
    for i in 0..5 {
        sixfab
            .seed_asset(sixfab_client::sandbox::AssetSeed::new().serial_number(format!("SN-{i}")));
    }
    let client = sixfab.client_builder().retry(none.clone()).build().unwrap();
    resumes_at_the_page_that_failed(&client, sixfab.server(), 5, |r| {
        r.method == "GET" && r.path.trim_end_matches('/').ends_with("/assets")
    })
    .await;
    // EdgeIQ.
    let edgeiq = edgeiq_client::sandbox::Sandbox::start().await.unwrap();
    for i in 0..5u64 {
        edgeiq.seed_sim(
            edgeiq_client::sandbox::SimSeed::new()
                .id(format!("{:024x}", 0x65f2_0000_0000u64 + i))
                .status("active"),
        );
    }
    let client = edgeiq.client_builder().retry(none).build().unwrap();
    resumes_at_the_page_that_failed(&client, edgeiq.server(), 5, |r| {
        r.method == "GET" && r.path.trim_end_matches('/').ends_with("/sims")
    })
    .await;
}

/// Item 7 through a plan: a listing throttled on its later pages (a rate limit that admits one
/// request at a time) is read again from the page that was refused, within the planner's retry
/// policy, never from page 1, and no SIM is left to single fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_plan_reads_a_throttled_page_again_from_there() {
    let sixfab = sixfab_client::sandbox::Sandbox::start().await.unwrap();
    for i in 0..9 {
        sixfab.seed_asset(
            sixfab_client::sandbox::AssetSeed::new()
                .serial_number(format!("SN-{i}"))
                .status(sixfab_client::sandbox::SandboxStatus::Inactive),
        );
    }
    sixfab.server().set_rate_limit(Some(RateLimit {
        per_second: 20.0,
        burst: 1,
        retry_after: false,
    }));
    let provider: Arc<dyn SimProvider> = Arc::new(
        sixfab
            .client_builder()
            .retry(RetryPolicy::none())
            .build()
            .unwrap(),
    );
    let rows = (0..9).map(|i| Desired::new("sixfab", format!("SN-{i}")).state(SimState::Active));
    let plan = Planner::new([provider])
        .fetch_at_most(0)
        .page_size(2)
        .price(false)
        .retry(
            RetryPolicy::default()
                .with_max_attempts(20)
                .with_backoff(Duration::from_millis(20), Duration::from_millis(100)),
        )
        .plan(rows)
        .await;
    assert_eq!(plan.count(ActionKind::Change), 9, "{plan}");
    let reads = plan.reads["sixfab"];
    assert_eq!((reads.list_pages, reads.fetches), (5, 0), "{reads:?}");
    assert!(reads.pages_retried > 0, "the limit was met: {reads:?}");
    let pages: Vec<String> = sixfab
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect();
    // Each page answered once; the refused ones asked again, never page 1 after the first.
    let first_pages = pages
        .iter()
        .filter(|q| q.contains("page=1&") || q.ends_with("page=1"))
        .count();
    assert_eq!(first_pages, 1, "{pages:?}");
    assert_eq!(pages.len() as u64, 5 + reads.pages_retried, "{pages:?}");
}
