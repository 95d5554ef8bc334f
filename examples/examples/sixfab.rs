//! Sixfab Connect: an asset (a device with a Super SIM and a PRO SIM) fetched, priced, switched
//! on and off with the master switch, renamed and refused, against Sixfab or a local sandbox.
//!
//! Run: `cargo run --example sixfab`
//!
//! With no Sixfab API key in the environment it starts the local sandbox (no account, no network,
//! no charges), seeds an ALPON asset and walks it through the native API: fetch, a charge preview
//! from Sixfab's published prices (a range where Sixfab's text leaves questions open, each named
//! with what settles it) and the same preview with a price book that answers them, updates built
//! with the builder and their typed answers, a refusal given before sending, and errors Sixfab
//! sends back.
//!
//! To use Sixfab itself, set:
//! - `SIXFAB_API_KEY`;
//! - `SIXFAB_EXAMPLE_ASSET`: an asset to read, by serial number, UUID, SIM SID or SIM ICCID;
//! - `SIXFAB_EXAMPLE_WRITE=1` (optional): also send one harmless update, the asset's name set to
//!   the name it already has. Without it the example only reads, and shows the status change it
//!   would send without sending it;
//! - `SIXFAB_EXAMPLE_PRICES` (optional): a price book file (`.json`, or `.toml`) with your
//!   contract's answers, used for the preview.

use std::error::Error;

use sim_examples::{heading, indented};
use simcore::charge::{PriceBook, Pricing};
use sixfab_client::client::ENV_API_KEY;
use sixfab_client::sandbox::{AssetSeed, Sandbox};
use sixfab_client::{Asset, AssetStatus, Client, NetworkGroup, SettableStatus, Updated};

/// The asset to read when running against Sixfab.
const ASSET_ENV: &str = "SIXFAB_EXAMPLE_ASSET";
/// Set to `1` to let the example send an update to that asset.
const WRITE_ENV: &str = "SIXFAB_EXAMPLE_WRITE";
/// A price book file for the preview.
const PRICES_ENV: &str = "SIXFAB_EXAMPLE_PRICES";

/// An example price book, standing for what a user's invoice and account say: 12 active SIMs,
/// the ALPON's fee on top of the SIM fees, every month, at most once a month, and the PRO SIM
/// charged for the month it is activated in. These answers are made up for the example; they are
/// not Sixfab's.
const EXAMPLE_BOOK: &str = r#"{
    "active_sims": 12,
    "sims": {"pro_sim": {"activation_month_billed": true}},
    "assets": {"alpon": {"replaces_sim_fees": false, "recurs_monthly": true, "once_a_month": true}}
}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if sim_examples::env_set(ENV_API_KEY) {
        with_sixfab().await?;
    } else {
        println!("using the local sandbox (set {ENV_API_KEY} and {ASSET_ENV} to use Sixfab)");
        with_sandbox().await?;
    }
    println!("\nsixfab example: done");
    Ok(())
}

/// Reads a real asset; writes only when asked to, and then only its own name back.
async fn with_sixfab() -> Result<(), Box<dyn Error>> {
    let client = Client::from_env()?;
    println!(
        "using Sixfab at {} ({ENV_API_KEY} is set)",
        client.base_url()
    );
    let id = std::env::var(ASSET_ENV).map_err(|_| {
        format!("set {ASSET_ENV} to an asset's serial number, UUID, SIM SID or SIM ICCID")
    })?;

    heading("Fetch");
    let asset = client.get_asset(id.as_str()).await?;
    show(&asset);

    let target = match asset.status {
        Some(AssetStatus::Active) => SettableStatus::Inactive,
        _ => SettableStatus::Active,
    };
    let pricing = match std::env::var(PRICES_ENV) {
        Ok(path) if !path.is_empty() => {
            heading(&format!(
                "What switching it costs (your price book {path} over Sixfab's prices; nothing sent)"
            ));
            Pricing::today().with_book(PriceBook::load(&path)?)
        }
        _ => {
            heading(&format!(
                "What switching it costs (Sixfab's published prices; set {PRICES_ENV} to a price \
                 book to settle the open questions; nothing sent)"
            ));
            Pricing::today()
        }
    };
    println!(
        "{}",
        indented(&client.charge_preview(id.as_str(), target, &pricing).await?)
    );
    println!(
        "would send PATCH /assets/{id} with {}",
        client
            .update_asset(id.as_str())
            .status(target)
            .into_request()?
            .body()
    );

    heading("A harmless update");
    let Some(name) = asset.name.clone() else {
        println!("the asset reports no name to send back; nothing sent");
        return Ok(());
    };
    let update = client.update_asset(id.as_str()).name(name);
    println!(
        "PATCH /assets/{id} with {}",
        update.clone().into_request()?.body()
    );
    if std::env::var(WRITE_ENV).as_deref() == Ok("1") {
        describe(&update.send().await?);
    } else {
        println!("not sent: set {WRITE_ENV}=1 to send it");
    }
    Ok(())
}

/// The native API against the local sandbox.
async fn with_sandbox() -> Result<(), Box<dyn Error>> {
    let sandbox = Sandbox::start().await?;
    println!("sandbox listening at {}", sandbox.base_url());
    sandbox.add_network_group("fleet-eu");
    sandbox.seed_asset(
        AssetSeed::new()
            .serial_number("SN-ALPON-0042")
            .name("pump station 6"),
    );
    let client = sandbox.client();

    heading("Fetch, by serial number");
    let asset = client.get_asset("SN-ALPON-0042").await?;
    show(&asset);
    let sid = asset
        .super_sim()
        .and_then(|s| s.sid)
        .ok_or("the asset has no Super SIM")?;
    let pro_iccid = asset
        .pro_sim()
        .and_then(|s| s.iccid)
        .ok_or("the asset has no PRO SIM")?;

    heading("What activating costs, by Sixfab's published prices alone (nothing sent)");
    let published = Pricing::today();
    println!(
        "{}",
        indented(
            &client
                .charge_preview("SN-ALPON-0042", SettableStatus::Active, &published)
                .await?
        )
    );

    heading("The same with a price book that answers the open questions (an example's answers)");
    // Sixfab's API reports neither the account's active SIMs (the volume tier) nor how the asset
    // fee is billed: a price book says them, and the range collapses to one figure.
    let yours = Pricing::today().with_book(PriceBook::from_json(EXAMPLE_BOOK)?);
    println!(
        "{}",
        indented(
            &client
                .charge_preview("SN-ALPON-0042", SettableStatus::Active, &yours)
                .await?
        )
    );

    heading("Activate: the master switch turns on every SIM of the asset");
    let update = client
        .update_asset("SN-ALPON-0042")
        .status(SettableStatus::Active);
    println!(
        "PATCH /assets/SN-ALPON-0042 with {}",
        update.clone().into_request()?.body()
    );
    describe(&update.send().await?);

    heading("Rename and move to a custom network group, by the Super SIM's SID");
    let update = client
        .update_asset(sid.as_str())
        .name("pump station 7")
        .network_group("fleet-eu");
    println!(
        "PATCH /assets/{sid} with {}",
        update.clone().into_request()?.body()
    );
    describe(&update.send().await?);

    heading("Refused before sending");
    let sent = sandbox.requests().len();
    match client.update_asset(sid.as_str()).name("P7").send().await {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => println!("{e}"),
    }
    println!("requests sent for it: {}", sandbox.requests().len() - sent);

    heading("Refused by Sixfab");
    match client
        .update_asset(sid.as_str())
        .network_group(NetworkGroup::Custom("fleet-us".into()))
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => {
            println!("{e}");
            if let Some(details) = e.api().and_then(|a| a.details.as_ref()) {
                println!("details: {details}");
            }
        }
    }
    match client.get_asset("SN-ALPON-0043").await {
        Ok(_) => println!("unexpected: an asset was found"),
        Err(e) => println!("{e} (not found: {})", e.is_not_found()),
    }

    heading("Deactivate, by the PRO SIM's ICCID");
    describe(
        &client
            .update_asset(pro_iccid.as_str())
            .status(SettableStatus::Inactive)
            .send()
            .await?,
    );
    let again = client
        .charge_preview(pro_iccid.as_str(), SettableStatus::Active, &yours)
        .await?;
    println!(
        "switching it back on this month (the example price book):\n{}",
        indented(&again)
    );

    heading("The sandbox's view");
    for a in sandbox.assets() {
        let sims: Vec<String> = a
            .super_sim
            .iter()
            .map(|s| format!("Super SIM {}", s.status))
            .chain(a.pro_sim.iter().map(|s| format!("PRO SIM {}", s.status)))
            .collect();
        println!(
            "{} {:?}: {} ({})",
            a.serial_number,
            a.name,
            a.status,
            sims.join(", ")
        );
    }

    heading("What the sandbox received");
    for r in sandbox.requests() {
        let line = format!("{} {} {}", r.method, r.path, r.body_text());
        println!("{}", line.trim_end());
    }
    Ok(())
}

fn show(asset: &Asset) {
    println!(
        "asset {} {:?} status {} network group {}",
        asset.serial_number.as_deref().unwrap_or("?"),
        asset.name.as_deref().unwrap_or(""),
        asset.status.as_ref().map_or("?", AssetStatus::as_str),
        asset.network_group().unwrap_or("?"),
    );
    for sim in asset.sims() {
        println!(
            "  {}: iccid {} status {}{}",
            sim.kind,
            sim.iccid.as_deref().unwrap_or("?"),
            sim.status.as_ref().map_or("?", AssetStatus::as_str),
            sim.sid.map(|s| format!(" sid {s}")).unwrap_or_default(),
        );
    }
    if let Some(kind) = asset.device().and_then(|d| d.kind) {
        println!("  device: {kind}");
    }
}

fn describe(answer: &Updated<Asset>) {
    match answer {
        Updated::Done(Some(asset)) => {
            print!("done (200): ");
            show(asset);
        }
        Updated::Done(None) => println!("done (a confirmation, or no body)"),
        Updated::Pending(_) => println!("accepted, applied later"),
        Updated::Unchanged => println!("already so: nothing sent"),
    }
}
