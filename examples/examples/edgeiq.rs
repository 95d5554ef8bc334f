//! EdgeIQ: a SIM record read and changed with JSON merge updates, against EdgeIQ's platform or a
//! local sandbox.
//!
//! Run: `cargo run --example edgeiq`
//!
//! With no credentials in the environment it starts the local sandbox (no account, no network,
//! no charges), seeds a SIM record and walks it through the native API: fetch, an update built
//! with the builder, the typed results, a refusal given before sending, and an error the
//! platform sends back.
//!
//! To use EdgeIQ itself, set:
//! - `EDGEIQ_API_TOKEN`: an API token (sent as `Authorization: <token>`);
//! - `EDGEIQ_SIM_ID`: the 24-hex-digit id of a SIM record to read;
//! - `EDGEIQ_EXAMPLE_WRITE=1` (optional): also merge one metadata key, `sdk_example_at`, into
//!   that record. Without it the example only reads, and shows the update it would send.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use edgeiq_client::client::ENV_API_TOKEN;
use edgeiq_client::sandbox::{Sandbox, SimSeed};
use edgeiq_client::{Client, SimRecord};
use serde_json::{Map, Value, json};
use sim_examples::heading;

/// The SIM record to read when running against EdgeIQ.
const SIM_ID_ENV: &str = "EDGEIQ_SIM_ID";
/// Set to `1` to let the example change that record.
const WRITE_ENV: &str = "EDGEIQ_EXAMPLE_WRITE";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if sim_examples::env_set(ENV_API_TOKEN) {
        with_edgeiq().await?;
    } else {
        println!("using the local sandbox (set {ENV_API_TOKEN} and {SIM_ID_ENV} to use EdgeIQ)");
        with_sandbox().await?;
    }
    println!("\nedgeiq example: done");
    Ok(())
}

/// Reads a real record; changes it only when asked to.
async fn with_edgeiq() -> Result<(), Box<dyn Error>> {
    let client = Client::from_env()?;
    println!(
        "using EdgeIQ at {} ({ENV_API_TOKEN} is set)",
        client.base_url()
    );
    let id = std::env::var(SIM_ID_ENV)
        .map_err(|_| format!("set {SIM_ID_ENV} to the 24-hex-digit id of a SIM record to read"))?;

    heading("Fetch");
    let record = client.get_sim(&id).await?;
    show(&record);

    heading("An update, checked against the record");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let update = client
        .update_sim(&id)
        .metadata("sdk_example_at", now)
        .current(&record);
    let body = update.clone().into_request()?.to_json();
    println!("PUT /sims/{id} with {body}");
    if std::env::var(WRITE_ENV).as_deref() == Ok("1") {
        let updated = update.send().await?;
        println!("sent; EdgeIQ stored:");
        updated.resource().into_iter().for_each(show);
    } else {
        println!("not sent: set {WRITE_ENV}=1 to send it");
    }
    Ok(())
}

/// The native API against the local sandbox.
async fn with_sandbox() -> Result<(), Box<dyn Error>> {
    let sandbox = Sandbox::start().await?;
    println!("sandbox listening at {}", sandbox.base_url());
    let id = sandbox.seed_sim(
        SimSeed::new()
            .iccid("89882806660004909182")
            .msisdn("+491700000001")
            .plans("EU IoT Standard", "1GB pooled")
            .metadata(object(json!({
                "site": {"name": "pump station 7", "floor": 2},
                "installer": "field team B",
                "legacy": true
            })))
            .field("ctd_data_usage", 734_003_200),
    );
    let client = sandbox.client();

    heading("Fetch");
    let record = client.get_sim(&id).await?;
    show(&record);

    heading("Activate and change metadata in one merge update");
    let update = client
        .update_sim(&id)
        .status("active")
        .metadata("site", json!({"floor": null, "room": 4}))
        .remove_metadata_key("legacy")
        .current(&record);
    let body = update.clone().into_request()?.to_json();
    println!("PUT /sims/{id} with {body}");
    let active = update.send().await?;
    active.resource().into_iter().for_each(show);

    heading("Suspend: EdgeIQ's status is the carrier's own word");
    let suspended = client
        .update_sim(&id)
        .status("suspended")
        .send()
        .await?
        .into_resource()
        .ok_or("EdgeIQ answers an update with the record")?;
    println!(
        "status {:?}, read as the common state {}",
        suspended.status.as_deref().unwrap_or(""),
        suspended.state()
    );

    heading("Refused before sending");
    let sent = sandbox.requests().len();
    match client
        .update_sim(&id)
        .msisdn("+49 170 000 000 000 001")
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => println!("{e}"),
    }
    println!("requests sent for it: {}", sandbox.requests().len() - sent);

    heading("Refused by the platform");
    // 49 new keys: fine on their own, 51 once merged onto the record's 2. Without the current
    // record the client cannot know, so it sends the update and the platform answers 400.
    let many: Map<String, Value> = (0..49).map(|i| (format!("sensor_{i}"), json!(i))).collect();
    match client
        .update_sim(&id)
        .metadata_patch(many.clone())
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => println!("{e}"),
    }
    match client
        .update_sim(&id)
        .metadata_patch(many)
        .current(&suspended)
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => println!("given the current record, the client says first: {e}"),
    }
    let stored = sandbox.sim(&id).unwrap_or_default();
    println!(
        "the record kept its {} metadata keys",
        stored["sim_metadata"].as_object().map_or(0, Map::len)
    );

    heading("What the sandbox received");
    for r in sandbox.requests() {
        let mut body = r.body_text();
        if body.chars().count() > 90 {
            body = body.chars().take(90).collect::<String>() + "…";
        }
        println!("{} {} {body}", r.method, r.path);
    }
    Ok(())
}

fn show(record: &SimRecord) {
    println!(
        "SIM {} iccid {} status {:?} ({})",
        record.id.as_deref().unwrap_or("?"),
        record.iccid.as_deref().unwrap_or("?"),
        record.status.as_deref().unwrap_or(""),
        record.state()
    );
    let metadata = record.sim_metadata.clone().unwrap_or_default();
    println!("  metadata {}", Value::Object(metadata));
    println!(
        "  msisdn {:?}, plans {:?} / {:?}",
        record.msisdn.as_deref().unwrap_or(""),
        record.communication_plan.as_deref().unwrap_or(""),
        record.rate_plan.as_deref().unwrap_or("")
    );
    println!(
        "  read-only: data used {} bytes, barred {}, updated {}",
        record
            .ctd_data_usage
            .as_ref()
            .map_or_else(|| "?".to_owned(), ToString::to_string),
        record
            .sim_barred
            .map_or("?", |b| if b { "yes" } else { "no" }),
        record.updated_at.as_deref().unwrap_or("?")
    );
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
