//! The operator verbs: `get`, `set`, `list`, `plan`, `apply`. Each reaches its provider only
//! through `SimProvider`, so the provider's rules live in its crate, not here.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use simcore::charge::PriceBooks;
use simcore::{
    Applied, ListOptions, SimChange, SimName, SimProvider, SimSnapshot, SimState, ValidationError,
};
use simfleet::plan::{ActionKind, Applier, ApplyOutcome, Desired, Plan, Planner};

use crate::exit::{Code, Failure};
use crate::target::Target;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// For a person.
    Text,
    /// For a script: JSON (see the README for the fields).
    Json,
}

/// The states `set` and `list --state` take.
const STATE_WORDS: &str = "new, ready, active, inactive, retired";

fn state_word(word: &str) -> Result<SimState, ValidationError> {
    let state = SimState::from_word(word);
    match state {
        SimState::New
        | SimState::Ready
        | SimState::Active
        | SimState::Inactive
        | SimState::Retired => Ok(state),
        _ => Err(ValidationError::new(
            "state",
            "must be one of new, ready, active, inactive, retired",
            format!("{word:?}"),
        )),
    }
}

/// A snapshot as `--output json` prints it.
pub fn snapshot_json(s: &SimSnapshot) -> Value {
    json!({
        "provider": s.provider,
        "id": s.id,
        "state": s.state.as_str(),
        "native_status": s.native_status,
        "display_name": s.display_name,
        "iccid": s.iccid,
        "aliases": s.aliases,
    })
}

fn snapshot_text(s: &SimSnapshot) -> String {
    let mut line = format!("{} {}: {}", s.provider, s.id, s.state);
    if let Some(n) = &s.native_status {
        line.push_str(&format!(" ({} says {n:?})", s.provider));
    }
    if let Some(n) = &s.display_name {
        line.push_str(&format!(", named {n:?}"));
    }
    if let Some(i) = &s.iccid {
        line.push_str(&format!(", ICCID {i}"));
    }
    line
}

fn print_json(v: &Value) {
    say!("{v}");
}

/// Asks before a write to a real provider, unless `yes`. Without a terminal to ask on, the
/// answer is no.
fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::not_confirmed(format!(
            "{question}: not confirmed (no terminal to ask on): pass --yes to write to the real provider"
        )));
    }
    eprint!("{question}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::not_confirmed(format!("could not read the answer: {e}")))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Failure::not_confirmed(format!(
            "{question}: declined; nothing was sent"
        )))
    }
}

/// `simctl get PROVIDER ID`.
pub async fn get(
    target: &Target,
    provider: &str,
    id: &str,
    output: Output,
) -> Result<Code, Failure> {
    let p = target.provider(provider)?;
    let sim = p.fetch(id).await?;
    match output {
        Output::Json => print_json(&snapshot_json(&sim)),
        Output::Text => say!("{}", snapshot_text(&sim)),
    }
    Ok(Code::Ok)
}

/// `simctl set PROVIDER ID --state S --name N`.
pub async fn set(
    target: &Target,
    provider: &str,
    id: &str,
    state: Option<&str>,
    name: Option<&str>,
    yes: bool,
    output: Output,
) -> Result<Code, Failure> {
    if state.is_none() && name.is_none() {
        return Err(Failure::usage("set needs --state or --name (or both)"));
    }
    let p = target.provider(provider)?;
    let mut change = SimChange::new();
    if let Some(s) = state {
        change = change.state(state_word(s).map_err(simcore::Error::from)?);
    }
    if let Some(n) = name {
        change = change.display_name(SimName::parse(n).map_err(simcore::Error::from)?);
    }
    // The provider's own rules first, with nothing sent; then the transition from the state
    // the SIM is in now, still before any change is sent.
    p.validate(id, &change)?;
    let current = p.fetch(id).await?;
    let change = change.known_state(current.state.clone());
    p.validate(id, &change)?;
    if target.is_real() && !change.is_noop() {
        let mut what = Vec::new();
        if let Some(s) = &change.state {
            what.push(format!("from {} to {s}", current.state));
        }
        if let Some(n) = name {
            what.push(format!("named {n:?}"));
        }
        confirm(
            &format!(
                "change {} SIM {id} {} on the real provider",
                p.name(),
                what.join(", ")
            ),
            yes,
        )?;
    }
    let applied = p.apply(id, &change).await?;
    let (result, sim) = match &applied {
        Applied::Done(s) => ("done", s.as_ref()),
        Applied::Pending(s) => ("pending", s.as_ref()),
        Applied::Unchanged => ("unchanged", None),
    };
    match output {
        Output::Json => print_json(&json!({
            "provider": p.name(),
            "id": id,
            "from": current.state.as_str(),
            "result": result,
            "sim": sim.map(snapshot_json),
        })),
        Output::Text => {
            let now = match (&applied, sim) {
                (Applied::Unchanged, _) => "already so: nothing was sent".to_owned(),
                (Applied::Pending(_), Some(s)) => {
                    format!(
                        "accepted; the provider applies it shortly (now {})",
                        s.state
                    )
                }
                (Applied::Pending(_), None) => {
                    "accepted; the provider applies it shortly".to_owned()
                }
                (Applied::Done(_), Some(s)) => format!("done, now {}", snapshot_text(s)),
                (Applied::Done(_), None) => "done (the provider answered with no body)".to_owned(),
            };
            say!("{} {id}: {now}", p.name());
        }
    }
    Ok(Code::Ok)
}

/// `simctl list PROVIDER [--state S]`.
pub async fn list(
    target: &Target,
    provider: &str,
    state: Option<&str>,
    output: Output,
) -> Result<Code, Failure> {
    let p = target.provider(provider)?;
    let filter = match state {
        Some(s) => Some(
            state_word(s)
                .map_err(|e| Failure::usage(format!("--state: {e} (one of {STATE_WORDS})")))?,
        ),
        None => None,
    };
    let mut pages = p.list(&ListOptions::new());
    let mut shown = 0usize;
    if output == Output::Text {
        say!(
            "{:<36}  {:<9}  {:<14}  name",
            "id",
            "state",
            "provider says"
        );
    }
    while let Some(page) = pages.next().await {
        for sim in page? {
            if filter.as_ref().is_some_and(|f| *f != sim.state) {
                continue;
            }
            shown += 1;
            match output {
                Output::Json => print_json(&snapshot_json(&sim)),
                Output::Text => say!(
                    "{:<36}  {:<9}  {:<14}  {}",
                    sim.id,
                    sim.state.as_str(),
                    sim.native_status.as_deref().unwrap_or("-"),
                    sim.display_name.as_deref().unwrap_or("-")
                ),
            }
        }
    }
    if output == Output::Text {
        say!("{shown} SIM{}", if shown == 1 { "" } else { "s" });
    }
    Ok(Code::Ok)
}

/// Reads a desired-state CSV by the library's one rule (`simfleet::rows::read_csv`): provider
/// ids in any case and with aliases, a line that cannot be read kept as a refused row with its
/// line number.
fn read_rows(path: &Path) -> Result<Vec<Desired>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    // A file that cannot be read as rows at all (its header) is a usage error (exit 2) whatever
    // its rule: nothing was planned, let alone refused by a provider's rules.
    Desired::from_csv(file).map_err(|e| Failure {
        field: match &e {
            simcore::Error::Invalid(v) => Some(v.field().to_owned()),
            _ => None,
        },
        ..Failure::usage(format!(
            "{} is not a desired-state CSV: {e}",
            path.display()
        ))
    })
}

/// The labels of plan entries that will not be carried out as asked.
const PLAN_PROBLEMS: [ActionKind; 3] = [
    ActionKind::Refused,
    ActionKind::NotFound,
    ActionKind::ReadError,
];

/// `simctl plan FILE [--out PLAN] [--prices BOOKS]`.
pub async fn plan(
    target: &Target,
    file: &Path,
    out: Option<&Path>,
    prices: Option<&Path>,
    output: Output,
) -> Result<Code, Failure> {
    let rows = read_rows(file)?;
    let books = match prices {
        Some(path) => PriceBooks::load(path)?,
        None => PriceBooks::new(),
    };
    let names: BTreeSet<String> = rows.iter().map(|r| r.provider.clone()).collect();
    let providers = target.providers(names.iter().map(String::as_str))?;
    let plan = Planner::new(providers.into_values())
        .price_books(books)
        .plan(rows)
        .await;
    if let Some(out) = out {
        let text = plan.to_json()?;
        std::fs::write(out, text)
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", out.display())))?;
    }
    let problems: usize = PLAN_PROBLEMS.iter().map(|&k| plan.count(k)).sum();
    match output {
        Output::Json => print_json(
            &serde_json::to_value(&plan)
                .map_err(|e| Failure::error(format!("the plan could not be written: {e}")))?,
        ),
        Output::Text => {
            // The charge range first, before what the changes are; the plan's table ends with
            // the same charges per provider.
            let charges = plan.charges().to_string();
            match charges.lines().last() {
                Some(overall) => {
                    say!("charges of the changes, {overall}\n(per provider under the plan)\n")
                }
                None => say!("charges of the changes: no change to price\n"),
            }
            say_part!("{plan}");
            if let Some(out) = out {
                say!(
                    "plan saved to {}: apply it with `simctl apply {}`",
                    out.display(),
                    out.display()
                );
            }
            let pending = match plan.count(ActionKind::InProgress) {
                0 => String::new(),
                n => format!(", {n} waiting for a change in progress"),
            };
            say!(
                "{} rows: {} to change, {} unchanged{pending}, {problems} that cannot be carried out",
                plan.entries.len(),
                plan.count(ActionKind::Change),
                plan.count(ActionKind::Unchanged)
            );
        }
    }
    Ok(if problems > 0 {
        Code::Partial
    } else {
        Code::Ok
    })
}

/// The outcomes of applying that mean the row is as asked.
fn applied_fully(o: &ApplyOutcome) -> bool {
    matches!(
        o,
        ApplyOutcome::Done { .. }
            | ApplyOutcome::Pending { .. }
            | ApplyOutcome::Unchanged
            | ApplyOutcome::AlreadyThere
    )
}

/// How `simctl apply` applies.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// `--wait`: how long to wait for changes left in progress to settle.
    pub wait: Option<Duration>,
    /// `--allow-edited`: apply a plan whose entries no longer match its digest.
    pub allow_edited: bool,
}

/// Reads a duration: a number and a unit, `ms`, `s`, `m` or `h` (`90s`, `5m`, `1.5h`); a bare
/// number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, Failure> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match number.parse::<f64>() {
        Ok(n)
            if scale.is_finite()
                && n.is_finite()
                && (0.0..=7.0 * 86_400.0).contains(&(n * scale)) =>
        {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(Failure::usage(format!(
            "--wait {text:?}: a duration such as 500ms, 90s, 5m or 1h (at most a week)"
        ))),
    }
}

/// `simctl apply PLAN [--wait DURATION] [--allow-edited]`.
pub async fn apply(
    target: &Target,
    file: &Path,
    options: &ApplyOptions,
    yes: bool,
    output: Output,
) -> Result<Code, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
    let plan = Plan::from_json(&text)?;
    if plan.is_edited() && !options.allow_edited {
        let why = if plan.digest.is_some() {
            "was edited after `simctl plan` made it: its entries do not match its digest"
        } else {
            "carries no digest of its entries, so an edit cannot be told"
        };
        return Err(Failure {
            field: Some("plan".to_owned()),
            ..Failure::usage(format!(
                "{} {why}. Nothing was sent. Plan again, or pass --allow-edited to apply it anyway (each entry is still applied whole or refused whole by the provider's rules)",
                file.display()
            ))
        });
    }
    let names: BTreeSet<String> = plan.entries.iter().map(|e| e.provider.clone()).collect();
    let providers: Vec<Arc<dyn SimProvider>> = target
        .providers(names.iter().map(String::as_str))?
        .into_values()
        .collect();
    let changes = plan.changes().count();
    if target.is_real() && changes > 0 {
        let mut per: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in plan.changes() {
            *per.entry(e.provider.as_str()).or_default() += 1;
        }
        let per: Vec<String> = per.iter().map(|(p, n)| format!("{p}: {n}")).collect();
        let charges = plan.charges();
        if output == Output::Text && charges.providers().next().is_some() {
            eprintln!("charges of the changes:\n{charges}");
        }
        confirm(
            &format!("apply {changes} changes to real SIMs ({})", per.join(", ")),
            yes,
        )?;
    }
    let mut applier = Applier::new(providers).allow_edited(options.allow_edited);
    if let Some(wait) = options.wait {
        applier = applier.wait(wait);
    }
    let report = applier.apply(&plan).await;
    let short = report
        .entries
        .iter()
        .filter(|e| !applied_fully(&e.outcome))
        .count();
    match output {
        Output::Json => print_json(
            &serde_json::to_value(&report)
                .map_err(|e| Failure::error(format!("the report could not be written: {e}")))?,
        ),
        Output::Text => {
            for e in &report.entries {
                let detail = match &e.outcome {
                    ApplyOutcome::Stale { planned, found } => {
                        format!(": the plan saw {planned}, it is {found} now")
                    }
                    ApplyOutcome::Refused { error }
                    | ApplyOutcome::Failed { error }
                    | ApplyOutcome::NotFound { error }
                    | ApplyOutcome::ReadError { error } => format!(": {error}"),
                    ApplyOutcome::InProgress { waits_for, .. } => {
                        format!(": waits for {waits_for}")
                    }
                    ApplyOutcome::Pending {
                        wait_error: Some(error),
                    } => format!(": accepted; waiting could not read it: {error}"),
                    _ => String::new(),
                };
                let shared = match e.same_write.as_slice() {
                    [] => String::new(),
                    rows => format!(
                        " (one write with row{} {})",
                        if rows.len() == 1 { "" } else { "s" },
                        rows.iter()
                            .map(|r| (r + 1).to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                if !matches!(e.outcome, ApplyOutcome::Unchanged) {
                    say!(
                        "row {} {} {}: {}{detail}{shared}",
                        e.row + 1,
                        e.provider,
                        e.id,
                        e.outcome.label()
                    );
                }
            }
            say!("{report}");
        }
    }
    Ok(if short > 0 { Code::Partial } else { Code::Ok })
}
