//! Fleet: a desired state for many SIMs across providers, planned, reviewed and applied, with a
//! progress bar and one outcome for every row.
//!
//! Run:
//! - `cargo run --example fleet`: the bundled `examples/data/fleet.csv`, planned and applied on
//!   local sandboxes seeded with its SIMs, then planned again (nothing is left to do);
//! - `cargo run --example fleet -- plan FILE.csv [--out plan.json] [--prices PRICES.json|.toml]`:
//!   reads the current states, prints the plan as a table (unchanged, change from → to with its
//!   charge, refused with the rule, not found) and saves it;
//! - `cargo run --example fleet -- apply plan.json`: applies a saved plan: each SIM is read again,
//!   only what is still as the plan saw it is sent, a SIM changed behind the plan's back is
//!   reported stale and not touched, each entry is applied whole or refused whole, and a plan
//!   edited since it was saved is refused; apply waits for Super SIM's scheduled changes to
//!   settle before it reports.
//!
//! The CSV has a header and the columns `provider` (`twilio`, `kore`, `emnify`, `sixfab`,
//! `edgeiq`, in any case, or an alias such as `super-sim`), `id` (the provider's id of the SIM or
//! asset), `target` (or `state`, or `status`: `active`, `inactive`, `ready`, `retired`) and
//! optionally `name`. A line that cannot be read is refused with its line number; the others
//! are planned (`simfleet::rows`).
//!
//! A provider whose credentials are in the environment (the same variables as its own example:
//! `KORE_CLIENT_ID`/`KORE_CLIENT_SECRET` or `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`,
//! `EMNIFY_APPLICATION_TOKEN`, `SIXFAB_API_KEY`, `EDGEIQ_API_TOKEN`) is the real one when a file
//! of your own is given, and `apply` then changes real SIMs: review the plan first. Otherwise
//! each provider is a local sandbox seeded with the file's SIMs (for `apply`, in the states the
//! plan saw).

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use sim_examples::{env_set, heading};
use simcore::charge::PriceBooks;
use simcore::{SimProvider, SimState};
use simfleet::plan::{Action, ActionKind, Applier, Desired, Plan, Planner};

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fleet.csv");

/// What keeps the sandboxes alive while the run uses them.
type Keep = Vec<Box<dyn std::any::Any>>;

/// A SIM to seed in a sandbox: its id and state.
type Seed = (String, SimState);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            let value_of_a_flag = *i > 0 && matches!(args[i - 1].as_str(), "--out" | "--prices");
            !a.starts_with("--") && !value_of_a_flag
        })
        .map(|(_, a)| a)
        .collect();
    let books = match flag("--prices") {
        Some(path) => PriceBooks::load(path)?,
        None => PriceBooks::new(),
    };
    match positional.first().map(|s| s.as_str()) {
        Some("plan") => {
            let file = positional.get(1).ok_or("plan needs a CSV file")?;
            let rows = read_rows(file)?;
            let seeds = seeds_from_rows(&rows);
            let mut keep = Keep::new();
            let providers = providers(&seeds, true, &mut keep).await?;
            let plan = plan(&providers, rows, books).await;
            if let Some(out) = flag("--out") {
                std::fs::write(&out, plan.to_json()?)?;
                println!("plan saved to {out}: apply it with `fleet apply {out}`");
            }
            println!(
                "\n{} of {} rows planned: fleet plan done",
                plan.entries.len(),
                plan.entries.len()
            );
        }
        Some("apply") => {
            let file = positional.get(1).ok_or("apply needs a plan file")?;
            let plan = Plan::from_json(&std::fs::read_to_string(file)?)?;
            let mut keep = Keep::new();
            let providers = providers(&seeds_from_plan(&plan), true, &mut keep).await?;
            let report = apply(&providers, &plan).await;
            println!(
                "\n{} of {} rows accounted for: fleet apply done",
                report.entries.len(),
                plan.entries.len()
            );
        }
        Some(other) => return Err(format!("unknown command {other:?}: plan or apply").into()),
        None => {
            println!("the bundled examples/data/fleet.csv, on local sandboxes");
            let rows = read_rows(BUNDLED)?;
            let total = rows.len();
            let seeds = seeds_from_rows(&rows);
            let mut keep = Keep::new();
            let providers = providers(&seeds, false, &mut keep).await?;
            let first = plan(&providers, rows.clone(), books.clone()).await;
            let report = apply(&providers, &first).await;
            heading("the same desired state again");
            let again = Planner::new(providers.values().cloned())
                .price(false)
                .plan(rows)
                .await;
            println!(
                "{} unchanged, {} changes left, {} in progress, {} refused, {} not found",
                again.count(ActionKind::Unchanged),
                again.count(ActionKind::Change),
                again.count(ActionKind::InProgress),
                again.count(ActionKind::Refused),
                again.count(ActionKind::NotFound)
            );
            println!(
                "\n{} of {total} rows accounted for: fleet done",
                report.entries.len()
            );
        }
    }
    Ok(())
}

/// Plans the rows and prints the plan.
async fn plan(
    providers: &BTreeMap<String, Arc<dyn SimProvider>>,
    rows: Vec<Desired>,
    books: PriceBooks,
) -> Plan {
    heading("plan");
    let no_books = books.providers().next().is_none();
    let plan = Planner::new(providers.values().cloned())
        .price_books(books)
        .plan(rows)
        .await;
    print!("{plan}");
    if no_books && plan.charges().unpriced_count() > 0 {
        println!(
            "(give your contracts' prices with --prices FILE to price the other providers' rows)"
        );
    }
    plan
}

/// Applies a plan with a progress bar and prints the outcome of every row.
async fn apply(
    providers: &BTreeMap<String, Arc<dyn SimProvider>>,
    plan: &Plan,
) -> simfleet::plan::ApplyReport {
    heading("apply");
    let bar = ProgressBar::new(plan.entries.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = bar.clone();
    // Super SIM applies a status change a moment after it accepts it (`202 scheduled`): wait
    // for those changes to settle, so the report says where each SIM ended up and a plan made
    // right after finds nothing left to do.
    let report = Applier::new(providers.values().cloned())
        .wait(std::time::Duration::from_secs(30))
        .on_progress(move |done, _| progress.set_position(done as u64))
        .apply(plan)
        .await;
    bar.finish_and_clear();
    for e in &report.entries {
        let detail = match &e.outcome {
            simfleet::plan::ApplyOutcome::Stale { planned, found } => {
                format!(": the plan saw {planned}, it is {found} now")
            }
            simfleet::plan::ApplyOutcome::Refused { error }
            | simfleet::plan::ApplyOutcome::Failed { error }
            | simfleet::plan::ApplyOutcome::NotFound { error }
            | simfleet::plan::ApplyOutcome::ReadError { error } => format!(": {error}"),
            simfleet::plan::ApplyOutcome::InProgress { waits_for, .. } => {
                format!(": waits for {waits_for}")
            }
            _ => String::new(),
        };
        if !matches!(e.outcome, simfleet::plan::ApplyOutcome::Unchanged) {
            println!(
                "row {} {} {}: {}{detail}",
                e.row + 1,
                e.provider,
                e.id,
                e.outcome.label()
            );
        }
    }
    println!("{report}");
    report
}

/// The rows of a CSV (provider ids in any case, with aliases: `simfleet::rows`).
fn read_rows(path: &str) -> Result<Vec<Desired>, Box<dyn Error>> {
    Ok(Desired::from_csv(std::fs::File::open(path)?)?)
}

/// The SIMs to seed for a CSV: each row's SIM, inactive (a fleet's SIMs before it is brought up).
fn seeds_from_rows(rows: &[Desired]) -> BTreeMap<String, Vec<Seed>> {
    let mut seeds: BTreeMap<String, Vec<Seed>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        // Every third SIM is already where it should be, to show what a plan leaves alone.
        let state = match (&r.state, i % 3) {
            (Some(s), 0) if !s.is_unknown() && *s != SimState::New => s.clone(),
            _ => SimState::Inactive,
        };
        seeds
            .entry(r.provider.clone())
            .or_default()
            .push((r.id.clone(), state));
    }
    seeds
}

/// The SIMs to seed for a saved plan: each in the state the plan saw.
fn seeds_from_plan(plan: &Plan) -> BTreeMap<String, Vec<Seed>> {
    let mut seeds: BTreeMap<String, Vec<Seed>> = BTreeMap::new();
    for e in &plan.entries {
        let state = match &e.action {
            Action::Unchanged { state } => state.clone(),
            Action::Change { from, .. } => from.clone(),
            _ => continue,
        };
        seeds
            .entry(e.provider.clone())
            .or_default()
            .push((e.id.clone(), state));
    }
    seeds
}

/// Each provider the seeds name: the real one when `own_file` and its credentials are set,
/// otherwise a sandbox seeded with its SIMs.
async fn providers(
    seeds: &BTreeMap<String, Vec<Seed>>,
    own_file: bool,
    keep: &mut Keep,
) -> Result<BTreeMap<String, Arc<dyn SimProvider>>, Box<dyn Error>> {
    let mut out = BTreeMap::new();
    for (name, sims) in seeds {
        let real = own_file
            && match name.as_str() {
                "twilio" => env_set("TWILIO_ACCOUNT_SID") || env_set("TWILIO_API_KEY"),
                "kore" => env_set("KORE_CLIENT_ID"),
                "emnify" => env_set("EMNIFY_APPLICATION_TOKEN"),
                "sixfab" => env_set("SIXFAB_API_KEY"),
                "edgeiq" => env_set("EDGEIQ_API_TOKEN"),
                _ => false,
            };
        let p: Arc<dyn SimProvider> = match (name.as_str(), real) {
            ("twilio" | "kore", true) => Arc::new(supersim_client::Client::from_env()?),
            ("emnify", true) => Arc::new(emnify_client::Client::from_env()?),
            ("sixfab", true) => Arc::new(sixfab_client::Client::from_env()?),
            ("edgeiq", true) => Arc::new(edgeiq_client::Client::from_env()?),
            ("twilio" | "kore", false) => {
                use supersim_client::sandbox::{Sandbox, SandboxOptions, SimSeed, SimStatus};
                let options = if name == "kore" {
                    SandboxOptions::kore()
                } else {
                    SandboxOptions::new()
                };
                // Scheduled changes land after the sandbox's default delay, as on Twilio a
                // moment after the 202: apply waits for them.
                let sandbox = Sandbox::start_with(options).await?;
                for (id, state) in sims {
                    let status = match state {
                        SimState::Active => SimStatus::Active,
                        SimState::Ready => SimStatus::Ready,
                        SimState::New => SimStatus::New,
                        _ => SimStatus::Inactive,
                    };
                    sandbox.seed_sim(SimSeed::new().unique_name(id).status(status));
                }
                let client = sandbox.client();
                keep.push(Box::new(sandbox));
                Arc::new(client)
            }
            ("emnify", false) => {
                use emnify_client::sandbox::{Sandbox, SimSeed};
                let sandbox = Sandbox::start().await?;
                for (id, state) in sims {
                    if let Ok(id) = id.parse::<u64>() {
                        let status = if *state == SimState::Active { 1 } else { 2 };
                        sandbox.seed_sim(SimSeed::new().id(id).status(status));
                    }
                }
                let client = sandbox.client();
                keep.push(Box::new(sandbox));
                Arc::new(client)
            }
            ("sixfab", false) => {
                use sixfab_client::sandbox::{AssetSeed, Sandbox, SandboxStatus};
                let sandbox = Sandbox::start().await?;
                for (id, state) in sims {
                    let status = if *state == SimState::Active {
                        SandboxStatus::Active
                    } else {
                        SandboxStatus::Inactive
                    };
                    sandbox.seed_asset(AssetSeed::new().serial_number(id).status(status));
                }
                let client = sandbox.client();
                keep.push(Box::new(sandbox));
                Arc::new(client)
            }
            ("edgeiq", false) => {
                use edgeiq_client::sandbox::{Sandbox, SimSeed};
                let sandbox = Sandbox::start().await?;
                for (id, state) in sims.iter().filter(|(id, _)| id.len() == 24) {
                    sandbox.seed_sim(SimSeed::new().id(id).status(state.as_str()));
                }
                let client = sandbox.client();
                keep.push(Box::new(sandbox));
                Arc::new(client)
            }
            _ => continue,
        };
        println!(
            "{name}: {} SIMs, {}",
            sims.len(),
            if real {
                "the real provider (its credentials are set)"
            } else {
                "a local sandbox seeded with these SIMs"
            }
        );
        out.insert(p.name().to_owned(), p);
    }
    Ok(out)
}
