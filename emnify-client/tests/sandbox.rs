//! A SIM's whole life through the client against the emnify sandbox: every documented change,
//! every refusal the sandbox enforces (as typed errors), the token flow, and the raw wire rules.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use emnify_client::auth::{jwt_expiry, password_sha1_hex};
use emnify_client::errors::is_locked_out;
use emnify_client::sandbox::{
    CallerRole, ENTERPRISE_ORG, OWN_ORG, RESELLER_ORG, RateLimit, SERVICE_PROVIDER_ORG, Sandbox,
    SandboxOptions, SimSeed,
};
use emnify_client::secrecy::ExposeSecret;
use emnify_client::{OrgChange, SettableStatus, SimStatus};
use futures_util::future::join_all;
use serde_json::{Value, json};
use simcore::retry::RetryPolicy;
use simcore::{Applied, Error, SimChange, SimProvider, SimState};

/// The typed API error, or a panic naming what came instead.
fn api(e: Error) -> simcore::ApiError {
    match e {
        Error::Api(a) => *a,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn assert_api(e: Error, status: u16, code: Option<i64>, token: Option<&str>, message: &str) {
    let a = api(e);
    assert_eq!(a.status, status, "{a}");
    assert_eq!(a.code, code, "{a}");
    assert_eq!(a.token.as_deref(), token, "{a}");
    assert_eq!(a.message, message, "{a}");
}

/// Method and path of each request, as `"PATCH /api/v1/sim/1"`.
fn lines(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn a_sims_whole_life() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new().customer_org(ENTERPRISE_ORG));
    let client = sandbox.client();

    // Fetch: emnify's shape, read into the typed model.
    let sim = client.get_sim(id).await.unwrap();
    assert_eq!(sim.id, id);
    assert_eq!(sim.status, Some(SimStatus::Issued));
    let iccid = sim.iccid.clone().unwrap();
    assert_eq!(iccid.len(), 19);
    assert_eq!(sim.iccid_with_luhn.as_deref().unwrap().len(), 20);
    assert!(sim.iccid_with_luhn.as_deref().unwrap().starts_with(&iccid));
    assert_eq!(sim.issuer_org.as_ref().unwrap().id, OWN_ORG);
    assert_eq!(
        sim.issuer_org.as_ref().unwrap().name.as_deref(),
        Some("Sandbox Operator")
    );
    assert_eq!(sim.customer_org.as_ref().unwrap().id, ENTERPRISE_ORG);
    assert_eq!(sim.reseller_org, None);
    assert_eq!(sim.endpoint, None);
    assert!(sim.production_date.is_some());
    assert_eq!(sim.activation_date, None);

    // Activate, checked locally against the fetched status first.
    client
        .update_sim(id)
        .current(&sim)
        .status(SettableStatus::Activated)
        .send()
        .await
        .unwrap();
    let state = sandbox.sim(id).unwrap();
    assert_eq!(state.status, SimStatus::Activated.id());
    let activated_at = state.activation_date.expect("activation sets the date");
    let sim = client.get_sim(id).await.unwrap();
    assert_eq!(sim.status, Some(SimStatus::Activated));
    assert_eq!(sim.activation_date, Some(activated_at));

    // Suspend, then reactivate: the date of the first activation stays.
    client
        .update_sim(id)
        .current(&sim)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.sim(id).unwrap().status, SimStatus::Suspended.id());
    client
        .update_sim(id)
        .known_status(SimStatus::Suspended)
        .status(SettableStatus::Activated)
        .send()
        .await
        .unwrap();
    let state = sandbox.sim(id).unwrap();
    assert_eq!(state.status, SimStatus::Activated.id());
    assert_eq!(state.activation_date, Some(activated_at));

    // Organisations: set a reseller, clear the customer, keep the issuer.
    client
        .update_sim(id)
        .reseller_org(RESELLER_ORG)
        .customer_org(OrgChange::Clear)
        .send()
        .await
        .unwrap();
    let state = sandbox.sim(id).unwrap();
    assert_eq!(state.reseller_org, Some(RESELLER_ORG));
    assert_eq!(state.customer_org, None);
    assert_eq!(state.issuer_org, OWN_ORG);
    let sim = client.get_sim(id).await.unwrap();
    assert_eq!(
        sim.reseller_org.unwrap().name.as_deref(),
        Some("Sandbox Reseller")
    );
    assert_eq!(sim.customer_org, None, "an empty key is omitted");

    // The issuer moves to a service provider.
    client
        .update_sim(id)
        .issuer_org(SERVICE_PROVIDER_ORG)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.sim(id).unwrap().issuer_org, SERVICE_PROVIDER_ORG);

    // Delete: the SIM is gone, and says so.
    client.delete_sim(id).await.unwrap();
    assert_eq!(sandbox.sim(id), None);
    let e = client.get_sim(id).await.unwrap_err();
    assert!(e.is_not_found());
    assert_api(
        e,
        404,
        Some(1201),
        Some("NotFound"),
        &format!("SIM with Id '{id}' not found."),
    );

    // The log: one authentication, then every call with the bearer token, bodies as sent.
    let requests = sandbox.requests();
    let p = format!("/api/v1/sim/{id}");
    assert_eq!(
        lines(&sandbox),
        vec![
            "POST /api/v1/authenticate".to_owned(),
            format!("GET {p}"),
            format!("PATCH {p}"),
            format!("GET {p}"),
            format!("PATCH {p}"),
            format!("PATCH {p}"),
            format!("PATCH {p}"),
            format!("GET {p}"),
            format!("PATCH {p}"),
            format!("DELETE {p}"),
            format!("GET {p}"),
        ]
    );
    assert_eq!(
        requests[0].body_json(),
        Some(json!({"application_token": sandbox.application_token()}))
    );
    let bearer = requests[1].header("authorization").unwrap().to_owned();
    assert!(bearer.starts_with("Bearer "));
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.header("authorization") == Some(&bearer))
    );
    let bodies: Vec<Value> = requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec![
            json!({"status": {"id": 1}}),
            json!({"status": {"id": 2}}),
            json!({"status": {"id": 1}}),
            json!({"reseller_org": {"id": RESELLER_ORG}, "customer_org": {"id": null}}),
            json!({"issuer_org": {"id": SERVICE_PROVIDER_ORG}}),
        ]
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.method == "PATCH")
            .all(|r| r.header("content-type") == Some("application/json"))
    );
    assert_eq!(sandbox.authenticate_calls(), 1);
}

#[tokio::test]
async fn a_refused_transition_is_a_typed_422_and_changes_nothing() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let client = sandbox.client();

    // Sent without the current status: emnify (here, the sandbox) refuses Issued -> Suspended.
    let e = client
        .update_sim(id)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap_err();
    assert!(!e.was_not_sent());
    assert!(!e.is_retryable());
    assert_api(
        e.clone(),
        422,
        Some(1400),
        Some("InputValidationFailed"),
        "Update SIM validation error: SIM status cannot change from Issued (0) to Suspended (2)",
    );
    assert_eq!(
        api(e).details,
        Some(json!([{
            "error_code": 1400,
            "error_token": "InputValidationFailed",
            "message": "SIM status cannot change from Issued (0) to Suspended (2)",
        }]))
    );
    assert_eq!(sandbox.sim(id).unwrap().status, 0);

    // With the current status known, the client refuses before sending.
    let before = sandbox.requests().len();
    let sim = client.get_sim(id).await.unwrap();
    let e = client
        .update_sim(id)
        .current(&sim)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transition(_)), "{e:?}");
    assert!(e.was_not_sent());
    assert_eq!(
        sandbox.requests().len(),
        before + 1,
        "only the GET was sent"
    );

    // Factory Test, then Activated; Factory Test again is refused (Activated -> Factory Test).
    client
        .update_sim(id)
        .status(SettableStatus::FactoryTest)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.sim(id).unwrap().status, 4);
    client
        .update_sim(id)
        .status(SettableStatus::Activated)
        .send()
        .await
        .unwrap();
    let e = client
        .update_sim(id)
        .status(SettableStatus::FactoryTest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "emnify: HTTP 422 (code 1400 InputValidationFailed): Update SIM validation error: SIM status cannot change from Activated (1) to Factory Test (4); retrying will not help"
    );
    // Setting the current status again is not a documented change either.
    let e = client
        .update_sim(id)
        .status(SettableStatus::Activated)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert_eq!(sandbox.sim(id).unwrap().status, 1);
}

#[tokio::test]
async fn organisation_rules_by_role_and_by_type() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new().status(1).customer_org(ENTERPRISE_ORG));
    let client = sandbox.client();

    // A customer-org user may change the status, not the organisations.
    sandbox.set_caller_role(CallerRole::Customer);
    let e = client
        .update_sim(id)
        .customer_org(OrgChange::Clear)
        .send()
        .await
        .unwrap_err();
    assert_api(
        e,
        403,
        Some(1104),
        Some("Forbidden"),
        "Users of a customer organisation of this SIM may not change: customer_org",
    );
    assert_eq!(sandbox.sim(id).unwrap().customer_org, Some(ENTERPRISE_ORG));
    client
        .update_sim(id)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.sim(id).unwrap().status, 2);

    // A reseller-org user may change the organisations below it, not the status.
    sandbox.set_caller_role(CallerRole::Reseller);
    let e = client
        .update_sim(id)
        .status(SettableStatus::Activated)
        .reseller_org(RESELLER_ORG)
        .send()
        .await
        .unwrap_err();
    assert_eq!(api(e).code, Some(1104));
    client
        .update_sim(id)
        .reseller_org(RESELLER_ORG)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.sim(id).unwrap().reseller_org, Some(RESELLER_ORG));
    // ... and may not delete a SIM it sold.
    let e = client.delete_sim(id).await.unwrap_err();
    assert_api(
        e,
        403,
        Some(1104),
        Some("Forbidden"),
        "Resellers cannot delete SIMs they have sold.",
    );
    assert!(sandbox.sim(id).is_some());

    // Which organisations may be assigned.
    sandbox.set_caller_role(CallerRole::Issuer);
    let e = client
        .update_sim(id)
        .customer_org(777)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "emnify: HTTP 422 (code 1400 InputValidationFailed): Update SIM validation error: Organisation with Id '777' not found.; retrying will not help"
    );
    assert_eq!(api(e).details.unwrap()[0]["error_code"], 1401);
    let e = client
        .update_sim(id)
        .customer_org(RESELLER_ORG)
        .issuer_org(ENTERPRISE_ORG)
        .send()
        .await
        .unwrap_err();
    let a = api(e);
    assert_eq!(a.details.as_ref().unwrap().as_array().unwrap().len(), 2);
    assert!(a.message.contains("cannot be the customer_org"), "{a}");
    assert!(a.message.contains("cannot be the issuer_org"), "{a}");
    // The own organisation may be the customer.
    client
        .update_sim(id)
        .customer_org(OWN_ORG)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.sim(id).unwrap().customer_org, Some(OWN_ORG));
    // A seeded enterprise too.
    sandbox.seed_org(5001, "Acme Fleet", "Enterprise");
    client
        .update_sim(id)
        .customer_org(5001)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.sim(id).unwrap().customer_org, Some(5001));
}

#[tokio::test]
async fn unknown_and_deleted_sims_are_404_and_endpoints_block_deletion() {
    let sandbox = Sandbox::start().await.unwrap();
    let client = sandbox.client();
    let e = client.get_sim(999_999).await.unwrap_err();
    assert_api(
        e,
        404,
        Some(1201),
        Some("NotFound"),
        "SIM with Id '999999' not found.",
    );

    let with_endpoint = sandbox.seed_sim(SimSeed::new().status(1).endpoint(11380016, "tracker-7"));
    let sim = client.get_sim(with_endpoint).await.unwrap();
    assert_eq!(sim.endpoint.unwrap().name.as_deref(), Some("tracker-7"));
    let e = client.delete_sim(with_endpoint).await.unwrap_err();
    assert_api(
        e,
        403,
        Some(1104),
        Some("Forbidden"),
        &format!("SIM with Id '{with_endpoint}' is assigned to an endpoint and cannot be deleted."),
    );

    let id = sandbox.seed_sim(SimSeed::new());
    client.delete_sim(id).await.unwrap();
    for e in [
        client.delete_sim(id).await.unwrap_err(),
        client
            .update_sim(id)
            .status(SettableStatus::Activated)
            .send()
            .await
            .unwrap_err(),
    ] {
        assert!(e.is_not_found(), "{e}");
    }
}

#[tokio::test]
async fn the_token_is_reused_and_a_revoked_one_reauthenticates_once() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let client = sandbox.client();
    assert_eq!(sandbox.authenticate_calls(), 0, "building sends nothing");
    for _ in 0..3 {
        client.get_sim(id).await.unwrap();
    }
    assert_eq!(sandbox.authenticate_calls(), 1);

    // The token is a JWT whose exp is 240 minutes away.
    let requests = sandbox.requests();
    let bearer = requests[1].header("authorization").unwrap();
    let jwt = bearer.strip_prefix("Bearer ").unwrap();
    let left = jwt_expiry(jwt)
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(239 * 60) && left <= Duration::from_secs(240 * 60));

    sandbox.server().clear_requests();
    sandbox.expire_tokens();
    client.get_sim(id).await.unwrap();
    assert_eq!(sandbox.authenticate_calls(), 2);
    let requests = sandbox.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| r.method.as_str())
            .collect::<Vec<_>>(),
        ["GET", "POST", "GET"],
        "rejected, re-authenticated, retried"
    );
    assert_ne!(
        requests[0].header("authorization"),
        requests[2].header("authorization")
    );
}

#[tokio::test]
async fn a_wrong_application_token_is_a_typed_401() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let client = sandbox
        .client_builder()
        .application_token("not-the-sandbox-token")
        .build()
        .unwrap();
    let e = client.get_sim(id).await.unwrap_err();
    assert!(e.is_unauthorized());
    assert_api(e, 401, None, None, "authentication failed: (empty body)");
    assert_eq!(lines(&sandbox), ["POST /api/v1/authenticate"]);
    // The client does not send refused credentials again at once.
    let e = client.get_sim(id).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(sandbox.authenticate_calls(), 1);
    assert!(!sandbox.is_locked_out());
}

#[tokio::test]
async fn three_refusals_in_a_row_lock_authentication_out() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/authenticate", sandbox.base_url());
    let post = |body: Value| {
        http.post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    for _ in 0..2 {
        let r = post(json!({"application_token": "wrong"})).await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.text().await.unwrap(), "");
    }
    // The third refusal, through the client: emnify's lockout answer.
    let wrong = sandbox
        .client_builder()
        .application_token("wrong")
        .build()
        .unwrap();
    let e = wrong.get_sim(id).await.unwrap_err();
    assert!(is_locked_out(&e), "{e}");
    assert_api(
        e,
        401,
        Some(1105),
        Some("TooManyRequests"),
        "authentication failed: Too many failed login attempts, try again later",
    );
    assert!(sandbox.is_locked_out());
    // Locked: the right token is refused too.
    let e = sandbox.client().get_sim(id).await.unwrap_err();
    assert!(is_locked_out(&e), "{e}");
    sandbox.unlock();
    sandbox.client().get_sim(id).await.unwrap();
    // A success resets the count: two more refusals do not lock.
    for _ in 0..2 {
        post(json!({"application_token": "wrong"})).await.unwrap();
    }
    assert!(!sandbox.is_locked_out());
    let r = post(json!({"application_token": sandbox.application_token()}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn user_credentials_get_a_refresh_token_that_is_used_next() {
    let sandbox = Sandbox::start().await.unwrap();
    sandbox.seed_user("ops@example.com", "s3cret-pw");
    let id = sandbox.seed_sim(SimSeed::new());
    let client = sandbox
        .builder_without_credentials()
        .user_credentials("ops@example.com", "s3cret-pw")
        .build()
        .unwrap();
    client.get_sim(id).await.unwrap();
    sandbox.expire_tokens();
    client.get_sim(id).await.unwrap();
    assert_eq!(sandbox.authenticate_calls(), 2);

    let auths: Vec<Value> = sandbox
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/authenticate")
        .map(|r| r.body_json().unwrap())
        .collect();
    let hash = password_sha1_hex(&"s3cret-pw".into());
    assert_eq!(
        auths[0],
        json!({"username": "ops@example.com", "password": hash.expose_secret()})
    );
    assert!(
        auths[1]["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(auths[1].as_object().unwrap().len(), 1);

    // A wrong password is refused like a wrong token.
    let wrong = sandbox
        .builder_without_credentials()
        .user_credentials("ops@example.com", "guess")
        .build()
        .unwrap();
    assert_eq!(wrong.get_sim(id).await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn short_lived_tokens_are_replaced_before_exp_and_expired_ones_refused() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        token_lifetime: Duration::from_secs(2),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let client = sandbox.client();
    // A short token serves nine tenths of its life, then is replaced before its `exp`.
    for _ in 0..3 {
        client.get_sim(id).await.unwrap();
    }
    assert_eq!(sandbox.authenticate_calls(), 1);
    tokio::time::sleep(Duration::from_millis(1900)).await;
    client.get_sim(id).await.unwrap();
    assert_eq!(sandbox.authenticate_calls(), 2);

    // An expired token, sent by hand, is refused by the gateway.
    let sandbox = Sandbox::start_with(SandboxOptions {
        token_lifetime: Duration::from_secs(1),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let http = reqwest::Client::new();
    let jwt = token(&sandbox, &http).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = http
        .get(format!("{}/api/v1/sim/{id}", sandbox.base_url()))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap(),
        json!({"message": "token is expired"})
    );
}

async fn token(sandbox: &Sandbox, http: &reqwest::Client) -> String {
    let r = http
        .post(format!("{}/api/v1/authenticate", sandbox.base_url()))
        .header("content-type", "application/json")
        .body(json!({"application_token": sandbox.application_token()}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        v.as_object().unwrap().len(),
        1,
        "no refresh token for an application token"
    );
    v["auth_token"].as_str().unwrap().to_owned()
}

/// The rules the client cannot break, checked on the raw wire.
#[tokio::test]
async fn raw_wire_rules() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new().status(1).customer_org(ENTERPRISE_ORG));
    let http = reqwest::Client::new();
    let jwt = token(&sandbox, &http).await;
    let base = sandbox.base_url();
    let sim_url = format!("{base}/api/v1/sim/{id}");

    struct Case {
        method: &'static str,
        path: String,
        auth: Option<String>,
        content_type: Option<&'static str>,
        body: &'static str,
        status: u16,
        answer: Option<Value>,
    }
    let bearer = Some(format!("Bearer {jwt}"));
    let patch = |body: &'static str, status: u16, answer: Option<Value>| Case {
        method: "PATCH",
        path: sim_url.clone(),
        auth: bearer.clone(),
        content_type: Some("application/json"),
        body,
        status,
        answer,
    };
    let get = |path: String, auth: Option<String>, status: u16, answer: Option<Value>| Case {
        method: "GET",
        path,
        auth,
        content_type: None,
        body: "",
        status,
        answer,
    };
    let bad = |message: &str| {
        Some(json!({"error_code": 1000, "error_token": "BadRequest", "message": message}))
    };
    let invalid = |errors: Value| {
        Some(json!({
            "error_code": 1400,
            "error_token": "InputValidationFailed",
            "message": "Update SIM validation error",
            "errors": errors,
        }))
    };
    let cases = vec![
        get(sim_url.clone(), None, 401, None),
        get(
            sim_url.clone(),
            Some(jwt.clone()),
            401,
            Some(json!({"message": "Unauthorized"})),
        ),
        get(
            sim_url.clone(),
            Some("Bearer abc".into()),
            401,
            Some(json!({"message": "token contains an invalid number of segments"})),
        ),
        get(
            sim_url.clone(),
            Some("Bearer a.b.c".into()),
            401,
            Some(json!({"message": "Unauthorized"})),
        ),
        get(
            format!("{base}/api/v1/sim/abc"),
            bearer.clone(),
            400,
            bad("Cannot parse parameter id as Long: For input string: \"abc\""),
        ),
        get(
            format!("{base}/api/v1/sim/-1"),
            bearer.clone(),
            404,
            Some(
                json!({"error_code": 1201, "error_token": "NotFound", "message": "SIM with Id '-1' not found."}),
            ),
        ),
        get(
            format!("{base}/api/v1/nothing"),
            bearer.clone(),
            404,
            Some(json!({"message": "Not Found"})),
        ),
        Case {
            method: "PUT",
            ..get(sim_url.clone(), bearer.clone(), 405, None)
        },
        get(format!("{base}/api/v1/authenticate"), None, 405, None),
        Case {
            method: "POST",
            content_type: Some("application/json"),
            body: r#"{"code": "123456"}"#,
            ..get(
                format!("{base}/api/v1/authenticate"),
                None,
                400,
                bad(
                    "Provide application_token, refresh_token, or username and password (SHA-1 hex)",
                ),
            )
        },
        Case {
            content_type: Some("text/plain"),
            ..patch(
                r#"{"status": {"id": 2}}"#,
                415,
                Some(
                    json!({"error_code": 1000, "error_token": "BadRequest", "message": "Content-Type must be application/json"}),
                ),
            )
        },
        patch("status=2", 400, bad("Request body must be a JSON object")),
        patch("[]", 400, bad("Request body must be a JSON object")),
        patch(
            r#"{"status": 2}"#,
            400,
            bad("status must be an object such as {\"id\": 1}"),
        ),
        patch(
            r#"{"status": {"id": "2"}}"#,
            400,
            bad("Cannot parse status.id as Integer: \"2\""),
        ),
        patch(
            r#"{"reseller_org": 102}"#,
            400,
            bad("reseller_org must be an object such as {\"id\": 123}"),
        ),
        patch(
            r#"{"customer_org": {"id": -4}}"#,
            400,
            bad("Cannot parse customer_org.id as Long: -4"),
        ),
        patch(
            r#"{"status": {"id": 3}}"#,
            422,
            invalid(
                json!([{"error_code": 1400, "error_token": "InputValidationFailed", "message": "SIM status cannot change from Activated (1) to Deleted (3) by an update: delete the SIM instead"}]),
            ),
        ),
        patch(
            r#"{"status": {"id": 9}}"#,
            422,
            invalid(
                json!([{"error_code": 1401, "error_token": "InvalidReference", "message": "SIM status with Id '9' not found."}]),
            ),
        ),
        patch(
            r#"{"status": {}}"#,
            422,
            invalid(
                json!([{"error_code": 1400, "error_token": "InputValidationFailed", "message": "status requires an id"}]),
            ),
        ),
        patch(
            r#"{"issuer_org": {}}"#,
            422,
            invalid(
                json!([{"error_code": 1400, "error_token": "InputValidationFailed", "message": "issuer_org cannot be removed, only changed to another organisation"}]),
            ),
        ),
        patch(
            r#"{"iccid": "8988303000000000129"}"#,
            422,
            invalid(
                json!([{"error_code": 1400, "error_token": "InputValidationFailed", "message": "Unknown field 'iccid': a SIM update takes issuer_org, reseller_org, customer_org and status"}]),
            ),
        ),
        // The documented forms that succeed: a status with its description, `{}` to clear,
        // and an empty update.
        patch(
            r#"{"status": {"id": 2, "description": "Suspended"}}"#,
            204,
            None,
        ),
        patch(r#"{"customer_org": {}}"#, 204, None),
        patch("{}", 204, None),
    ];
    for case in cases {
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut rb = http.request(method, &case.path).body(case.body);
        if let Some(a) = &case.auth {
            rb = rb.header("authorization", a);
        }
        if let Some(ct) = case.content_type {
            rb = rb.header("content-type", ct);
        }
        let r = rb.send().await.unwrap();
        let label = format!("{} {} {}", case.method, case.path, case.body);
        assert_eq!(r.status().as_u16(), case.status, "{label}");
        assert!(r.headers().get("retry-after").is_none());
        let text = r.text().await.unwrap();
        match case.answer {
            Some(v) => assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v, "{label}"),
            None => assert_eq!(text, "", "{label}"),
        }
    }
    let state = sandbox.sim(id).unwrap();
    assert_eq!(state.status, 2);
    assert_eq!(state.customer_org, None);
}

#[tokio::test]
async fn the_rate_limit_answers_emnifys_429_without_retry_after() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        rate_limit: Some(RateLimit {
            per_second: 0.001,
            burst: 2,
            retry_after: true,
        }),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let client = sandbox
        .client_builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    client.get_sim(id).await.unwrap(); // authenticate + GET: the burst
    let e = client.get_sim(id).await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), None);
    assert_api(
        e,
        429,
        Some(1105),
        Some("TooManyRequests"),
        "Rate limit exceeded",
    );
    assert_eq!(sandbox.server().stats().throttled, 1);
}

#[tokio::test]
async fn a_thousand_concurrent_updates_share_one_authentication() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        record: false,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let id = sandbox.seed_sim(SimSeed::new().status(1));
    let client = sandbox.client();
    let updates = (0..1000).map(|i| {
        let org = if i % 2 == 0 { ENTERPRISE_ORG } else { OWN_ORG };
        client.update_sim(id).customer_org(org).send()
    });
    let results = join_all(updates).await;
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(sandbox.authenticate_calls(), 1);
    assert_eq!(sandbox.server().stats().received, 1001);
}

#[tokio::test]
async fn the_sim_provider_trait_drives_the_sandbox() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new().iccid("8988303000000000129"));
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let key = id.to_string();
    assert_eq!(provider.name(), "emnify");

    let snap = provider.fetch(&key).await.unwrap();
    assert_eq!(snap.state, SimState::New);
    assert_eq!(snap.iccid.as_deref(), Some("89883030000000001294"));
    assert_eq!(snap.native_status.as_deref(), Some("Issued"));

    let applied = provider
        .apply(&key, &SimChange::new().state(SimState::Active))
        .await
        .unwrap();
    assert!(matches!(applied, Applied::Done(None)));
    assert_eq!(sandbox.sim(id).unwrap().status, 1);
    provider
        .apply(
            &key,
            &SimChange::new()
                .state(SimState::Inactive)
                .known_state(SimState::Active),
        )
        .await
        .unwrap();
    assert_eq!(
        provider.fetch(&key).await.unwrap().state,
        SimState::Inactive
    );

    // Refused before sending: a known state that forbids the change, a target emnify has not.
    let before = sandbox.requests().len();
    let e = provider
        .apply(
            &key,
            &SimChange::new()
                .state(SimState::Ready)
                .known_state(SimState::Inactive),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transition(_)), "{e:?}");
    let e = provider
        .apply(&key, &SimChange::new().state(SimState::Deleted))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(provider.fetch("abc").await.unwrap_err().was_not_sent());
    assert_eq!(sandbox.requests().len(), before);

    // Without a known state, the sandbox refuses Suspended -> Factory Test.
    let e = provider
        .apply(&key, &SimChange::new().state(SimState::Ready))
        .await
        .unwrap_err();
    assert_eq!(api(e).status, 422);
    assert_eq!(sandbox.sim(id).unwrap().status, 2);

    let e = provider.fetch("424242").await.unwrap_err();
    assert!(e.is_not_found());
}

#[tokio::test]
async fn charges_follow_emnifys_billing_rules_and_your_price_book() {
    use simcore::charge::{ChargeRange, Currency, Money, PriceBook, Pricing, SimPrices, Timing};
    let sandbox = Sandbox::start().await.unwrap();
    let issued = sandbox.seed_sim(SimSeed::new().status(0)).to_string();
    let p: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    // emnify has billing rules of its own: the preview goes through them.
    assert!(p.charges().is_some());
    let on = SimChange::new().state(SimState::Active);
    let off = SimChange::new().state(SimState::Inactive);
    let today = chrono::Utc::now().date_naive();
    let this_month = simcore::charge::Month::of(today);
    let published = Pricing::new(PriceBook::default(), today);
    let yours = Pricing::new(
        PriceBook::from_json(r#"{"currency": "EUR", "sim": {"active_monthly": "1.50"}}"#).unwrap(),
        today,
    );
    let eur = |c| ChargeRange::exact(Money::from_cents(c));

    // emnify publishes no price: unpriced, but the preview says the charge starts this month.
    let e = simcore::charge::preview(&*p, &issued, &on, &published)
        .await
        .unwrap();
    let simcore::charge::Estimate::Unpriced(u) = &e else {
        panic!("priced without a price: {e}");
    };
    assert_eq!(u.timing, Some(Timing::Starts { from: this_month }));
    assert!(e.to_string().contains("`sim.active_monthly`"), "{e}");
    // Your price: the first activation bills this month.
    let e = simcore::charge::preview(&*p, &issued, &on, &yours)
        .await
        .unwrap();
    let c = e.charge().unwrap();
    assert_eq!(
        (c.currency, c.now, c.monthly),
        (Currency::EUR, eur(150), eur(150))
    );

    p.apply(&issued, &on).await.unwrap();
    // Suspending saves nothing this month and costs nothing from the next: priced with no book.
    let e = simcore::charge::preview(&*p, &issued, &off, &published)
        .await
        .unwrap();
    let c = e.charge().unwrap();
    assert_eq!((c.now, c.monthly), (eur(0), eur(0)));
    assert_eq!(
        c.lines[0].timing,
        Some(Timing::Stops {
            from: this_month.next()
        })
    );
    p.apply(&issued, &off).await.unwrap();
    // Re-activated in the month of its first activation (the sandbox sets activation_date):
    // this month is billed already.
    let e = simcore::charge::preview(&*p, &issued, &on, &yours)
        .await
        .unwrap();
    let c = e.charge().unwrap();
    assert_eq!((c.now, c.monthly), (eur(0), eur(150)), "{c}");
    assert!(c.is_exact());

    // Refused before sending, as apply would refuse; a book for another provider too.
    let sent = sandbox.requests().len();
    let back = SimChange::new().state(SimState::Ready);
    let err = simcore::charge::preview(&*p, &issued, &back, &yours)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transition(_)), "{err}");
    let sixfab = Pricing::new(
        PriceBook {
            provider: Some("sixfab".into()),
            sim: SimPrices::default(),
            ..PriceBook::default()
        },
        today,
    );
    let err = simcore::charge::preview(&*p, &issued, &on, &sixfab)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let writes = sandbox.requests()[sent..]
        .iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("authenticate"))
        .count();
    assert_eq!(writes, 0);
}

/// An answer's body as JSON.
async fn read(r: reqwest::Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

/// Seeds `n` SIMs, their statuses cycling through Issued, Activated, Suspended, Factory Test.
fn seed_fleet(sandbox: &Sandbox, n: usize) -> Vec<u64> {
    sandbox.seed_sims((0..n).map(|i| SimSeed::new().status([0, 1, 2, 4][i % 4])))
}

/// The list requests received, as their raw queries.
fn list_queries(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/sim")
        .map(|r| r.query.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn ten_thousand_sims_list_in_four_requests_each_sim_once() {
    use futures_util::TryStreamExt as _;
    use simcore::{ListOptions, SimSnapshot};

    let sandbox = Sandbox::start().await.unwrap();
    let ids = seed_fleet(&sandbox, 10_000);
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let pages: Vec<Vec<SimSnapshot>> = provider
        .list(&ListOptions::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2500; 4]);
    let listed: Vec<String> = pages.iter().flatten().map(|s| s.id.clone()).collect();
    let expected: Vec<String> = ids.iter().map(u64::to_string).collect();
    assert_eq!(listed, expected, "every SIM once, by id");
    let states: Vec<&SimState> = pages.iter().flatten().take(4).map(|s| &s.state).collect();
    assert_eq!(
        states,
        [
            &SimState::New,
            &SimState::Active,
            &SimState::Inactive,
            &SimState::Ready
        ]
    );
    assert_eq!(
        list_queries(&sandbox),
        (1..=4)
            .map(|n| format!("page={n}&per_page=2500"))
            .collect::<Vec<_>>()
    );
    assert_eq!(sandbox.authenticate_calls(), 1);
    assert_eq!(sandbox.requests().len(), 5);
    assert_eq!(sandbox.list_throttled(), 0);
}

#[tokio::test]
async fn forty_pages_stay_under_the_list_limit_by_themselves() {
    let sandbox = Sandbox::start().await.unwrap();
    seed_fleet(&sandbox, 10_000);
    let client = sandbox.client();
    let started = std::time::Instant::now();
    let sims = client
        .list_sims()
        .page_size(250)
        .collect_all()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(sims.len(), 10_000);
    assert_eq!(list_queries(&sandbox).len(), 40);
    // Not one 429: the client kept under 10 a second (bursts of 5) without being told.
    assert_eq!(sandbox.list_throttled(), 0);
    assert_eq!(sandbox.server().stats().throttled, 0);
    // 4 at once, then 36 at 9.5 a second.
    assert!(took >= Duration::from_millis(3700), "{took:?}");
}

#[tokio::test]
async fn the_list_path_has_its_own_limit_and_emnifys_429() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let http = reqwest::Client::new();
    let jwt = token(&sandbox, &http).await;
    let list = || {
        http.get(format!("{}/api/v1/sim", sandbox.base_url()))
            .header("authorization", format!("Bearer {jwt}"))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(list().await.unwrap().status(), 200);
    }
    let refused = list().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_none());
    assert_eq!(
        read(refused).await,
        json!({"error_code": 1105, "error_token": "TooManyRequests", "message": "Rate limit exceeded"})
    );
    assert_eq!(sandbox.list_throttled(), 1);
    // Another path is not limited by it.
    let one = http
        .get(format!("{}/api/v1/sim/{id}", sandbox.base_url()))
        .header("authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    // Throttled requests are in the request log like any other.
    assert_eq!(list_queries(&sandbox).len(), 6);
    // Without the limit, as many as asked.
    sandbox.set_list_rate_limit(None);
    for _ in 0..10 {
        assert_eq!(list().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn the_list_answers_with_the_paging_headers_emnify_sends() {
    let sandbox = Sandbox::start().await.unwrap();
    let ids = seed_fleet(&sandbox, 12);
    let http = reqwest::Client::new();
    let jwt = token(&sandbox, &http).await;
    let get = |query: &'static str| {
        http.get(format!("{}/api/v1/sim{query}", sandbox.base_url()))
            .header("authorization", format!("Bearer {jwt}"))
            .send()
    };
    // As recorded from emnify: a list of 12 asked with no query.
    let r = get("").await.unwrap();
    assert_eq!(r.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for (name, value) in [
        ("X-Count-Per-Page", "2000"),
        ("X-Current-Page", "1"),
        ("X-Sort", "id"),
        ("X-Total-Count", "12"),
        ("X-Total-Pages", "1"),
    ] {
        assert_eq!(header(&r, name).as_deref(), Some(value), "{name}");
    }
    let body = read(r).await;
    let listed: Vec<u64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, ids);
    // Each listed SIM is written as GET /api/v1/sim/{id} writes it.
    let one = read(
        http.get(format!("{}/api/v1/sim/{}", sandbox.base_url(), ids[1]))
            .header("authorization", format!("Bearer {jwt}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body[1], one);

    // A middle page, a page past the last, a filter.
    sandbox.set_list_rate_limit(None);
    let r = get("?page=2&per_page=5").await.unwrap();
    assert_eq!(
        [
            "X-Count-Per-Page",
            "X-Current-Page",
            "X-Total-Count",
            "X-Total-Pages"
        ]
        .map(|n| header(&r, n)),
        [Some("5"), Some("2"), Some("12"), Some("3")].map(|v| v.map(str::to_owned))
    );
    let page = read(r).await;
    assert_eq!(page[0]["id"].as_u64(), Some(ids[5]));
    let r = get("?page=9&per_page=5").await.unwrap();
    assert_eq!(read(r).await, json!([]));
    let r = get("?q=status:1&per_page=2").await.unwrap();
    assert_eq!(header(&r, "X-Total-Count").as_deref(), Some("3"));
    assert_eq!(header(&r, "X-Total-Pages").as_deref(), Some("2"));
    let page = read(r).await;
    assert_eq!(page[0]["id"].as_u64(), Some(ids[1]));
    assert_eq!(page[1]["id"].as_u64(), Some(ids[5]));

    // What the sandbox refuses.
    for query in [
        "?page=0",
        "?per_page=2501",
        "?per_page=x",
        "?pgae=2",
        "?q=iccid:1",
        "?sort=-id",
        "?page=1&page=2",
    ] {
        let r = get(query).await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(read(r).await["error_code"], 1000, "{query}");
    }
    // An empty fleet: no pages.
    let empty = Sandbox::start().await.unwrap();
    let jwt = token(&empty, &http).await;
    let r = http
        .get(format!("{}/api/v1/sim", empty.base_url()))
        .header("authorization", format!("Bearer {jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "X-Total-Pages").as_deref(), Some("0"));
    assert_eq!(read(r).await, json!([]));
}

#[tokio::test]
async fn listed_snapshots_match_fetched_ones() {
    use futures_util::TryStreamExt as _;
    use simcore::{ListOptions, SimSnapshot};

    let sandbox = Sandbox::start().await.unwrap();
    seed_fleet(&sandbox, 7);
    sandbox.seed_sim(
        SimSeed::new()
            .status(1)
            .customer_org(ENTERPRISE_ORG)
            .endpoint(7, "pump 7"),
    );
    sandbox.seed_sim(SimSeed::new().status(9));
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let listed: Vec<SimSnapshot> = provider
        .list(&ListOptions::new().page_size(4))
        .try_concat()
        .await
        .unwrap();
    assert_eq!(listed.len(), 9);
    for snap in &listed {
        assert_eq!(snap, &provider.fetch(&snap.id).await.unwrap());
        assert!(snap.aliases.is_empty());
    }
    assert_eq!(listed[8].state, SimState::Unknown("status 9".into()));
    assert_eq!(list_queries(&sandbox).len(), 3);
}

#[tokio::test]
async fn a_hundred_thousand_sims_list_in_forty_pages_without_a_429() {
    use futures_util::TryStreamExt as _;
    use simcore::ListOptions;

    let sandbox = Sandbox::start().await.unwrap();
    let started = std::time::Instant::now();
    let ids = seed_fleet(&sandbox, 100_000);
    let seeded = started.elapsed();
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let started = std::time::Instant::now();
    let mut pages = provider.list(&ListOptions::new());
    let mut seen = 0;
    while let Some(page) = pages.try_next().await.unwrap() {
        assert_eq!(page[0].id, ids[seen].to_string());
        seen += page.len();
    }
    let listed = started.elapsed();
    assert_eq!(seen, 100_000);
    assert_eq!(list_queries(&sandbox).len(), 40);
    assert_eq!(sandbox.list_throttled(), 0);
    eprintln!("100,000 emnify SIMs: seeded in {seeded:?}, listed in {listed:?}");
}
