//! Fleet: bulk status changes from a CSV file, across providers, with a progress bar and a report
//! that accounts for every row.
//!
//! Run: `cargo run --example fleet` (the bundled `examples/data/fleet.csv`, against local
//! sandboxes seeded with its SIMs), or
//! `cargo run --example fleet -- FILE.csv [--dry-run] [--prices PRICES.json|.toml]`.
//!
//! The CSV has a header and three columns: `provider` (`twilio`, `emnify`, `sixfab`, `edgeiq`),
//! `id` (the provider's id of the SIM or asset) and `target` (`active`, `inactive`, `ready`,
//! `retired`). Each provider's rows go through the bulk updater of `simcore`, all providers at
//! once.
//!
//! - `--dry-run` checks every row, fetches each SIM's current state to check the move against
//!   the provider's lifecycle, previews each change's charge, and sends no update. The charges
//!   are totalled per provider and overall, as ranges; rows that cannot be priced (every
//!   provider but Sixfab publishes no prices) are counted and named, never counted as $0.
//! - `--prices FILE` gives price books for the dry run's previews: one table (TOML) or object
//!   (JSON) per provider, keyed by its name (`[emnify.sim] active_monthly = "1.50"`), see
//!   `simcore::charge::PriceBooks`.
//! - With a FILE of your own, a provider whose credentials are in the environment (the same
//!   variables as its own example: `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`,
//!   `EMNIFY_APPLICATION_TOKEN`, `SIXFAB_API_KEY`, `EDGEIQ_API_TOKEN`) is the real one, and its
//!   rows change real SIMs: try `--dry-run` first. The bundled file always runs on sandboxes.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use sim_examples::{env_set, heading};
use simcore::bulk::{BulkItem, BulkUpdater, Outcome, Report};
use simcore::charge::{ChargeTotal, PriceBooks, Pricing};
use simcore::{SimChange, SimProvider, SimState};

const BUNDLED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/fleet.csv");

/// One CSV row.
#[derive(Debug, serde::Deserialize)]
struct Row {
    provider: String,
    id: String,
    target: String,
}

/// What keeps the sandboxes alive while the run uses them.
type Keep = Vec<Box<dyn std::any::Any>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dry_run = args.iter().any(|a| a == "--dry-run");
    let prices_at = args.iter().position(|a| a == "--prices");
    let books = match prices_at.and_then(|i| args.get(i + 1)) {
        Some(path) => PriceBooks::load(path)?,
        None if prices_at.is_some() => return Err("--prices needs a file".into()),
        None => PriceBooks::new(),
    };
    let file = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && prices_at.is_none_or(|p| *i != p + 1))
        .map(|(_, a)| a.clone());
    let path = file.clone().unwrap_or_else(|| BUNDLED.to_owned());
    let rows = read_rows(&path)?;
    println!(
        "{} rows from {}{}",
        rows.len(),
        file.as_deref()
            .unwrap_or("the bundled examples/data/fleet.csv"),
        if dry_run {
            " (dry run: no update is sent)"
        } else {
            ""
        }
    );

    // Group the rows by provider, keeping each row's line for the report.
    let mut by_provider: BTreeMap<String, Vec<(usize, Row)>> = BTreeMap::new();
    for (line, row) in rows.into_iter().enumerate() {
        by_provider
            .entry(row.provider.to_ascii_lowercase())
            .or_default()
            .push((line + 2, row));
    }

    let mut keep: Keep = Vec::new();
    let mut runs = Vec::new();
    let mut unknown = Vec::new();
    let total: usize = by_provider.values().map(Vec::len).sum();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for (name, rows) in by_provider {
        let Some(provider) = provider(&name, &rows, file.is_some(), &mut keep).await? else {
            unknown.extend(rows);
            continue;
        };
        let lines: Vec<usize> = rows.iter().map(|(line, _)| *line).collect();
        let items: Vec<BulkItem> = rows
            .into_iter()
            .map(|(_, row)| BulkItem::new(row.id, change(&row.target)))
            .collect();
        let updater = BulkUpdater::new(provider.clone())
            .concurrency(16)
            .dry_run(dry_run)
            .fetch_current(dry_run)
            .pricing(Pricing::today().with_book(books.for_provider(provider.name())));
        let bar = bar.clone();
        runs.push(async move {
            let report = updater
                .run_with(futures_util::stream::iter(items), |o| {
                    bar.inc(1);
                    if let Outcome::Failed(e) = &o.outcome {
                        bar.set_message(format!("last failure: {e}"));
                    }
                })
                .await;
            (provider.name(), report, lines)
        });
    }
    let reports: Vec<(&str, Report, Vec<usize>)> = futures_util::future::join_all(runs).await;
    bar.finish_and_clear();

    heading("report");
    let mut accounted = unknown.len();
    let mut charges = ChargeTotal::new();
    for (name, report, lines) in &reports {
        accounted += report.total;
        charges.merge(&report.charges);
        println!("{name}: {report}");
        for (index, id, error) in &report.failures {
            let kind = if error.was_not_sent() {
                "refused"
            } else {
                "failed"
            };
            println!("  line {} ({id}): {kind}: {error}", lines[*index]);
        }
    }
    for (line, row) in &unknown {
        println!(
            "line {line} ({}): refused: unknown provider {:?} (twilio, emnify, sixfab or edgeiq)",
            row.id, row.provider
        );
    }
    if dry_run {
        heading("what the changes would cost (the rows that would apply)");
        println!("{charges}");
        if charges.unpriced_count() > 0 && books.providers().next().is_none() {
            println!(
                "give your contracts' prices with --prices FILE to price the other providers' rows"
            );
        }
    }
    println!("\n{accounted} of {total} rows accounted for: fleet done");
    drop(keep);
    Ok(())
}

fn read_rows(path: &str) -> Result<Vec<Row>, Box<dyn Error>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)?;
    let mut rows = Vec::new();
    for row in reader.deserialize() {
        rows.push(row?);
    }
    Ok(rows)
}

/// The change a row asks for. A word that is not a state becomes `Unknown`, which every
/// provider refuses before sending, so the row still gets its outcome.
fn change(target: &str) -> SimChange {
    SimChange::new().state(SimState::from_word(target))
}

/// The provider for a group of rows: the real one when a file was given and its credentials are
/// set, otherwise a sandbox seeded with the rows' SIMs. `None` for an unknown provider name.
async fn provider(
    name: &str,
    rows: &[(usize, Row)],
    own_file: bool,
    keep: &mut Keep,
) -> Result<Option<Arc<dyn SimProvider>>, Box<dyn Error>> {
    let ids = rows.iter().map(|(_, r)| r.id.as_str());
    let real = own_file
        && match name {
            "twilio" => env_set("TWILIO_ACCOUNT_SID") || env_set("TWILIO_API_KEY"),
            "emnify" => env_set("EMNIFY_APPLICATION_TOKEN"),
            "sixfab" => env_set("SIXFAB_API_KEY"),
            "edgeiq" => env_set("EDGEIQ_API_TOKEN"),
            _ => false,
        };
    let p: Arc<dyn SimProvider> = match (name, real) {
        ("twilio", true) => Arc::new(supersim_client::Client::from_env()?),
        ("emnify", true) => Arc::new(emnify_client::Client::from_env()?),
        ("sixfab", true) => Arc::new(sixfab_client::Client::from_env()?),
        ("edgeiq", true) => Arc::new(edgeiq_client::Client::from_env()?),
        ("twilio", false) => {
            use supersim_client::sandbox::{Sandbox, SimSeed};
            let sandbox = Sandbox::start().await?;
            for id in ids {
                sandbox.seed_sim(SimSeed::new().unique_name(id));
            }
            let client = sandbox.client();
            keep.push(Box::new(sandbox));
            Arc::new(client)
        }
        ("emnify", false) => {
            use emnify_client::sandbox::{Sandbox, SimSeed};
            let sandbox = Sandbox::start().await?;
            for id in ids.filter_map(|id| id.parse::<u64>().ok()) {
                sandbox.seed_sim(SimSeed::new().id(id).status(1));
            }
            let client = sandbox.client();
            keep.push(Box::new(sandbox));
            Arc::new(client)
        }
        ("sixfab", false) => {
            use sixfab_client::sandbox::{AssetSeed, Sandbox};
            let sandbox = Sandbox::start().await?;
            for id in ids {
                sandbox.seed_asset(AssetSeed::new().serial_number(id));
            }
            let client = sandbox.client();
            keep.push(Box::new(sandbox));
            Arc::new(client)
        }
        ("edgeiq", false) => {
            use edgeiq_client::sandbox::{Sandbox, SimSeed};
            let sandbox = Sandbox::start().await?;
            for id in ids.filter(|id| id.len() == 24) {
                sandbox.seed_sim(SimSeed::new().id(id));
            }
            let client = sandbox.client();
            keep.push(Box::new(sandbox));
            Arc::new(client)
        }
        _ => return Ok(None),
    };
    println!(
        "{name}: {} rows, {}",
        rows.len(),
        if real {
            "the real provider (its credentials are set)"
        } else {
            "a local sandbox seeded with these SIMs"
        }
    );
    Ok(Some(p))
}
