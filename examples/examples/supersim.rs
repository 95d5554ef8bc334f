//! Super SIM, on KORE or on Twilio: a SIM fetched, activated, renamed and refused, with the typed
//! outcomes of asynchronous updates and a signed callback verified, against the real API or a
//! local sandbox.
//!
//! Run: `cargo run --example supersim`
//!
//! With no credentials in the environment it starts the local sandbox speaking KORE's dialect
//! (OAuth2 tokens, `kore-signature` on callbacks; no account, no network, no charges), seeds a
//! SIM and walks it through the native API: fetch, updates built with the builder, `202
//! scheduled`, then the final status, seen both by waiting and by a callback whose signature is
//! checked, a refusal given before sending, and an error the API sends back.
//!
//! To use the real API, set:
//! - KORE (where Super SIM customers are now): `KORE_CLIENT_ID` and `KORE_CLIENT_SECRET`; or
//!   Twilio: `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`, or `TWILIO_API_KEY` and
//!   `TWILIO_API_SECRET`;
//! - `SUPERSIM_EXAMPLE_SIM`: the SID (`HS…`) or unique name of a Super SIM to read;
//! - `SUPERSIM_EXAMPLE_WRITE=1` (optional): also send one harmless update, the SIM's unique name
//!   set to the name it already has. Without it the example only reads, and shows the status
//!   change it would send without sending it.

use std::error::Error;

use axum::Router;
use sim_examples::heading;
use simcore::wait::WaitOptions;
use simsandbox::{SandboxServer, empty_response};
use supersim_client::callbacks::KoreVerifier;
use supersim_client::client::{
    ENV_ACCOUNT_SID, ENV_API_KEY, ENV_KORE_CLIENT_ID, ENV_KORE_CLIENT_SECRET,
};
use supersim_client::sandbox::{Sandbox, SandboxOptions, SimSeed};
use supersim_client::{CallbackMethod, Client, SettableStatus, Sim, Status, Updated, errors};

/// The SIM to read when running against Twilio.
const SIM_ENV: &str = "SUPERSIM_EXAMPLE_SIM";
/// Set to `1` to let the example send an update to that SIM.
const WRITE_ENV: &str = "SUPERSIM_EXAMPLE_WRITE";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let set = sim_examples::env_set;
    if set(ENV_KORE_CLIENT_ID)
        || set(ENV_KORE_CLIENT_SECRET)
        || set(ENV_ACCOUNT_SID)
        || set(ENV_API_KEY)
    {
        with_provider().await?;
    } else {
        println!(
            "using the local sandbox, as KORE (set {ENV_KORE_CLIENT_ID} and {ENV_KORE_CLIENT_SECRET}, or Twilio's credentials, and {SIM_ENV}, to use the real API)"
        );
        with_sandbox().await?;
    }
    println!("\nsupersim example: done");
    Ok(())
}

/// Reads a real SIM; writes only when asked to, and then only its own unique name back.
async fn with_provider() -> Result<(), Box<dyn Error>> {
    let client = Client::from_env()?;
    println!(
        "using {} at {} ({})",
        client.dialect(),
        client.base_url(),
        client.credential()
    );
    let id = std::env::var(SIM_ENV)
        .map_err(|_| format!("set {SIM_ENV} to the SID or unique name of a Super SIM to read"))?;

    heading("Fetch");
    let sim = client.get_sim(&id).await?;
    show(&sim);

    heading("The first page of the account's SIMs in the same status");
    let mut list = client.list_sims().page_size(5);
    if let Some(status) = sim.status.clone() {
        list = list.status(status);
    }
    let page = list.first_page().await?;
    for s in &page.items {
        show(s);
    }
    println!("more pages: {}", page.has_next());

    heading("A status change, checked against the SIM's status (not sent)");
    let target = match sim.status {
        Some(Status::Active) => SettableStatus::Inactive,
        _ => SettableStatus::Active,
    };
    match client
        .update_sim(&id)
        .status(target)
        .current(&sim)
        .into_request()
    {
        Ok(request) => println!(
            "would send POST /v1/Sims/{id} with {:?}",
            request.form_pairs()
        ),
        Err(e) => println!("the client refuses it: {e}"),
    }

    heading("A harmless update");
    let Some(name) = sim.unique_name.clone().filter(|n| !n.is_empty()) else {
        println!("the SIM has no unique name to send back; nothing sent");
        return Ok(());
    };
    let update = client.update_sim(&id).unique_name(&name);
    println!(
        "POST /v1/Sims/{id} with {:?}",
        update.clone().into_request()?.form_pairs()
    );
    if std::env::var(WRITE_ENV).as_deref() == Ok("1") {
        let outcome = update.send().await?;
        describe(&outcome);
    } else {
        println!("not sent: set {WRITE_ENV}=1 to send it");
    }
    Ok(())
}

/// The native API against the local sandbox.
async fn with_sandbox() -> Result<(), Box<dyn Error>> {
    let webhook_secret = "example webhook secret";
    let sandbox =
        Sandbox::start_with(SandboxOptions::kore().webhook_secret(webhook_secret)).await?;
    println!("sandbox listening at {}", sandbox.base_url());
    sandbox.seed_fleet("Field units");
    let sid = sandbox.seed_sim(
        SimSeed::new()
            .unique_name("pump-7")
            .iccid("89883070000123456789"),
    );
    // KORE calls a callback URL when a scheduled update has finished: a small local receiver
    // stands in for your service, which checks each callback's signature.
    let receiver =
        SandboxServer::start(Router::new().fallback(|| async { empty_response(204) })).await?;
    let verifier = KoreVerifier::new([webhook_secret])?;
    let client = sandbox.client();
    println!(
        "client: {} ({}), tokens from {}",
        client.dialect(),
        client.credential(),
        sandbox.token_url()
    );

    heading("Fetch, by unique name");
    let sim = client.get_sim("pump-7").await?;
    show(&sim);

    heading("Activate into a fleet, with a callback");
    let update = client
        .update_sim("pump-7")
        .status(SettableStatus::Active)
        .fleet("Field units")
        .callback_url(format!("{}/sim-done", receiver.base_url()))
        .current(&sim);
    println!(
        "POST /v1/Sims/pump-7 with {:?}",
        update.clone().into_request()?.form_pairs()
    );
    let outcome = update.send().await?;
    describe(&outcome);
    // Either wait for it (polling with backoff) or let the callback say so; here, both.
    let active = client
        .wait_until_settled(
            &sid,
            &WaitOptions::default().first_delay(std::time::Duration::from_millis(20)),
        )
        .await?;
    print!("waited until it settled: ");
    show(&active);
    sandbox.settled().await;
    for call in receiver.requests() {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &call.headers {
            headers.append(
                http::HeaderName::from_bytes(k.as_bytes())?,
                http::HeaderValue::from_str(v)?,
            );
        }
        let url = format!("{}{}", receiver.base_url(), call.path);
        match verifier.verify(&call.method, &url, &headers, &call.body) {
            Ok(cb) => println!(
                "the callback arrived, signature verified: {} {} with Status={} (idempotency token {})",
                call.method,
                call.path,
                cb.status().map_or("?".to_owned(), |s| s.to_string()),
                cb.idempotency_token().unwrap_or("none"),
            ),
            Err(e) => println!("a callback was refused: {e}"),
        }
    }

    heading("Rename: done at once");
    let outcome = client
        .update_sim(&sid)
        .unique_name("pump 7 (north)")
        .send()
        .await?;
    describe(&outcome);

    heading("Refused before sending");
    let sent = sandbox.requests().len();
    match client
        .update_sim(&sid)
        .status(SettableStatus::Ready)
        .current(&active)
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => println!("{e}"),
    }
    println!("requests sent for it: {}", sandbox.requests().len() - sent);

    heading("Refused by the API");
    // Told nothing of the SIM's status, the client sends the change and the API answers 400.
    match client
        .update_sim(&sid)
        .status(SettableStatus::Ready)
        .send()
        .await
    {
        Ok(_) => println!("unexpected: the update was accepted"),
        Err(e) => {
            println!("{e}");
            if let Some(api) = e.api() {
                println!(
                    "HTTP {}, code {:?} ({:?}), see {}",
                    api.status,
                    api.code,
                    errors::Code::of(&e),
                    api.more_info.as_deref().unwrap_or("?")
                );
            }
        }
    }
    match client.get_sim("pump-7").await {
        Ok(_) => println!("unexpected: the old name still answers"),
        Err(e) => println!("the old name addresses nothing now: {e}"),
    }

    heading("Deactivate, told back with GET");
    let outcome = client
        .update_sim(&sid)
        .status(SettableStatus::Inactive)
        .callback_url(format!("{}/sim-off", receiver.base_url()))
        .callback_method(CallbackMethod::Get)
        .send()
        .await?;
    describe(&outcome);
    sandbox.settled().await;
    for s in client
        .list_sims()
        .status(Status::Inactive)
        .collect_all()
        .await?
    {
        print!("inactive now: ");
        show(&s);
    }
    for call in sandbox.callbacks() {
        println!(
            "callback {} {} answered {}",
            call.method,
            call.url,
            call.status
                .map_or_else(|| call.error.clone().unwrap_or_default(), |s| s.to_string())
        );
    }

    heading("What the sandbox received");
    for r in sandbox.requests() {
        let query = r
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        // The token request's body carries the client secret: never print it.
        let body = if r.path.ends_with("/auth/token") {
            "(credentials withheld)".to_owned()
        } else {
            r.body_text()
        };
        println!("{} {}{query} {body}", r.method, r.path);
    }
    Ok(())
}

fn show(sim: &Sim) {
    println!(
        "SIM {} {:?} iccid {} status {} fleet {}",
        sim.sid.as_deref().unwrap_or("?"),
        sim.unique_name.as_deref().unwrap_or(""),
        sim.iccid.as_deref().unwrap_or("?"),
        sim.status.as_ref().map_or("?", Status::as_str),
        sim.fleet_sid.as_deref().unwrap_or("none"),
    );
}

fn describe(outcome: &Updated<Sim>) {
    match outcome {
        Updated::Done(sim) => {
            print!("done (200): ");
            sim.iter().for_each(show);
        }
        Updated::Pending(sim) => {
            print!("accepted, applied later (202 scheduled): ");
            sim.iter().for_each(show);
            println!(
                "the provider calls the update's callback URL, if it gave one, when it has finished"
            );
        }
        Updated::Unchanged => println!("already so: nothing was sent"),
    }
}
