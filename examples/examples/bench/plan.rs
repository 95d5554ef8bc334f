//! P7: planning a fleet through `simfleet::plan` against a hand-written reqwest loop that pages
//! the same list, and what a plan holds per entry. And P1 with telemetry compiled in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use simcore::{SimProvider, SimState};
use simfleet::plan::{ActionKind, Desired, Planner};
use supersim_client::sandbox::{Sandbox, SimSeed, SimStatus};

use super::{PEAK, line, quick};

/// A Super SIM sandbox with `n` SIMs named `pump-NNNNNN`, 3 in 10 active, and the rows that ask
/// for all of them active.
async fn fleet(n: usize) -> (Sandbox, Vec<Desired>) {
    let sandbox = Sandbox::start().await.expect("a sandbox");
    sandbox.server().set_recording(false);
    sandbox.seed_sims((0..n).map(|i| {
        SimSeed::new()
            .unique_name(format!("pump-{i:06}"))
            .status(if i % 10 < 3 {
                SimStatus::Active
            } else {
                SimStatus::Inactive
            })
    }));
    let rows = (0..n)
        .map(|i| Desired::new("supersim", format!("pump-{i:06}")).state(SimState::Active))
        .collect();
    (sandbox, rows)
}

#[derive(serde::Deserialize)]
struct RawPage {
    sims: Vec<RawSim>,
    meta: RawMeta,
}

#[derive(serde::Deserialize)]
struct RawSim {
    unique_name: Option<String>,
    status: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawMeta {
    next_page_url: Option<String>,
}

/// What a careful hand-written planner decides per row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RawDecision {
    Unchanged,
    Change,
    Missing,
}

/// The same plan by hand: page `GET /v1/Sims` at 1000, match each SIM to its row by name, and
/// decide each row.
async fn raw_plan(raw: &reqwest::Client, sandbox: &Sandbox, rows: &[Desired]) -> Vec<RawDecision> {
    let mut wanted: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut decisions = vec![RawDecision::Missing; rows.len()];
    let mut url = format!("{}/v1/Sims?PageSize=1000", sandbox.base_url());
    let token = simcore::secrecy::ExposeSecret::expose_secret(&sandbox.auth_token()).to_owned();
    loop {
        let body = raw
            .get(&url)
            .basic_auth(sandbox.account_sid(), Some(&token))
            .send()
            .await
            .expect("a page")
            .bytes()
            .await
            .expect("its body");
        let page: RawPage = serde_json::from_slice(&body).expect("a Twilio page");
        for sim in page.sims {
            let Some(name) = sim.unique_name else {
                continue;
            };
            if let Some(i) = wanted.remove(name.as_str()) {
                decisions[i] = if sim.status.as_deref() == Some("active") {
                    RawDecision::Unchanged
                } else {
                    RawDecision::Change
                };
            }
        }
        match page.meta.next_page_url {
            Some(next) if !next.is_empty() && !wanted.is_empty() => url = next,
            _ => break,
        }
    }
    decisions
}

async fn sdk_plan(client: &supersim_client::Client, rows: Vec<Desired>) -> simfleet::plan::Plan {
    let p: std::sync::Arc<dyn SimProvider> = std::sync::Arc::new(client.clone());
    Planner::new([p]).price(false).plan(rows).await
}

/// The heap the rows hold (they are consumed by the plan).
fn rows_bytes(rows: &Vec<Desired>) -> usize {
    rows.capacity() * std::mem::size_of::<Desired>()
        + rows
            .iter()
            .map(|r| r.provider.capacity() + r.id.capacity())
            .sum::<usize>()
}

pub async fn p7() {
    let big = if quick() { 20_000 } else { 100_000 };
    let small = big / 10;
    // Memory: the peak heap while planning, at 10x the SIMs.
    let mut peaks = Vec::new();
    for n in [small, big] {
        let (sandbox, rows) = fleet(n).await;
        let client = sandbox.client();
        // The rows are the input, not the plan: measured from before they exist.
        let before = PEAK.current_usage().saturating_sub(rows_bytes(&rows));
        PEAK.reset_peak_usage();
        let plan = sdk_plan(&client, rows).await;
        let peak = PEAK.peak_usage().saturating_sub(before);
        assert_eq!(plan.entries.len(), n);
        assert_eq!(plan.reads["supersim"].fetches, 0);
        let held = PEAK.current_usage().saturating_sub(before);
        drop(plan);
        peaks.push((n, peak, held));
    }
    let (n0, p0, h0) = peaks[0];
    let (n1, p1, h1) = peaks[1];
    let per_entry_held = (h1.saturating_sub(h0)) as f64 / (n1 - n0) as f64;
    let per_entry_peak = (p1.saturating_sub(p0)) as f64 / (n1 - n0) as f64;
    println!(
        "# P7 plan memory: peak {:.1} MiB at {n0} SIMs, {:.1} MiB at {n1}; the plan holds {:.0} bytes an entry \
         (an Entry is {} bytes plus its provider and id strings), the peak adds {:.0} bytes an entry",
        p0 as f64 / 1048576.0,
        p1 as f64 / 1048576.0,
        per_entry_held,
        std::mem::size_of::<simfleet::plan::Entry>(),
        per_entry_peak
    );
    line("P7_plan_peak_bytes_per_entry", per_entry_peak, "<=600");
    line("P7_plan_held_bytes_per_entry", per_entry_held, "<=200");

    // Time: paired rounds at the big size, each side going first in turn.
    let (sandbox, rows) = fleet(big).await;
    let client = sandbox.client();
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a raw client");
    let rounds = if quick() { 3 } else { 7 };
    let mut ratios = Vec::new();
    let (mut sdk_times, mut raw_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut t_sdk = Duration::ZERO;
        let mut t_raw = Duration::ZERO;
        for turn in 0..2 {
            if (turn == 0) == (round % 2 == 0) {
                // The planner takes its rows: their copy is made before the clock starts.
                let input = rows.clone();
                let start = Instant::now();
                let plan = sdk_plan(&client, input).await;
                t_sdk = start.elapsed();
                assert_eq!(plan.count(ActionKind::Change), big * 7 / 10);
            } else {
                let start = Instant::now();
                let d = raw_plan(&raw, &sandbox, &rows).await;
                t_raw = start.elapsed();
                assert_eq!(
                    d.iter().filter(|x| **x == RawDecision::Change).count(),
                    big * 7 / 10
                );
            }
        }
        ratios.push(t_sdk.as_secs_f64() / t_raw.as_secs_f64());
        sdk_times.push(t_sdk);
        raw_times.push(t_raw);
    }
    ratios.sort_by(f64::total_cmp);
    sdk_times.sort();
    raw_times.sort();
    println!(
        "# P7 planning {big} SIMs: sdk {:.0} ms, raw {:.0} ms (medians of {rounds} paired rounds; ratios {:.2}..{:.2})",
        sdk_times[rounds / 2].as_secs_f64() * 1e3,
        raw_times[rounds / 2].as_secs_f64() * 1e3,
        ratios[0],
        ratios[rounds - 1]
    );
    line("P7_plan_time_ratio", ratios[rounds / 2], "<=1.10");
}

/// P1 again in a build with the `tracing` feature (and no subscriber), as a child process: the
/// ratio of its P1 ratio to this build's.
/// Where the traced build goes: `bench-traced` beside this build's profile directory
/// (`target/bench-traced` for `target/release/examples/bench`).
fn traced_target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/examples/bench -> target
    let target = exe.ancestors().nth(3).map(std::path::Path::to_path_buf);
    target
        .unwrap_or_else(|| std::path::PathBuf::from("target"))
        .join("bench-traced")
}

pub fn p1_tracing(own_ratio: f64) {
    let Ok(cargo) = std::env::var("CARGO") else {
        println!("# P1T skipped: run through cargo (cargo run --release --example bench)");
        return;
    };
    let out = std::process::Command::new(cargo)
        .args([
            "run",
            "--release",
            "-q",
            "--example",
            "bench",
            "--features",
            "sim-examples/tracing",
        ])
        .env("BENCH_ONLY", "P1")
        .env("BENCH_CHILD", "1")
        // Its own target directory: built in the usual one, the traced binary would replace
        // this running one, and P6 starts its workers from this binary's path.
        .env("CARGO_TARGET_DIR", traced_target_dir())
        .output();
    let Ok(out) = out else {
        println!("# P1T skipped: the traced build could not be started");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(theirs) = text.lines().find_map(|l| {
        l.strip_prefix("P1_update_median_ratio ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    }) else {
        println!("# P1T skipped: the traced build printed no P1 line");
        return;
    };
    println!(
        "# P1T: P1 ratio {theirs:.3} with tracing compiled in (no subscriber), {own_ratio:.3} without"
    );
    line("P1_tracing_compiled_in_ratio", theirs / own_ratio, "<=1.02");
}
