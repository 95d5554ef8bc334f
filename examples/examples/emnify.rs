//! emnify: a SIM fetched, activated, suspended and moved between organisations, against emnify or
//! a local sandbox.
//!
//! Run: `cargo run --example emnify`
//!
//! With no credentials in the environment it starts the local sandbox (no account, no network,
//! no charges), seeds an Issued SIM and walks it through the native API: fetch, updates built
//! with the builder (status and the three states of an organisation field), the typed results,
//! a refusal given before sending, errors emnify sends back, the token handling, and deletion.
//!
//! To use emnify itself, set:
//! - `EMNIFY_APPLICATION_TOKEN`: an application token from the emnify portal;
//! - `EMNIFY_SIM_ID`: the numeric id of a SIM to read;
//! - `EMNIFY_EXAMPLE_WRITE=1` (optional): also send one update that changes nothing in effect
//!   (the SIM's customer organisation assigned again). Without it the example only reads, and
//!   shows the update it would send. It never changes a SIM's status: activating costs money and
//!   suspending cuts a device off.

use std::error::Error;

use emnify_client::client::ENV_APPLICATION_TOKEN;
use emnify_client::sandbox::{CallerRole, ENTERPRISE_ORG, RESELLER_ORG, Sandbox, SimSeed};
use emnify_client::{Client, OrgChange, SettableStatus, Sim};
use sim_examples::heading;

/// The SIM to read when running against emnify.
const SIM_ID_ENV: &str = "EMNIFY_SIM_ID";
/// Set to `1` to let the example send its harmless update.
const WRITE_ENV: &str = "EMNIFY_EXAMPLE_WRITE";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if sim_examples::env_set(ENV_APPLICATION_TOKEN) {
        with_emnify().await?;
    } else {
        println!(
            "using the local sandbox (set {ENV_APPLICATION_TOKEN} and {SIM_ID_ENV} to use emnify)"
        );
        with_sandbox().await?;
    }
    println!("\nemnify example: done");
    Ok(())
}

/// Reads a real SIM; writes only when asked to, and then nothing that changes it in effect.
async fn with_emnify() -> Result<(), Box<dyn Error>> {
    let client = Client::from_env()?;
    println!(
        "using emnify at {} ({ENV_APPLICATION_TOKEN} is set)",
        client.base_url()
    );
    let id: u64 = std::env::var(SIM_ID_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("set {SIM_ID_ENV} to the numeric id of a SIM to read"))?;

    heading("Fetch");
    let sim = client.get_sim(id).await?;
    show(&sim);

    heading("An update that changes nothing in effect");
    let Some(customer) = sim.customer_org.as_ref().map(|o| o.id) else {
        println!("the SIM has no customer organisation to assign again; nothing to send");
        return Ok(());
    };
    let update = client.update_sim(id).customer_org(customer);
    println!(
        "PATCH /api/v1/sim/{id} with {}",
        serde_json::to_string(update.request())?
    );
    if std::env::var(WRITE_ENV).as_deref() == Ok("1") {
        match update.send().await {
            Ok(_) => println!("sent; emnify answered 204 No Content"),
            Err(e) => println!("emnify refused it: {e}"),
        }
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
            .iccid("8988303000000000129")
            .customer_org(ENTERPRISE_ORG),
    );
    let client = sandbox.client();

    heading("Fetch (the first request authenticates)");
    let sim = client.get_sim(id).await?;
    show(&sim);
    println!("authentications so far: {}", sandbox.authenticate_calls());

    heading("Activate, checked against the fetched status before sending");
    let update = client
        .update_sim(id)
        .current(&sim)
        .status(SettableStatus::Activated);
    println!(
        "PATCH /api/v1/sim/{id} with {}",
        serde_json::to_string(update.request())?
    );
    update.send().await?;
    println!("204 No Content: the update returns ()");
    let sim = client.get_sim(id).await?;
    show(&sim);

    heading("Suspend, set the reseller, clear the customer, keep the issuer");
    let update = client
        .update_sim(id)
        .current(&sim)
        .status(SettableStatus::Suspended)
        .reseller_org(RESELLER_ORG)
        .customer_org(OrgChange::Clear);
    println!(
        "PATCH /api/v1/sim/{id} with {}",
        serde_json::to_string(update.request())?
    );
    update.send().await?;
    let sim = client.get_sim(id).await?;
    show(&sim);

    heading("Refused before sending");
    let sent = sandbox.requests().len();
    match client
        .update_sim(id)
        .current(&sim)
        .status(SettableStatus::FactoryTest)
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => println!("{e}"),
    }
    println!("requests sent for it: {}", sandbox.requests().len() - sent);

    heading("Refused by emnify");
    // Without the current status the client cannot know; emnify answers 422.
    match client
        .update_sim(id)
        .status(SettableStatus::FactoryTest)
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => {
            println!("{e}");
            if let Some(api) = e.api() {
                println!(
                    "  status {}, error_code {:?}, error_token {:?}",
                    api.status, api.code, api.token
                );
            }
        }
    }
    // A user of the customer organisation may change the status only.
    sandbox.set_caller_role(CallerRole::Customer);
    match client
        .update_sim(id)
        .customer_org(ENTERPRISE_ORG)
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => println!("as a customer-org user: {e}"),
    }
    sandbox.set_caller_role(CallerRole::Issuer);

    heading("Tokens");
    println!(
        "authentications so far: {} (one token serves every request)",
        sandbox.authenticate_calls()
    );
    sandbox.expire_tokens();
    client.get_sim(id).await?;
    println!(
        "after the sandbox revoked it: {} (one 401, one new token, the request retried)",
        sandbox.authenticate_calls()
    );

    heading("Delete");
    client.delete_sim(id).await?;
    println!("deleted: 204 No Content");
    match client.get_sim(id).await {
        Ok(_) => println!("unexpected: the SIM is still there"),
        Err(e) => println!("fetch after delete: {e}"),
    }

    heading("What the sandbox received");
    for r in sandbox.requests() {
        let body = if r.path.ends_with("/authenticate") {
            " (credentials)".to_owned()
        } else if r.body.is_empty() {
            String::new()
        } else {
            format!(" {}", r.body_text())
        };
        println!("{} {}{body}", r.method, r.path);
    }
    Ok(())
}

fn show(sim: &Sim) {
    let org = |o: &Option<emnify_client::models::Organisation>| match o {
        Some(o) => format!("{} ({})", o.id, o.name.as_deref().unwrap_or("?")),
        None => "none".to_owned(),
    };
    println!(
        "SIM {} iccid {} status {}",
        sim.id,
        sim.best_iccid().unwrap_or("?"),
        sim.status
            .as_ref()
            .map_or_else(|| "?".to_owned(), ToString::to_string)
    );
    println!(
        "  issuer {}, reseller {}, customer {}",
        org(&sim.issuer_org),
        org(&sim.reseller_org),
        org(&sim.customer_org)
    );
    println!(
        "  produced {}, activated {}",
        sim.production_date
            .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339()),
        sim.activation_date
            .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
    );
}
