//! Quickstart: one SIM per provider through its life, through one interface.
//!
//! Run: `cargo run --example quickstart` (needs nothing else: no account, no network, no charges).
//!
//! It starts a local sandbox of each provider (Super SIM as KORE serves it, emnify, Sixfab
//! Connect, EdgeIQ),
//! seeds one SIM in each, and drives all four through the same `Arc<dyn SimProvider>`: fetch,
//! activate, rename where the provider has names, deactivate. It shows each activation's charge
//! preview first (a range with the rule and the assumptions behind every line, or "cannot price"
//! and why: only Sixfab publishes prices), the previews totalled over the four providers,
//! Twilio's asynchronous `scheduled` answer, and a change refused before anything is sent.
//!
//! To also read one real SIM from a provider (read-only: the quickstart never changes a real
//! SIM), set that provider's credentials and SIM id, the same variables its own example uses:
//! `KORE_CLIENT_ID`/`KORE_CLIENT_SECRET` (or Twilio's credentials) + `SUPERSIM_EXAMPLE_SIM`,
//! `EMNIFY_APPLICATION_TOKEN` + `EMNIFY_SIM_ID`, `SIXFAB_API_KEY` + `SIXFAB_EXAMPLE_ASSET`,
//! `EDGEIQ_API_TOKEN` + `EDGEIQ_SIM_ID`.

use std::error::Error;
use std::sync::Arc;

use sim_examples::{env_set, heading, indented};
use simcore::charge::Pricing;
use simcore::{Applied, DisplayName, SimChange, SimProvider, SimState};
use simfleet::charge::ChargeTotal;

/// A provider's sandbox kept alive for the run, its provider view and the seeded SIM.
struct Stage {
    provider: Arc<dyn SimProvider>,
    sim: String,
    /// Waits until the sandbox has applied changes it accepted as pending.
    settle: Option<Box<dyn Fn() -> futures_util::future::BoxFuture<'static, ()>>>,
    _keep: Box<dyn std::any::Any>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    println!("SIM SDK quickstart: one SIM per provider, through one interface (SimProvider)");
    println!("using local sandboxes: no account, no network, no charges");

    let stages = vec![
        twilio().await?,
        emnify().await?,
        sixfab().await?,
        edgeiq().await?,
    ];
    let mut lived = 0;
    let mut charges = ChargeTotal::new();
    for stage in &stages {
        walk(stage, &mut charges).await?;
        lived += 1;
    }

    heading("the four activations' charge previews, totalled");
    println!("{charges}");
    println!(
        "(no price book was given: only Sixfab publishes prices; give your contract's prices in \
         a price book, e.g. PriceBooks::load(\"prices.toml\"), and the rows are priced and the \
         ranges close)"
    );

    read_real_sims().await;
    println!("\n{lived} providers, {lived} SIMs taken through their life: quickstart done");
    Ok(())
}

async fn twilio() -> Result<Stage, Box<dyn Error>> {
    use supersim_client::sandbox::{Sandbox, SandboxOptions, SimSeed};
    // Super SIM as KORE serves it (OAuth2): where its customers are now. `Sandbox::start()`
    // speaks Twilio's dialect instead.
    let sandbox = Arc::new(Sandbox::start_with(SandboxOptions::kore()).await?);
    let sim = sandbox.seed_sim(SimSeed::new().unique_name("quickstart-supersim"));
    let waiter = sandbox.clone();
    Ok(Stage {
        provider: Arc::new(sandbox.client()),
        sim,
        settle: Some(Box::new(move || {
            let s = waiter.clone();
            Box::pin(async move { s.settled().await })
        })),
        _keep: Box::new(sandbox),
    })
}

async fn emnify() -> Result<Stage, Box<dyn Error>> {
    use emnify_client::sandbox::{Sandbox, SimSeed};
    let sandbox = Sandbox::start().await?;
    let sim = sandbox.seed_sim(SimSeed::new().status(0)).to_string();
    Ok(Stage {
        provider: Arc::new(sandbox.client()),
        sim,
        settle: None,
        _keep: Box::new(sandbox),
    })
}

async fn sixfab() -> Result<Stage, Box<dyn Error>> {
    use sixfab_client::sandbox::{AssetSeed, Sandbox};
    let sandbox = Sandbox::start().await?;
    let sim = sandbox.seed_asset(AssetSeed::new().name("quickstart asset"));
    Ok(Stage {
        provider: Arc::new(sandbox.client()),
        sim,
        settle: None,
        _keep: Box::new(sandbox),
    })
}

async fn edgeiq() -> Result<Stage, Box<dyn Error>> {
    use edgeiq_client::sandbox::{Sandbox, SimSeed};
    let sandbox = Sandbox::start().await?;
    let sim = sandbox.seed_sim(SimSeed::new());
    Ok(Stage {
        provider: Arc::new(sandbox.client()),
        sim,
        settle: None,
        _keep: Box::new(sandbox),
    })
}

/// Fetch, price, activate, rename, deactivate, and one refusal: the same code for every
/// provider.
async fn walk(stage: &Stage, charges: &mut ChargeTotal) -> Result<(), Box<dyn Error>> {
    let p = &stage.provider;
    let id = stage.sim.as_str();
    heading(&format!("{} (sandbox), SIM {id}", p.name()));

    let sim = p.fetch(id).await?;
    println!(
        "fetch: {} (the provider says {:?})",
        sim.state,
        sim.native_status.as_deref().unwrap_or("-")
    );

    let activate = SimChange::new()
        .state(SimState::Active)
        .known_state(sim.state.clone());
    // No price book: each provider's published prices, where it has any.
    let estimate = simcore::charge::preview(&**p, id, &activate, &Pricing::today()).await?;
    println!("charge preview before activating:\n{}", indented(&estimate));
    charges.add(p.name(), id, &estimate);
    report("activate", p.apply(id, &activate).await?);
    settle(stage).await;

    let name = DisplayName::parse("pump station 7")?;
    match p.apply(id, &SimChange::new().display_name(name)).await {
        Ok(applied) => report("rename to \"pump station 7\"", applied),
        Err(e) if e.was_not_sent() => println!("rename: refused before sending: {e}"),
        Err(e) => return Err(e.into()),
    }

    let current = p.fetch(id).await?.state;
    report(
        "deactivate",
        p.apply(
            id,
            &SimChange::new()
                .state(SimState::Inactive)
                .known_state(current),
        )
        .await?,
    );
    settle(stage).await;

    // A move the lifecycle forbids, refused before anything is sent.
    let back_to_new = SimChange::new()
        .state(SimState::New)
        .known_state(SimState::Inactive);
    if let Err(e) = p.apply(id, &back_to_new).await {
        println!("back to new: refused before sending: {e}");
    }

    let end = p.fetch(id).await?;
    println!(
        "now: {}{}",
        end.state,
        end.display_name
            .map(|n| format!(", named {n:?}"))
            .unwrap_or_default()
    );
    Ok(())
}

async fn settle(stage: &Stage) {
    if let Some(settle) = &stage.settle {
        settle().await;
    }
}

fn report(what: &str, applied: Applied) {
    match applied {
        Applied::Done(Some(sim)) => println!("{what}: done, now {}", sim.state),
        Applied::Done(None) => println!("{what}: done (the provider answered with no body)"),
        Applied::Pending(sim) => println!(
            "{what}: accepted and pending ({}), applied a moment later",
            sim.as_ref()
                .and_then(|s| s.native_status.as_deref())
                .unwrap_or("pending")
        ),
        Applied::Unchanged => println!("{what}: already so, nothing sent"),
    }
}

/// Opens a provider's real client from the environment.
type Open = fn() -> simcore::Result<Arc<dyn SimProvider>>;

/// Reads one real SIM from each provider whose credentials and SIM id are set. Read-only.
async fn read_real_sims() {
    let providers: [(bool, &str, Open); 4] = [
        (
            env_set("KORE_CLIENT_ID") || env_set("TWILIO_ACCOUNT_SID") || env_set("TWILIO_API_KEY"),
            "SUPERSIM_EXAMPLE_SIM",
            || Ok(Arc::new(supersim_client::Client::from_env()?)),
        ),
        (env_set("EMNIFY_APPLICATION_TOKEN"), "EMNIFY_SIM_ID", || {
            Ok(Arc::new(emnify_client::Client::from_env()?))
        }),
        (env_set("SIXFAB_API_KEY"), "SIXFAB_EXAMPLE_ASSET", || {
            Ok(Arc::new(sixfab_client::Client::from_env()?))
        }),
        (env_set("EDGEIQ_API_TOKEN"), "EDGEIQ_SIM_ID", || {
            Ok(Arc::new(edgeiq_client::Client::from_env()?))
        }),
    ];
    let mut read = 0;
    for (credentials, id_var, open) in providers {
        let Some(id) = std::env::var(id_var)
            .ok()
            .filter(|v| credentials && !v.is_empty())
        else {
            continue;
        };
        if read == 0 {
            heading("real SIMs (read-only)");
        }
        read += 1;
        match open() {
            Ok(p) => match p.fetch(&id).await {
                Ok(sim) => println!("{}: {id} is {}", p.name(), sim.state),
                Err(e) => println!("{id}: {e}"),
            },
            Err(e) => println!("{e}"),
        }
    }
    if read == 0 {
        println!(
            "\nno provider credentials with a SIM id in the environment: no real SIM was read"
        );
    }
}
