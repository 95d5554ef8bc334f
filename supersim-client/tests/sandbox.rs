//! A Super SIM's whole life through the public client against the local sandbox, with every
//! refusal the sandbox enforces.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};
use simcore::http::{Auth, Method, Request, Transport};
use simcore::paging::PagePosition;
use simcore::retry::RetryPolicy;
use simcore::secrecy::{ExposeSecret as _, SecretString};
use simcore::{Applied, DisplayName, Error, SimChange, SimProvider, SimState};
use simsandbox::{RecordedRequest, SandboxServer, empty_response};
use supersim_client::sandbox::{Sandbox, SandboxOptions, SimSeed, SimStatus};
use supersim_client::{CallbackMethod, Client, SettableStatus, Sim, Status, Updated, errors};

const ICCID: &str = "89883070000123456789";

/// A tiny receiver for callbacks: answers `204` to anything and logs what it got.
async fn receiver() -> SandboxServer {
    let router = Router::new().fallback(|| async { empty_response(204) });
    SandboxServer::start(router).await.expect("receiver")
}

/// A client that does not retry, so each refusal is one request.
fn no_retry(sandbox: &Sandbox) -> Client {
    sandbox
        .client_builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

/// The answer's status, Twilio code and message.
fn api(err: &Error) -> (u16, Option<i64>, String) {
    let a = err
        .api()
        .unwrap_or_else(|| panic!("not an answer: {err:?}"));
    (a.status, a.code, a.message.clone())
}

/// The form pairs of a recorded request body (or query).
fn form(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn lines(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| match &r.query {
            Some(q) => format!("{} {}?{q}", r.method, r.path),
            None => format!("{} {}", r.method, r.path),
        })
        .collect()
}

#[tokio::test]
async fn a_sim_s_whole_life() {
    // Long enough that `scheduled` is still there to see on a loaded machine.
    let options = SandboxOptions::new().schedule_delay(Duration::from_millis(200));
    let sandbox = Sandbox::start_with(options).await.unwrap();
    let hooks = receiver().await;
    let fleet = sandbox.seed_fleet("Field units");
    let sid = sandbox.seed_sim(SimSeed::new().unique_name("pump-7").iccid(ICCID));
    let client = sandbox.client();
    let base = sandbox.base_url();

    // Fetch by SID and by unique name: the same SIM, with absolute URLs at the sandbox.
    let sim = client.get_sim(&sid).await.unwrap();
    assert_eq!(sim.sid.as_deref(), Some(sid.as_str()));
    assert_eq!(sim.unique_name.as_deref(), Some("pump-7"));
    assert_eq!(sim.account_sid.as_deref(), Some(sandbox.account_sid()));
    assert_eq!(sim.iccid.as_deref(), Some(ICCID));
    assert_eq!(sim.status, Some(Status::New));
    assert_eq!(sim.fleet_sid, None);
    assert!(sim.date_created.is_some() && sim.date_updated.is_some());
    assert_eq!(sim.url, Some(format!("{base}/v1/Sims/{sid}")));
    let links = sim.links.clone().unwrap();
    assert_eq!(
        links.billing_periods,
        Some(format!("{base}/v1/Sims/{sid}/BillingPeriods"))
    );
    assert_eq!(
        links.sim_ip_addresses,
        Some(format!("{base}/v1/Sims/{sid}/IpAddresses"))
    );
    assert_eq!(client.get_sim("pump-7").await.unwrap(), sim);

    // Move it to a subaccount while it is new: done at once (200).
    let sub = sandbox.subaccount_sid();
    let outcome = client
        .update_sim(&sid)
        .account_sid(&sub)
        .known_status(Status::New)
        .send()
        .await
        .unwrap();
    let Updated::Done(Some(moved)) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(moved.account_sid.as_deref(), Some(sub.as_str()));
    assert_eq!(moved.status, Some(Status::New));
    assert_eq!(sandbox.sim(&sid).unwrap().account_sid, sub);

    // Ready: 202 and `scheduled`, then `ready` a moment later.
    let outcome = client
        .update_sim("pump-7")
        .status(SettableStatus::Ready)
        .send()
        .await
        .unwrap();
    match &outcome {
        Updated::Pending(Some(sim)) => assert_eq!(sim.status, Some(Status::Scheduled)),
        other => panic!("{other:?}"),
    }
    let held = sandbox.sim(&sid).unwrap();
    assert_eq!(held.status, SimStatus::Scheduled);
    assert_eq!(held.scheduled.unwrap().status, SimStatus::Ready);
    sandbox.settled().await;
    assert_eq!(sandbox.sim(&sid).unwrap().status, SimStatus::Ready);
    assert_eq!(
        client.get_sim(&sid).await.unwrap().status,
        Some(Status::Ready)
    );

    // Activate into a fleet with a callback: scheduled, then active, then the callback.
    let hook = format!("{}/sim-done?source=sandbox", hooks.base_url());
    let outcome = client
        .update_sim(&sid)
        .status(SettableStatus::Active)
        .fleet("Field units")
        .callback_url(&hook)
        .fetch_current()
        .send()
        .await
        .unwrap();
    match &outcome {
        Updated::Pending(Some(sim)) => {
            assert_eq!(sim.status, Some(Status::Scheduled));
            assert_eq!(sim.fleet_sid, None, "the fleet lands with the status");
        }
        other => panic!("{other:?}"),
    }
    sandbox.settled().await;
    let active = client.get_sim(&sid).await.unwrap();
    assert_eq!(active.status, Some(Status::Active));
    assert_eq!(active.fleet_sid.as_deref(), Some(fleet.as_str()));
    let got = hooks.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (
            got[0].method.as_str(),
            got[0].path.as_str(),
            got[0].query.as_deref()
        ),
        ("POST", "/sim-done", Some("source=sandbox"))
    );
    assert_eq!(
        got[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let sent = form(&got[0].body_text());
    assert_eq!(value(&sent, "SimSid"), Some(sid.as_str()));
    assert_eq!(value(&sent, "Status"), Some("active"));
    assert_eq!(value(&sent, "FleetSid"), Some(fleet.as_str()));
    assert_eq!(value(&sent, "AccountSid"), Some(sub.as_str()));
    assert_eq!(value(&sent, "Iccid"), Some(ICCID));
    assert_eq!(value(&sent, "SimUniqueName"), Some("pump-7"));
    let calls = sandbox.callbacks();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].status, calls[0].error.as_deref()),
        (Some(204), None)
    );
    assert_eq!(calls[0].param("Status"), Some("active"));

    // Rename: done at once, and the new name addresses the SIM; the old one no longer does.
    let outcome = client
        .update_sim(&sid)
        .unique_name("pump 7 (north)")
        .send()
        .await
        .unwrap();
    let Updated::Done(Some(renamed)) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(renamed.unique_name.as_deref(), Some("pump 7 (north)"));
    assert_eq!(renamed.status, Some(Status::Active));
    let by_name = client.get_sim("pump 7 (north)").await.unwrap();
    assert_eq!(by_name.sid.as_deref(), Some(sid.as_str()));
    let err = client.get_sim("pump-7").await.unwrap_err();
    assert_eq!(
        api(&err),
        (
            404,
            Some(20404),
            "The requested resource /Sims/pump-7 was not found".to_owned()
        )
    );

    // Deactivate, told back with GET.
    let outcome = client
        .update_sim("pump 7 (north)")
        .status(SettableStatus::Inactive)
        .callback_url(format!("{}/off", hooks.base_url()))
        .callback_method(CallbackMethod::Get)
        .known_status(Status::Active)
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    sandbox.settled().await;
    let off = sandbox.sim(&sid).unwrap();
    assert_eq!(off.status, SimStatus::Inactive);
    assert_eq!(off.scheduled, None);
    assert_eq!(off.unique_name.as_deref(), Some("pump 7 (north)"));
    let got = hooks.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[1].method.as_str(), got[1].path.as_str()),
        ("GET", "/off")
    );
    let sent = form(got[1].query.as_deref().unwrap_or_default());
    assert_eq!(value(&sent, "Status"), Some("inactive"));
    assert!(got[1].body.is_empty());

    // The request log shows exactly what the client sent, in order.
    let path = format!("/v1/Sims/{sid}");
    assert_eq!(
        lines(&sandbox.requests()),
        [
            format!("GET {path}"),
            "GET /v1/Sims/pump-7".to_owned(),
            format!("POST {path}"),
            "POST /v1/Sims/pump-7".to_owned(),
            format!("GET {path}"),
            format!("GET {path}"), // fetch_first
            format!("POST {path}"),
            format!("GET {path}"),
            format!("POST {path}"),
            "GET /v1/Sims/pump%207%20%28north%29".to_owned(),
            "GET /v1/Sims/pump-7".to_owned(),
            "POST /v1/Sims/pump%207%20%28north%29".to_owned(),
        ]
    );
    let requests = sandbox.requests();
    let activate = &requests[6];
    assert_eq!(
        form(&activate.body_text()),
        form(&format!(
            "Status=active&Fleet=Field+units&CallbackUrl={}",
            url::form_urlencoded::byte_serialize(hook.as_bytes()).collect::<String>()
        ))
    );
    assert!(requests.iter().all(|r| {
        r.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    }));
    // The log never prints the credentials.
    let printed = format!("{requests:?}");
    assert!(!printed.contains("Basic "), "{printed}");
    assert!(!printed.contains(sandbox.auth_token().expose_secret()));
}

#[tokio::test]
async fn refusals_at_the_server() {
    let sandbox = Sandbox::start_with(SandboxOptions::new().hold_scheduled())
        .await
        .unwrap();
    let client = no_retry(&sandbox);
    let active = sandbox.seed_sim(SimSeed::new().status(SimStatus::Active));
    sandbox.seed_fleet("Spare");

    // active -> ready, sent by a client told nothing of the current status: 83010.
    let err = client
        .update_sim(&active)
        .status(SettableStatus::Ready)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (
            400,
            Some(83010),
            "The Sim's status cannot change from active to ready".to_owned()
        )
    );
    assert_eq!(
        errors::Code::of(&err),
        Some(errors::Code::StatusChangeNotAllowed)
    );
    assert_eq!(
        err.api().unwrap().more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/83010")
    );
    assert!(!err.is_retryable());
    assert_eq!(sandbox.sim(&active).unwrap().status, SimStatus::Active);

    // The same status again is no change Twilio documents: 83010 too.
    let err = client
        .update_sim(&active)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    assert_eq!(api(&err).1, Some(83010));

    // AccountSid once the SIM is no longer new.
    let err = client
        .update_sim(&active)
        .account_sid(sandbox.subaccount_sid())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (
            400,
            Some(20001),
            "AccountSid can only be changed while the Sim's status is new (it is active)"
                .to_owned()
        )
    );
    assert_eq!(
        sandbox.sim(&active).unwrap().account_sid,
        sandbox.account_sid()
    );

    // A fleet change while scheduled: 83009; and no status change either (83010).
    let outcome = client
        .update_sim(&active)
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    let err = client
        .update_sim(&active)
        .fleet("Spare")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (
            400,
            Some(83009),
            "The Sim's Fleet cannot be updated while its status is scheduled".to_owned()
        )
    );
    assert_eq!(
        errors::Code::of(&err),
        Some(errors::Code::FleetUpdateWhileScheduled)
    );
    let err = client
        .update_sim(&active)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err).2,
        "The Sim's status cannot change from scheduled to active"
    );
    // A name change is fine while scheduled, and shows the SIM still scheduled.
    let outcome = client
        .update_sim(&active)
        .unique_name("held")
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    assert_eq!(sandbox.sim("held").unwrap().fleet_sid, None);
    assert_eq!(sandbox.complete_scheduled().await, 1);
    assert_eq!(sandbox.sim("held").unwrap().status, SimStatus::Inactive);
    assert_eq!(sandbox.complete_scheduled().await, 0);

    // Unknown SIMs, by SID and by name, for reads and writes.
    let ghost = "HS00000000000000000000000000000000";
    for err in [
        client.get_sim(ghost).await.unwrap_err(),
        client
            .update_sim(ghost)
            .unique_name("x")
            .send()
            .await
            .unwrap_err(),
    ] {
        assert_eq!(
            api(&err),
            (
                404,
                Some(20404),
                format!("The requested resource /Sims/{ghost} was not found")
            )
        );
        assert!(err.is_not_found());
        assert_eq!(errors::Code::of(&err), Some(errors::Code::NotFound));
    }
    let err = client.get_sim("no such pump").await.unwrap_err();
    assert_eq!(
        api(&err).2,
        "The requested resource /Sims/no such pump was not found"
    );

    // Fleets and names the account does not have.
    let fresh = sandbox.seed_sim(SimSeed::new().unique_name("fresh"));
    let err = client
        .update_sim(&fresh)
        .fleet("HF00000000000000000000000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (
            400,
            Some(20001),
            "Invalid Fleet \"HF00000000000000000000000000000000\": no such fleet".to_owned()
        )
    );
    let err = client
        .update_sim(&fresh)
        .unique_name("held")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err).2,
        "UniqueName \"held\" is already used by another Sim"
    );
    let err = client
        .update_sim(&fresh)
        .account_sid("ACffffffffffffffffffffffffffffffff")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err).2,
        "Invalid AccountSid ACffffffffffffffffffffffffffffffff: must be the requesting account or one of its subaccounts"
    );
    let untouched = sandbox.sim(&fresh).unwrap();
    assert_eq!(
        (untouched.status, untouched.fleet_sid, untouched.unique_name),
        (SimStatus::New, None, Some("fresh".to_owned()))
    );
}

#[tokio::test]
async fn wrong_credentials_get_twilio_s_401() {
    let sandbox = Sandbox::start().await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    let wrong = sandbox
        .client_builder()
        .account(sandbox.account_sid(), "not the token")
        .build()
        .unwrap();
    let err = wrong.get_sim(&sid).await.unwrap_err();
    assert_eq!(api(&err), (401, Some(20003), "Authenticate".to_owned()));
    assert!(err.is_unauthorized());
    assert_eq!(errors::Code::of(&err), Some(errors::Code::Authentication));
    assert_eq!(
        err.api().unwrap().more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/20003")
    );
    let other_account = sandbox
        .client_builder()
        .account("ACffffffffffffffffffffffffffffffff", sandbox.auth_token())
        .build()
        .unwrap();
    let err = other_account
        .update_sim(&sid)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    assert_eq!(api(&err).1, Some(20003));
    assert_eq!(sandbox.sim(&sid).unwrap().status, SimStatus::New);

    // The API key the sandbox knows works as well as the account's token.
    let by_key = sandbox
        .builder_without_credentials()
        .api_key(sandbox.api_key_sid(), sandbox.api_key_secret())
        .build()
        .unwrap();
    assert_eq!(
        by_key.get_sim(&sid).await.unwrap().sid.as_deref(),
        Some(sid.as_str())
    );

    // Each sandbox has its own credentials.
    let another = Sandbox::start().await.unwrap();
    assert_ne!(another.account_sid(), sandbox.account_sid());
    let err = another
        .client_builder()
        .base_url(sandbox.base_url())
        .build()
        .unwrap()
        .get_sim(&sid)
        .await
        .unwrap_err();
    assert!(err.is_unauthorized());
}

#[tokio::test]
async fn lists_filter_and_page() {
    let sandbox = Sandbox::start().await.unwrap();
    let fleet = sandbox.seed_fleet("North");
    let mut sids = Vec::new();
    for (i, status) in [
        SimStatus::New,
        SimStatus::Active,
        SimStatus::Active,
        SimStatus::Inactive,
        SimStatus::Active,
    ]
    .into_iter()
    .enumerate()
    {
        let mut seed = SimSeed::new()
            .status(status)
            .iccid(format!("8988307000012345678{i}"));
        if i % 2 == 1 {
            seed = seed.fleet("North");
        }
        sids.push(sandbox.seed_sim(seed));
    }
    let client = sandbox.client();
    let base = sandbox.base_url();
    let sids_of =
        |sims: &[Sim]| -> Vec<String> { sims.iter().map(|s| s.sid.clone().unwrap()).collect() };

    // Everything, one page, in the order the SIMs were added.
    let page = client.list_sims().first_page().await.unwrap();
    assert_eq!(sids_of(&page.items), sids);
    assert_eq!((page.next.clone(), page.total), (None, None));
    // The envelope, as the sandbox sends it.
    let meta = &envelope(&sandbox, &format!("{base}/v1/Sims")).await["meta"];
    assert_eq!(meta["key"], "sims");
    assert_eq!((&meta["page"], &meta["page_size"]), (&json!(0), &json!(50)));
    assert_eq!(meta["url"], format!("{base}/v1/Sims?PageSize=50&Page=0"));
    assert_eq!(meta["first_page_url"], meta["url"]);
    assert_eq!(
        (&meta["next_page_url"], &meta["previous_page_url"]),
        (&Value::Null, &Value::Null)
    );

    // Each filter.
    let active = client
        .list_sims()
        .status(Status::Active)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(
        sids_of(&active),
        [sids[1].clone(), sids[2].clone(), sids[4].clone()]
    );
    let by_fleet_sid = client
        .list_sims()
        .fleet(&fleet)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(sids_of(&by_fleet_sid), [sids[1].clone(), sids[3].clone()]);
    let by_fleet_name = client
        .list_sims()
        .fleet("North")
        .collect_all()
        .await
        .unwrap();
    assert_eq!(by_fleet_name, by_fleet_sid);
    let none = client
        .list_sims()
        .fleet("South")
        .collect_all()
        .await
        .unwrap();
    assert!(none.is_empty());
    let both = client
        .list_sims()
        .status(Status::Active)
        .fleet("North")
        .collect_all()
        .await
        .unwrap();
    assert_eq!(sids_of(&both), [sids[1].clone()]);
    let one = client
        .list_sims()
        .iccid("89883070000123456782")
        .collect_all()
        .await
        .unwrap();
    assert_eq!(sids_of(&one), [sids[2].clone()]);

    // Pages of two: three pages, linked both ways, every URL on the sandbox.
    let list = client.list_sims().page_size(2);
    let first = list.clone().first_page().await.unwrap();
    assert_eq!(sids_of(&first.items), sids[..2]);
    let next = first.next.clone().unwrap();
    assert_eq!(
        next,
        PagePosition::Token(format!(
            "{base}/v1/Sims?PageSize=2&Page=1&PageToken=PA{}",
            sids[1]
        ))
    );
    let second = list
        .clone()
        .resume_from(next.clone())
        .first_page()
        .await
        .unwrap();
    assert_eq!(sids_of(&second.items), sids[2..4]);
    let PagePosition::Token(next_url) = &next else {
        unreachable!()
    };
    let second_meta = envelope(&sandbox, next_url).await["meta"].clone();
    assert_eq!(second_meta["page"], 1);
    assert_eq!(second_meta["url"], next_url.as_str());
    assert_eq!(
        second_meta["previous_page_url"],
        format!("{base}/v1/Sims?PageSize=2&Page=0&PageToken=PB{}", sids[2])
    );
    let third = list
        .clone()
        .resume_from(second.next.clone().unwrap())
        .first_page()
        .await
        .unwrap();
    assert_eq!(sids_of(&third.items), sids[4..]);
    assert_eq!(third.next, None);
    let all = client.list_sims().page_size(2).collect_all().await.unwrap();
    assert_eq!(sids_of(&all), sids);

    // A filtered list pages with its filters kept.
    let active_pages = client
        .list_sims()
        .status(Status::Active)
        .page_size(2)
        .first_page()
        .await
        .unwrap();
    let Some(PagePosition::Token(active_next)) = active_pages.next.clone() else {
        panic!("{active_pages:?}")
    };
    assert!(active_next.starts_with(&format!("{base}/v1/Sims?Status=active&PageSize=2&Page=1")));
    let rest = client
        .list_sims()
        .resume_from(active_pages.next.clone().unwrap())
        .first_page()
        .await
        .unwrap();
    assert_eq!(sids_of(&rest.items), [sids[4].clone()]);

    // The previous page URL leads back to the page before.
    let back_url = second_meta["previous_page_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let back = client
        .list_sims()
        .resume_from(PagePosition::Token(back_url))
        .first_page()
        .await
        .unwrap();
    assert_eq!(sids_of(&back.items), sids[..2]);
}

/// The JSON of a list page at `url`, read raw (the paging envelope as the sandbox sends it).
async fn envelope(sandbox: &Sandbox, url: &str) -> Value {
    let req = Request::new(Method::GET, url.parse().unwrap());
    let response = raw(sandbox).send(&req).await.unwrap();
    serde_json::from_slice(response.body()).unwrap()
}

/// An answer's status, Twilio code and message.
type Expected = (u16, Option<i64>, &'static str);

/// A raw client for what the typed client refuses to send: the server's own checks.
fn raw(sandbox: &Sandbox) -> Transport {
    Transport::builder("twilio", sandbox.base_url())
        .auth(Auth::basic(sandbox.account_sid(), &sandbox.auth_token()).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

async fn answer(t: &Transport, req: Request) -> (u16, Option<i64>, String) {
    match t.send(&req).await {
        Ok(r) => (
            r.status(),
            None,
            String::from_utf8_lossy(r.body()).into_owned(),
        ),
        Err(e) => api(&e),
    }
}

#[tokio::test]
async fn the_server_checks_what_the_client_would_refuse() {
    let sandbox = Sandbox::start().await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    let t = raw(&sandbox);
    let sim_url = t.url(&["v1", "Sims", &sid]).unwrap();
    let update = |pairs: &[(&str, &str)]| {
        Request::new(Method::POST, sim_url.clone()).form(pairs.iter().copied())
    };
    let cases: Vec<(&str, Request, Expected)> = vec![
        (
            "status new",
            update(&[("Status", "new")]),
            (
                400,
                Some(20001),
                "Invalid Status \"new\": must be ready, active or inactive",
            ),
        ),
        (
            "status scheduled",
            update(&[("Status", "scheduled")]),
            (
                400,
                Some(20001),
                "Invalid Status \"scheduled\": must be ready, active or inactive",
            ),
        ),
        (
            "status in capitals",
            update(&[("Status", "ACTIVE")]),
            (
                400,
                Some(20001),
                "Invalid Status \"ACTIVE\": must be ready, active or inactive",
            ),
        ),
        (
            "relative callback",
            update(&[("Status", "active"), ("CallbackUrl", "/done")]),
            (
                400,
                Some(20001),
                "Invalid CallbackUrl \"/done\": must be an absolute http or https URL",
            ),
        ),
        (
            "callback method",
            update(&[("Status", "active"), ("CallbackMethod", "PUT")]),
            (
                400,
                Some(20001),
                "Invalid CallbackMethod \"PUT\": must be GET or POST",
            ),
        ),
        (
            "malformed account",
            update(&[("AccountSid", "AC123")]),
            (
                400,
                Some(20001),
                "Invalid AccountSid \"AC123\": must be AC followed by 32 hex digits",
            ),
        ),
        (
            "unknown parameter",
            update(&[("status", "active")]),
            (400, Some(20001), "Unknown parameter status"),
        ),
        (
            "parameter twice",
            update(&[("Status", "active"), ("Status", "inactive")]),
            (
                400,
                Some(20001),
                "Parameter Status was given more than once",
            ),
        ),
        (
            "json body",
            Request::new(Method::POST, sim_url.clone())
                .json(&serde_json::json!({"Status": "active"}))
                .unwrap(),
            (
                415,
                Some(20415),
                "Unsupported Media Type: send application/x-www-form-urlencoded",
            ),
        ),
        (
            "delete",
            Request::new(Method::DELETE, sim_url.clone()),
            (405, Some(20004), "Method not allowed"),
        ),
        (
            "register",
            Request::new(Method::POST, t.url(&["v1", "Sims"]).unwrap())
                .form([("Iccid", ICCID), ("RegistrationCode", "H3LL0W0RLD")]),
            (405, Some(20004), "Method not allowed"),
        ),
        (
            "another resource",
            Request::new(Method::GET, t.url(&["v1", "Fleets"]).unwrap()),
            (
                404,
                Some(20404),
                "The requested resource /Fleets was not found",
            ),
        ),
        (
            "page size 0",
            Request::new(Method::GET, t.url(&["v1", "Sims"]).unwrap()).query([("PageSize", "0")]),
            (400, Some(20001), "Invalid PageSize."),
        ),
        (
            "page size 1001",
            Request::new(Method::GET, t.url(&["v1", "Sims"]).unwrap())
                .query([("PageSize", "1001")]),
            (400, Some(20001), "Invalid PageSize."),
        ),
        (
            "page -1",
            Request::new(Method::GET, t.url(&["v1", "Sims"]).unwrap()).query([("Page", "-1")]),
            (400, Some(20001), "Invalid Page."),
        ),
        (
            "made-up token",
            Request::new(Method::GET, t.url(&["v1", "Sims"]).unwrap())
                .query([("PageToken", "PAxyz")]),
            (400, Some(20001), "Invalid PageToken."),
        ),
        (
            "list status",
            Request::new(Method::GET, t.url(&["v1", "Sims"]).unwrap())
                .query([("Status", "deleted")]),
            (
                400,
                Some(20001),
                "Invalid Status \"deleted\": must be new, ready, active, inactive or scheduled",
            ),
        ),
    ];
    let before = sandbox.sim(&sid).unwrap();
    for (name, req, (status, code, message)) in cases {
        assert_eq!(
            answer(&t, req).await,
            (status, code, message.to_owned()),
            "{name}"
        );
    }
    assert_eq!(
        sandbox.sim(&sid).unwrap(),
        before,
        "a refusal changes nothing"
    );

    // Without credentials at all, and with the sandbox's 401 header.
    let anonymous = Transport::builder("twilio", sandbox.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = anonymous
        .send(&Request::new(Method::GET, sim_url.clone()))
        .await
        .unwrap_err();
    assert_eq!(api(&err), (401, Some(20003), "Authenticate".to_owned()));
    let bearer = Transport::builder("twilio", sandbox.base_url())
        .auth(Auth::bearer(&SecretString::from(sandbox.account_sid().to_owned())).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = bearer
        .send(&Request::new(Method::GET, sim_url.clone()))
        .await
        .unwrap_err();
    assert_eq!(api(&err).1, Some(20003));

    // An empty update changes nothing and answers the SIM (200).
    let (status, _, body) = answer(&t, Request::new(Method::POST, sim_url.clone())).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"new\""), "{body}");

    // A callback the transport will not call (plain http to another host) is logged, not made.
    let (status, _, _) = answer(
        &t,
        update(&[
            ("Status", "active"),
            ("CallbackUrl", "http://example.com/done"),
        ]),
    )
    .await;
    assert_eq!(status, 202);
    sandbox.settled().await;
    let calls = sandbox.callbacks();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, None);
    assert!(
        calls[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("https")),
        "{calls:?}"
    );
    assert_eq!(sandbox.sim(&sid).unwrap().status, SimStatus::Active);
}

#[tokio::test]
async fn the_rate_limit_answers_twilio_s_429_with_retry_after() {
    let sandbox = Sandbox::start_with(SandboxOptions::new().rate_limit(0.5, 1))
        .await
        .unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    let client = no_retry(&sandbox);
    client.get_sim(&sid).await.unwrap();
    let err = client.get_sim(&sid).await.unwrap_err();
    assert_eq!(
        api(&err),
        (429, Some(20429), "Too Many Requests".to_owned())
    );
    assert_eq!(errors::Code::of(&err), Some(errors::Code::TooManyRequests));
    assert!(err.is_retryable());
    let wait = err.retry_after().expect("Retry-After");
    assert!(
        (Duration::from_secs(1)..=Duration::from_secs(2)).contains(&wait),
        "{wait:?}"
    );
    assert_eq!(sandbox.server().stats().throttled, 1);

    // A throttled update is never processed.
    let err = client
        .update_sim(&sid)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(sandbox.sim(&sid).unwrap().status, SimStatus::New);

    // Lifted, the same client goes through.
    sandbox.server().set_rate_limit(None);
    assert!(
        client
            .update_sim(&sid)
            .status(SettableStatus::Active)
            .send()
            .await
            .unwrap()
            .is_pending()
    );
}

#[tokio::test]
async fn injected_faults_are_retried_by_the_client() {
    let sandbox = Sandbox::start().await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    let client = sandbox
        .client_builder()
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    sandbox.server().fail_next(1, 503);
    sandbox.server().drop_next(1);
    let sim = client.get_sim(&sid).await.unwrap();
    assert_eq!(sim.status, Some(Status::New));
    let stats = sandbox.server().stats();
    assert_eq!((stats.received, stats.failed, stats.dropped), (3, 1, 1));
}

#[tokio::test]
async fn the_sim_provider_trait_against_the_sandbox() {
    let sandbox = Sandbox::start().await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new().iccid(ICCID));
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    assert_eq!(provider.name(), "supersim");

    let snap = provider.fetch(&sid).await.unwrap();
    assert_eq!(snap.state, SimState::New);
    assert_eq!(snap.iccid.as_deref(), Some(ICCID));
    assert_eq!(snap.native_status.as_deref(), Some("new"));

    let applied = provider
        .apply(&sid, &SimChange::new().state(SimState::Active))
        .await
        .unwrap();
    let Applied::Pending(Some(pending)) = applied else {
        panic!("{applied:?}")
    };
    assert_eq!(pending.state, SimState::Pending);
    sandbox.settled().await;
    assert_eq!(provider.fetch(&sid).await.unwrap().state, SimState::Active);

    let name = DisplayName::parse("pump 9").unwrap();
    let applied = provider
        .apply(&sid, &SimChange::new().display_name(name))
        .await
        .unwrap();
    let Applied::Done(Some(done)) = applied else {
        panic!("{applied:?}")
    };
    assert_eq!(done.display_name.as_deref(), Some("pump 9"));
    assert_eq!(
        provider.fetch("pump 9").await.unwrap().id,
        sid,
        "the display name addresses the SIM"
    );

    // Sent with nothing known: Twilio's 83010. With the state known: refused before sending.
    let err = provider
        .apply(&sid, &SimChange::new().state(SimState::Ready))
        .await
        .unwrap_err();
    assert_eq!(api(&err).1, Some(83010));
    let sent = sandbox.requests().len();
    let err = provider
        .apply(
            &sid,
            &SimChange::new()
                .state(SimState::Ready)
                .known_state(SimState::Active),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transition(_)), "{err:?}");
    assert_eq!(sandbox.requests().len(), sent);

    let err = provider
        .fetch("HS00000000000000000000000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

/// Seeds `n` SIMs: every third active, every tenth named `pump {i}`.
fn seed_fleet(sandbox: &Sandbox, n: usize) -> Vec<String> {
    sandbox.seed_sims((0..n).map(|i| {
        let mut seed = SimSeed::new().status(if i % 3 == 0 {
            SimStatus::Active
        } else {
            SimStatus::New
        });
        if i % 10 == 0 {
            seed = seed.unique_name(format!("pump {i}"));
        }
        seed
    }))
}

#[tokio::test]
async fn ten_thousand_sims_list_in_ten_requests_each_sim_once() {
    use futures_util::TryStreamExt as _;
    use simcore::{ListOptions, SimSnapshot};

    let sandbox = Sandbox::start().await.unwrap();
    let sids = seed_fleet(&sandbox, 10_000);
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let pages: Vec<Vec<SimSnapshot>> = provider
        .list(&ListOptions::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [1000; 10]);
    let listed: Vec<&SimSnapshot> = pages.iter().flatten().collect();
    let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, sids, "every SIM once, in the order they were added");
    for (i, snap) in listed.iter().enumerate() {
        let expected = if i % 3 == 0 {
            SimState::Active
        } else {
            SimState::New
        };
        assert_eq!(snap.state, expected, "{i}");
        if i % 10 == 0 {
            assert_eq!(snap.aliases, [format!("pump {i}")]);
        } else {
            assert!(snap.aliases.is_empty());
        }
    }

    let requests = sandbox.requests();
    assert_eq!(requests.len(), 10);
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && r.path == "/v1/Sims")
    );
    assert_eq!(requests[0].query.as_deref(), Some("PageSize=1000"));
    for (n, r) in requests.iter().enumerate().skip(1) {
        let expected = format!("PageSize=1000&Page={n}&PageToken=PA{}", sids[n * 1000 - 1]);
        assert_eq!(r.query.as_deref(), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn a_hundred_thousand_sims_seed_and_page_without_quadratic_cost() {
    use futures_util::TryStreamExt as _;

    let sandbox = Sandbox::start().await.unwrap();
    let started = std::time::Instant::now();
    let sids = seed_fleet(&sandbox, 100_000);
    let seeded = started.elapsed();
    // Lookups by unique name are indexed too.
    assert_eq!(sandbox.sim("pump 99990").unwrap().sid, sids[99_990]);
    let started = std::time::Instant::now();
    let mut seen = 0;
    let mut pages = std::pin::pin!(sandbox.client().list_sims().page_size(1000).pages());
    while let Some(page) = pages.try_next().await.unwrap() {
        let first = page.items[0].sid.as_deref().unwrap();
        assert_eq!(first, sids[seen]);
        seen += page.items.len();
    }
    let listed = started.elapsed();
    assert_eq!(seen, 100_000);
    assert_eq!(sandbox.requests().len(), 100);
    // Generous bounds for a debug build on a busy machine: a page whose cost grew with the
    // fleet (a sort or a scan per page) would take minutes here.
    assert!(seeded < Duration::from_secs(20), "seeding took {seeded:?}");
    assert!(listed < Duration::from_secs(60), "listing took {listed:?}");
    eprintln!("100,000 SIMs: seeded in {seeded:?}, listed in {listed:?}");
}

#[tokio::test]
async fn listed_snapshots_match_fetched_ones_in_both_dialects() {
    use futures_util::TryStreamExt as _;
    use simcore::{ListOptions, SimSnapshot};

    for options in [
        SandboxOptions::new().hold_scheduled(),
        SandboxOptions::kore().hold_scheduled(),
    ] {
        let sandbox = Sandbox::start_with(options).await.unwrap();
        sandbox.seed_fleet("North");
        sandbox.seed_sim(
            SimSeed::new()
                .unique_name("pump 1")
                .status(SimStatus::Active),
        );
        sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready).fleet("North"));
        sandbox.seed_sim(SimSeed::new().account_sid(sandbox.subaccount_sid()));
        let scheduled = sandbox.seed_sim(
            SimSeed::new()
                .unique_name("pump 4")
                .status(SimStatus::Inactive),
        );
        let client = sandbox.client();
        client
            .update_sim(&scheduled)
            .status(SettableStatus::Active)
            .send()
            .await
            .unwrap();
        let provider: Arc<dyn SimProvider> = Arc::new(client);
        let listed: Vec<SimSnapshot> = provider
            .list(&ListOptions::new().page_size(3))
            .try_concat()
            .await
            .unwrap();
        assert_eq!(listed.len(), 4);
        for snap in &listed {
            assert_eq!(snap.provider, provider.name());
            let fetched = provider.fetch(&snap.id).await.unwrap();
            assert_eq!(snap, &fetched);
            for alias in &snap.aliases {
                assert_eq!(&provider.fetch(alias).await.unwrap(), snap, "by {alias}");
            }
        }
        let states: Vec<SimState> = listed.iter().map(|s| s.state.clone()).collect();
        assert_eq!(
            states,
            [
                SimState::Active,
                SimState::Ready,
                SimState::New,
                SimState::Pending
            ]
        );
        assert_eq!(listed[0].aliases, ["pump 1"]);
        assert_eq!(listed[3].aliases, ["pump 4"]);
    }
}
