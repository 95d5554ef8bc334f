//! A SIM record's whole life through the public client against the local sandbox, each refusal
//! the sandbox enforces, session logins, the common `SimProvider` interface, rate limits and
//! faults. Loopback only.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use edgeiq_client::sandbox::{Sandbox, SandboxOptions, SimSeed};
use edgeiq_client::{Client, SimRecord, Updated};
use serde_json::{Map, Value, json};
use simcore::http::{Auth, Method, Transport};
use simcore::retry::RetryPolicy;
use simcore::secrecy::SecretString;
use simcore::{Applied, DisplayName, Error, SimChange, SimProvider, SimState};
use simsandbox::RateLimit;

const ICCID: &str = "89882806660004909182";
const OTHER_ICCID: &str = "8988280666000490919";
/// An id no sandbox seeds (seeded ids start with the current time).
const MISSING: &str = "000000000000000000000000";

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// A client that never retries, so each call is one request.
fn client_once(sandbox: &Sandbox) -> Client {
    sandbox
        .client_builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

/// A raw transport with `Authorization: <token>`: sends what the typed client would refuse.
fn raw(sandbox: &Sandbox, token: &str) -> Transport {
    Transport::builder("edgeiq", sandbox.base_url())
        .auth(Auth::raw_authorization(&SecretString::from(token.to_owned())).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

async fn raw_send(
    t: &Transport,
    method: Method,
    segments: &[&str],
    body: Option<Value>,
) -> Result<Value, Error> {
    let mut request = t.request(method, segments)?;
    if let Some(b) = body {
        request = request.json(&b)?;
    }
    let response = t.send(&request).await?;
    response.json()
}

fn api(err: &Error) -> (u16, Option<i64>, &str) {
    let api = err
        .api()
        .unwrap_or_else(|| panic!("not an API error: {err:?}"));
    (api.status, api.code, api.message.as_str())
}

fn seed_pump(sandbox: &Sandbox) -> String {
    sandbox.seed_sim(
        SimSeed::new()
            .iccid(ICCID)
            .msisdn("+491700000001")
            .plans("EU IoT Standard", "1GB pooled")
            .metadata(obj(json!({
                "site": {"name": "pump station 7", "floor": 2},
                "installer": "field team B",
                "legacy": true
            })))
            .field("ctd_data_usage", 734_003_200)
            .field("ctd_sms_usage", 12),
    )
}

#[tokio::test]
async fn a_sim_record_through_its_whole_life() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = seed_pump(&sandbox);
    let path = format!("/api/v1/platform/sims/{id}");
    let client = sandbox.client();

    // Fetch: the whole record, the server's read-only fields included.
    let record = client.get_sim(&id).await.unwrap();
    assert_eq!(record.id.as_deref(), Some(id.as_str()));
    assert_eq!(record.iccid.as_deref(), Some(ICCID));
    assert_eq!(record.status.as_deref(), Some("inactive"));
    assert_eq!(record.state(), SimState::Inactive);
    assert_eq!(record.msisdn.as_deref(), Some("+491700000001"));
    assert_eq!(
        record.communication_plan.as_deref(),
        Some("EU IoT Standard")
    );
    assert_eq!(record.rate_plan.as_deref(), Some("1GB pooled"));
    assert_eq!(record.device_id.as_ref().map(String::len), Some(24));
    assert!(
        record
            .company_id
            .as_deref()
            .unwrap()
            .starts_with("sandbox_company_")
    );
    assert_eq!(
        record.ctd_data_usage.as_ref().and_then(|n| n.as_u64()),
        Some(734_003_200)
    );
    assert_eq!(
        record.ctd_sms_usage.as_ref().and_then(|n| n.as_u64()),
        Some(12)
    );
    assert_eq!(record.included_usage, Some(json!(0)));
    assert_eq!(record.overage_limit_reached, Some(false));
    assert_eq!(record.sim_barred, Some(false));
    assert_eq!(record.user_id.as_deref(), Some(sandbox.user().id.as_str()));
    for t in [&record.last_sync_at, &record.created_at, &record.updated_at] {
        assert!(chrono::DateTime::parse_from_rfc3339(t.as_deref().unwrap()).is_ok());
    }
    assert!(record.extra.is_empty(), "{:?}", record.extra);
    assert_eq!(
        serde_json::to_value(&record).unwrap(),
        sandbox.sim(&id).unwrap()
    );

    // Activate: only the status and the server's `updated_at` change.
    tokio::time::sleep(Duration::from_millis(3)).await;
    let updated = client
        .update_sim(&id)
        .status("active")
        .send()
        .await
        .unwrap();
    let active = updated.resource().unwrap().clone();
    let mut expected = record.clone();
    expected.status = Some("active".into());
    expected.updated_at = active.updated_at.clone();
    assert_eq!(updated, Updated::Done(Some(expected)));
    assert_ne!(active.updated_at, record.updated_at);
    assert_eq!(active.state(), SimState::Active);
    assert_eq!(sandbox.sim(&id).unwrap()["status"], "active");

    // Setting what is already there, with the current record given, sends nothing; without
    // it nothing is known, and the patch is sent.
    let sent = sandbox.requests().len();
    let update = client
        .update_sim(&id)
        .status("active")
        .metadata("installer", "field team B")
        .current(&active);
    assert!(update.changes_nothing());
    let again = update.send().await.unwrap();
    assert_eq!(again, Updated::Unchanged);
    assert!(!again.was_sent());
    assert_eq!(sandbox.requests().len(), sent);
    let blind = client
        .update_sim(&id)
        .status("active")
        .send()
        .await
        .unwrap();
    assert!(blind.was_sent());
    assert_eq!(sandbox.requests().len(), sent + 1);
    let active = blind.into_resource().unwrap();

    // Metadata: a nested merge, a key removed, a key added; checked against the current
    // record first, and the client's prediction of the merge is what the server did.
    let update = client
        .update_sim(&id)
        .metadata("site", json!({"floor": null, "room": 4}))
        .remove_metadata_key("legacy")
        .metadata("owner", "water dept")
        .current(&active);
    let predicted = update.clone().into_request().unwrap().merge_into(&active);
    let merged = update.send().await.unwrap().into_resource().unwrap();
    let metadata = json!({
        "site": {"name": "pump station 7", "room": 4},
        "installer": "field team B",
        "owner": "water dept"
    });
    assert_eq!(merged.sim_metadata, Some(obj(metadata.clone())));
    assert_eq!(merged.sim_metadata, predicted.sim_metadata);
    assert_eq!(sandbox.sim(&id).unwrap()["sim_metadata"], metadata);

    // Suspend: an open carrier word, read as the canonical Inactive.
    let suspended = client
        .update_sim(&id)
        .status("suspended")
        .send()
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(suspended.status.as_deref(), Some("suspended"));
    assert_eq!(suspended.state(), SimState::Inactive);

    // Retire, dropping the MSISDN and the rate plan on the way.
    let retired = client
        .update_sim(&id)
        .status("retired")
        .remove_msisdn()
        .remove_rate_plan()
        .send()
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(retired.status.as_deref(), Some("retired"));
    assert_eq!(retired.state(), SimState::Retired);
    assert_eq!(
        (retired.msisdn.as_deref(), retired.rate_plan.as_deref()),
        (None, None)
    );
    assert_eq!(
        retired.communication_plan.as_deref(),
        Some("EU IoT Standard")
    );
    let stored = sandbox.sim(&id).unwrap();
    assert!(stored.get("msisdn").is_none() && stored.get("rate_plan").is_none());
    assert_eq!(stored["sim_metadata"], metadata);
    // The server's own fields never moved.
    assert_eq!(stored["ctd_data_usage"], 734_003_200);
    assert_eq!(stored["created_at"], json!(record.created_at));
    assert_eq!(serde_json::to_value(&retired).unwrap(), stored);

    // The request log: exactly these requests, each with the raw token and no scheme.
    let log = sandbox.requests();
    let seen: Vec<(&str, &str, Option<Value>)> = log
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.body_json()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("GET", path.as_str(), None),
            ("PUT", path.as_str(), Some(json!({"status": "active"}))),
            // Sent blind, after the same update with the current record sent nothing.
            ("PUT", path.as_str(), Some(json!({"status": "active"}))),
            (
                "PUT",
                path.as_str(),
                Some(json!({"sim_metadata": {
                    "site": {"floor": null, "room": 4},
                    "legacy": null,
                    "owner": "water dept"
                }}))
            ),
            ("PUT", path.as_str(), Some(json!({"status": "suspended"}))),
            (
                "PUT",
                path.as_str(),
                Some(json!({"msisdn": null, "status": "retired", "rate_plan": null}))
            ),
        ]
    );
    for r in &log {
        assert_eq!(r.header("authorization"), Some(sandbox.api_token()));
        assert_eq!(r.query, None);
        if r.method == "PUT" {
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
    }
}

#[tokio::test]
async fn each_documented_refusal_through_the_client() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = seed_pump(&sandbox);
    let client = client_once(&sandbox);
    let record = client.get_sim(&id).await.unwrap();
    let before = sandbox.sim(&id).unwrap();

    // 48 new keys on a record with 3: the patch alone is within the limit, so a client that was
    // not given the current record sends it, and the platform refuses the merged result.
    let new_keys: Map<String, Value> = (0..48).map(|i| (format!("sensor_{i}"), json!(i))).collect();
    let err = client
        .update_sim(&id)
        .metadata_patch(new_keys.clone())
        .send()
        .await
        .unwrap_err();
    let rule = "sim_metadata must have at most 50 top-level keys (found 51)";
    assert_eq!(api(&err), (400, None, rule));
    assert_eq!(err.api().unwrap().details, Some(json!([rule])));
    assert_eq!(
        err.to_string(),
        format!("edgeiq: HTTP 400: {rule}; retrying will not help")
    );
    assert!(!err.is_retryable());
    assert_eq!(sandbox.sim(&id).unwrap(), before);
    // Given the current record, the client refuses the same update before sending.
    let sent = sandbox.requests().len();
    let err = client
        .update_sim(&id)
        .metadata_patch(new_keys.clone())
        .current(&record)
        .send()
        .await
        .unwrap_err();
    assert!(err.was_not_sent());
    assert_eq!(
        err.to_string(),
        "invalid sim_metadata: must have at most 50 top-level keys after merging onto the current record (found 51 keys)"
    );
    assert_eq!(sandbox.requests().len(), sent);
    // Removing one key in the same update brings it to 50: accepted.
    let mut swap = new_keys;
    swap.insert("legacy".into(), Value::Null);
    let ok = client
        .update_sim(&id)
        .metadata_patch(swap)
        .current(&record)
        .send()
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(ok.sim_metadata.as_ref().unwrap().len(), 50);

    // Unknown id: 404, for a read and for an update.
    let err = client.get_sim(MISSING).await.unwrap_err();
    assert_eq!(api(&err), (404, None, "Sim not found"));
    assert!(err.is_not_found());
    let err = client
        .update_sim(MISSING)
        .status("active")
        .send()
        .await
        .unwrap_err();
    assert_eq!(api(&err), (404, None, "Sim not found"));
    assert!(sandbox.sim(MISSING).is_none());

    // Wrong token: 401, nothing changed.
    let before = sandbox.sim(&id).unwrap();
    let stranger = sandbox
        .client_builder()
        .api_token("0123456789abcdef0123456789abcdef")
        .build()
        .unwrap();
    let err = stranger.get_sim(&id).await.unwrap_err();
    assert_eq!(api(&err), (401, None, "Unauthorized"));
    assert!(err.is_unauthorized());
    assert_eq!(
        err.to_string(),
        "edgeiq: HTTP 401: Unauthorized; retrying will not help"
    );
    let err = stranger
        .update_sim(&id)
        .status("active")
        .send()
        .await
        .unwrap_err();
    assert_eq!(api(&err), (401, None, "Unauthorized"));
    assert_eq!(err.api().unwrap().attempts, 1, "a 401 is not retried");
    assert_eq!(sandbox.sim(&id).unwrap(), before);

    // An ICCID another record has: the client cannot know, the platform refuses.
    let other = sandbox.seed_sim(SimSeed::new().iccid(OTHER_ICCID));
    let err = client
        .update_sim(&id)
        .iccid(OTHER_ICCID)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (
            400,
            None,
            "iccid must be unique on the platform: 8988280666000490919 belongs to another SIM"
        )
    );
    assert_eq!(sandbox.sim(&id).unwrap(), before);
    assert_eq!(sandbox.sim(&other).unwrap()["iccid"], OTHER_ICCID);
    // Setting a record's own ICCID again is fine.
    let same = client
        .update_sim(&id)
        .iccid(ICCID)
        .send()
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(same.iccid.as_deref(), Some(ICCID));
}

#[tokio::test]
async fn refusals_only_a_raw_client_can_reach() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new().iccid(ICCID));
    let t = raw(&sandbox, sandbox.api_token());
    let before = sandbox.sim(&id).unwrap();

    for (body, messages) in [
        (
            json!(["status", "active"]),
            vec!["body must be a JSON object"],
        ),
        (json!("active"), vec!["body must be a JSON object"]),
        (
            json!({"iccid": "8988"}),
            vec!["iccid must be 18 to 22 digits (found \"8988\")"],
        ),
        (
            json!({"iccid": 898828066600049091_u64}),
            vec!["iccid must be 18 to 22 digits (found 898828066600049091)"],
        ),
        (json!({"iccid": null}), vec!["iccid is required"]),
        (json!({"device_id": null}), vec!["device_id is required"]),
        (
            json!({"device_id": ""}),
            vec!["device_id must be a non-empty string"],
        ),
        (
            json!({"mno_integration_id": 7}),
            vec!["mno_integration_id must be a string"],
        ),
        (
            json!({"msisdn": "1".repeat(21)}),
            vec!["msisdn must be at most 20 characters (found 21)"],
        ),
        (
            json!({"status": "s".repeat(31)}),
            vec!["status must be at most 30 characters (found 31)"],
        ),
        (json!({"status": 1}), vec!["status must be a string"]),
        (
            json!({"communication_plan": "c".repeat(256)}),
            vec!["communication_plan must be at most 255 characters (found 256)"],
        ),
        (
            json!({"rate_plan": "r".repeat(256)}),
            vec!["rate_plan must be at most 255 characters (found 256)"],
        ),
        (
            json!({"sim_metadata": "tags"}),
            vec!["sim_metadata must be a JSON object"],
        ),
        (
            json!({"sim_metadata": Value::Object((0..51).map(|i| (format!("k{i}"), json!(null))).collect::<Map<_, _>>())}),
            vec![],
        ),
        (
            json!({"msisdn": "1".repeat(21), "status": "s".repeat(31), "status_note": "ignored"}),
            vec![
                "msisdn must be at most 20 characters (found 21)",
                "status must be at most 30 characters (found 31)",
            ],
        ),
    ] {
        let result = raw_send(&t, Method::PUT, &["sims", &id], Some(body.clone())).await;
        if messages.is_empty() {
            // 51 `null` keys remove nothing that exists: the merged metadata has no key.
            assert_eq!(result.unwrap()["sim_metadata"], json!({}), "{body}");
            continue;
        }
        let err = result.unwrap_err();
        assert_eq!(
            api(&err),
            (400, None, messages.join("; ").as_str()),
            "{body}"
        );
        assert_eq!(err.api().unwrap().details, Some(json!(messages)), "{body}");
        assert_eq!(
            sandbox.sim(&id).unwrap()["iccid"],
            before["iccid"],
            "{body}"
        );
        assert_eq!(
            sandbox.sim(&id).unwrap()["status"],
            before["status"],
            "{body}"
        );
    }

    // A body not declared as JSON.
    let request = t
        .request(Method::PUT, &["sims", &id])
        .unwrap()
        .form([("status", "active")]);
    let err = t.send(&request).await.unwrap_err();
    assert_eq!(
        api(&err),
        (400, None, "Content-Type must be application/json")
    );

    // A status removed falls back to the platform's default.
    raw_send(
        &t,
        Method::PUT,
        &["sims", &id],
        Some(json!({"status": "active"})),
    )
    .await
    .unwrap();
    let r = raw_send(
        &t,
        Method::PUT,
        &["sims", &id],
        Some(json!({"status": null})),
    )
    .await
    .unwrap();
    assert_eq!(r["status"], "inactive");

    // A malformed id is a malformed request; an uppercase one is the same record.
    let err = raw_send(&t, Method::GET, &["sims", "not-an-object-id"], None)
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (
            400,
            None,
            "id must be 24 hex digits (found \"not-an-object-id\")"
        )
    );
    let upper = raw_send(&t, Method::GET, &["sims", &id.to_uppercase()], None)
        .await
        .unwrap();
    assert_eq!(upper["_id"], json!(id));

    // Credentials: a scheme in front of the token, no token, an empty one.
    let bearer = raw(&sandbox, &format!("Bearer {}", sandbox.api_token()));
    let err = raw_send(&bearer, Method::GET, &["sims", &id], None)
        .await
        .unwrap_err();
    assert_eq!(api(&err), (401, None, "Unauthorized"));
    let anonymous = Transport::builder("edgeiq", sandbox.base_url())
        .build()
        .unwrap();
    let err = raw_send(&anonymous, Method::GET, &["sims", &id], None)
        .await
        .unwrap_err();
    assert_eq!(api(&err), (401, None, "Unauthorized"));

    // Other methods and paths.
    let err = raw_send(&t, Method::DELETE, &["sims", &id], None)
        .await
        .unwrap_err();
    assert_eq!(api(&err), (405, None, "Method Not Allowed"));
    let err = raw_send(&t, Method::GET, &["devices", &id], None)
        .await
        .unwrap_err();
    assert_eq!(api(&err), (404, None, "Not Found"));
    assert!(sandbox.sim(&id).is_some());
}

#[tokio::test]
async fn read_only_fields_sent_by_a_raw_client_are_ignored() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = seed_pump(&sandbox);
    let other = sandbox.seed_sim(SimSeed::new());
    let before = sandbox.sim(&id).unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;

    let t = raw(&sandbox, sandbox.api_token());
    let answer = raw_send(
        &t,
        Method::PUT,
        &["sims", &id],
        Some(json!({
            "status": "active",
            "company_id": "someone_else",
            "ctd_data_usage": 0,
            "ctd_sms_usage": 0,
            "included_usage": 999,
            "overage_limit_reached": true,
            "sim_barred": true,
            "last_sync_at": "2000-01-01T00:00:00.000Z",
            "created_at": "2000-01-01T00:00:00.000Z",
            "updated_at": "2000-01-01T00:00:00.000Z",
            "user_id": "000000000000000000000001",
            "_id": other,
            "id": other,
            "not_a_field": 1
        })),
    )
    .await
    .unwrap();

    // Only the status was applied; the server set `updated_at` itself.
    let mut expected = before.clone();
    expected["status"] = json!("active");
    expected["updated_at"] = answer["updated_at"].clone();
    assert_eq!(answer, expected);
    assert_ne!(answer["updated_at"], before["updated_at"]);
    assert_ne!(answer["updated_at"], "2000-01-01T00:00:00.000Z");
    assert_eq!(sandbox.sim(&id).unwrap(), answer);
    // The record the body named by `_id` is untouched too.
    assert_eq!(sandbox.sim(&other).unwrap()["status"], "inactive");

    // The typed client reads the same answer; its patch type has no place for these fields.
    let record: SimRecord = serde_json::from_value(answer).unwrap();
    assert_eq!(record.sim_barred, Some(false));
    assert_eq!(
        record
            .to_request()
            .unwrap()
            .to_json()
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        [
            "communication_plan",
            "device_id",
            "iccid",
            "msisdn",
            "rate_plan",
            "sim_metadata",
            "status"
        ]
        .into_iter()
        .collect()
    );
}

#[tokio::test]
async fn session_login_and_its_refusals() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let user = sandbox.user().clone();

    // A one-hour session, with the email in another case.
    let client = sandbox
        .builder_without_credentials()
        .retry(RetryPolicy::none())
        .login(
            user.email.to_uppercase(),
            user.password.clone(),
            Some(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let ends = client.session_expires_at().unwrap();
    let left = ends - Utc::now();
    assert!(
        left > chrono::Duration::minutes(59) && left <= chrono::Duration::hours(1),
        "{left}"
    );
    let record = client
        .update_sim(&id)
        .status("active")
        .send()
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(record.status.as_deref(), Some("active"));

    let log = sandbox.requests();
    let login = &log[0];
    assert_eq!(
        (login.method.as_str(), login.path.as_str()),
        ("POST", "/api/v1/platform/user/authenticate")
    );
    assert_eq!(login.header("authorization"), None);
    let body = login.body_json().unwrap();
    assert_eq!(body["email"], json!(user.email.to_uppercase()));
    assert_eq!(body["password"], json!(user.password));
    assert!(body["token_expiry"].is_string());
    // Later requests carry the session token, not the permanent token the answer also holds.
    let session = log[1].header("authorization").unwrap();
    // A sandbox's token: the mark, then 32 hex digits.
    let hex = session
        .strip_prefix(simcore::http::SANDBOX_CREDENTIAL_MARK)
        .unwrap();
    assert_eq!(hex.len(), 32);
    assert_ne!(session, sandbox.api_token());

    // Without an expiry the session lasts 4 hours.
    let default = sandbox
        .builder_without_credentials()
        .login(&user.email, user.password.clone(), None)
        .await
        .unwrap();
    let left = default.session_expires_at().unwrap() - Utc::now();
    assert!(
        left > chrono::Duration::minutes(239) && left <= chrono::Duration::hours(4),
        "{left}"
    );

    // Wrong password, unknown user: 401.
    for (email, password) in [
        (user.email.as_str(), "wrong"),
        ("nobody@example.com", user.password.as_str()),
    ] {
        let err = sandbox
            .builder_without_credentials()
            .login(email, password.to_owned(), None)
            .await
            .unwrap_err();
        assert_eq!(api(&err), (401, None, "Unauthorized"));
    }

    // More than a week: the client refuses before sending; a raw client gets the platform's 400.
    let sent = sandbox.requests().len();
    let err = sandbox
        .builder_without_credentials()
        .login(
            &user.email,
            user.password.clone(),
            Some(Duration::from_secs(8 * 24 * 3600)),
        )
        .await
        .unwrap_err();
    assert!(err.was_not_sent(), "{err:?}");
    assert_eq!(sandbox.requests().len(), sent);
    let anonymous = Transport::builder("edgeiq", sandbox.base_url())
        .build()
        .unwrap();
    for (expiry, message) in [
        (
            (Utc::now() + chrono::Duration::days(8)).to_rfc3339(),
            "token_expiry must be in the future and at most one week ahead",
        ),
        (
            (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
            "token_expiry must be in the future and at most one week ahead",
        ),
        (
            "next tuesday".to_owned(),
            "token_expiry must be an RFC 3339 time",
        ),
    ] {
        let body = json!({"email": user.email, "password": user.password, "token_expiry": expiry});
        let err = raw_send(
            &anonymous,
            Method::POST,
            &["user", "authenticate"],
            Some(body),
        )
        .await
        .unwrap_err();
        let (status, _, text) = api(&err);
        assert_eq!(status, 400);
        assert!(text.starts_with(message), "{text}");
    }
    let err = raw_send(
        &anonymous,
        Method::POST,
        &["user", "authenticate"],
        Some(json!({"email": user.email})),
    )
    .await
    .unwrap_err();
    assert_eq!(api(&err), (400, None, "password is required (a string)"));

    // Sessions end: their token answers 401, and the logged-in client logs in again once and
    // goes on; the permanent token still works.
    let logins = |s: &Sandbox| {
        s.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/user/authenticate"))
            .count()
    };
    let before = logins(&sandbox);
    sandbox.expire_sessions();
    assert!(client.get_sim(&id).await.is_ok());
    assert_eq!(logins(&sandbox), before + 1);
    assert!(sandbox.client().get_sim(&id).await.is_ok());

    // Another user logs in with their own password and has their own API token.
    let ops = sandbox.seed_user("ops@example.com", "correct horse");
    assert!(!format!("{ops:?}").contains("correct horse"));
    let by_login = sandbox
        .builder_without_credentials()
        .login("ops@example.com", "correct horse", None)
        .await
        .unwrap();
    assert!(by_login.get_sim(&id).await.is_ok());
    let by_token = sandbox
        .client_builder()
        .api_token(ops.api_token.clone())
        .build()
        .unwrap();
    assert!(by_token.get_sim(&id).await.is_ok());
}

#[tokio::test]
async fn the_common_interface_drives_the_sandbox() {
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new().iccid(ICCID));
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    assert_eq!(provider.name(), "edgeiq");

    let snap = provider.fetch(&id).await.unwrap();
    assert_eq!(snap.id, id);
    assert_eq!(snap.state, SimState::Inactive);
    assert_eq!(snap.native_status.as_deref(), Some("inactive"));
    assert_eq!(snap.iccid.as_deref(), Some(ICCID));

    for (target, word) in [
        (SimState::Active, "active"),
        (SimState::Inactive, "inactive"),
        (SimState::Active, "active"),
        (SimState::Retired, "retired"),
    ] {
        let applied = provider
            .apply(&id, &SimChange::new().state(target.clone()))
            .await
            .unwrap();
        let Applied::Done(Some(snap)) = applied else {
            panic!("expected Done, got {applied:?}");
        };
        assert_eq!(
            (snap.state, snap.native_status.as_deref()),
            (target, Some(word))
        );
        assert_eq!(sandbox.sim(&id).unwrap()["status"], word);
    }

    // Refused before sending: a display name, a state EdgeIQ cannot be set to, nothing at all.
    let sent = sandbox.requests().len();
    let name = DisplayName::parse("pump 7").unwrap();
    for change in [
        SimChange::new().display_name(name),
        SimChange::new().state(SimState::Ready),
        SimChange::new(),
    ] {
        let err = provider.apply(&id, &change).await.unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
    }
    assert_eq!(sandbox.requests().len(), sent);

    let err = provider.fetch(MISSING).await.unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn rate_limit_and_faults() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        rate_limit: Some(RateLimit {
            per_second: 0.01,
            burst: 2,
            retry_after: true,
        }),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let client = client_once(&sandbox);
    client.get_sim(&id).await.unwrap();
    client.get_sim(&id).await.unwrap();
    let err = client.get_sim(&id).await.unwrap_err();
    assert_eq!(api(&err), (429, None, "Too Many Requests"));
    assert_eq!(err.retry_after(), None, "EdgeIQ documents no Retry-After");
    assert!(err.is_retryable());
    assert_eq!(sandbox.server().stats().throttled, 1);

    // A gateway error is retried; the update lands once.
    sandbox.server().set_rate_limit(None);
    sandbox.server().fail_next(1, 503);
    let client = sandbox
        .client_builder()
        .retry(fast_retry(3))
        .build()
        .unwrap();
    let record = client
        .update_sim(&id)
        .status("active")
        .send()
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(record.status.as_deref(), Some("active"));
    assert_eq!(sandbox.server().stats().failed, 1);
    let puts = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 2);

    // Nothing secret in the sandbox's own output.
    let shown = format!("{sandbox:?}");
    assert!(!shown.contains(sandbox.api_token()), "{shown}");
    assert!(!shown.contains(&sandbox.user().password), "{shown}");
}

#[tokio::test]
async fn sessions_end_after_the_configured_lifetime() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        session_lifetime: Duration::from_millis(300),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    sandbox.seed_sim(SimSeed::new().status("active"));
    assert_eq!(sandbox.sims().len(), 2);
    let user = sandbox.user().clone();
    let client = sandbox
        .builder_without_credentials()
        .retry(RetryPolicy::none())
        .login(&user.email, user.password.clone(), None)
        .await
        .unwrap();
    assert!(client.get_sim(&id).await.is_ok());
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The session has ended: the client, told when it would, logged in again before using it.
    let logins_before = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/user/authenticate"))
        .count();
    assert!(client.get_sim(&id).await.is_ok());
    let logins_after = sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/user/authenticate"))
        .count();
    assert_eq!(logins_after, logins_before + 1);
    let reads = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(reads, 2, "no read was sent with the ended session");
}

/// Seeds `n` records, their statuses cycling through active, inactive and suspended.
fn seed_fleet(sandbox: &Sandbox, n: usize) -> Vec<String> {
    let mut ids = sandbox.seed_sims(
        (0..n).map(|i| SimSeed::new().status(["active", "inactive", "suspended"][i % 3])),
    );
    // The list's order is the id order.
    ids.sort();
    ids
}

#[tokio::test]
async fn ten_thousand_records_list_in_ten_requests_each_once() {
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
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [1000; 10]);
    let listed: Vec<&str> = pages.iter().flatten().map(|s| s.id.as_str()).collect();
    assert_eq!(listed, ids, "every record once, in id order");
    let requests = sandbox.requests();
    assert_eq!(requests.len(), 10, "the total says when to stop");
    for (n, r) in requests.iter().enumerate() {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/api/v1/platform/sims")
        );
        let expected = format!("page={}&per_page=1000&page_meta=true", n + 1);
        assert_eq!(r.query.as_deref(), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn a_hundred_thousand_records_seed_and_page_without_quadratic_cost() {
    use futures_util::TryStreamExt as _;

    let sandbox = Sandbox::start_with(SandboxOptions {
        record: false,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let ids = seed_fleet(&sandbox, 100_000);
    let seeded = started.elapsed();
    let client = sandbox.client();
    let started = std::time::Instant::now();
    let mut pages = std::pin::pin!(client.list_sims().pages());
    let mut seen = 0;
    while let Some(page) = pages.try_next().await.unwrap() {
        assert_eq!(page.items[0].id.as_deref(), Some(ids[seen].as_str()));
        assert_eq!(page.total, Some(100_000));
        seen += page.items.len();
    }
    let listed = started.elapsed();
    assert_eq!(seen, 100_000);
    assert_eq!(sandbox.server().stats().received, 100);
    // An update's ICCID check is indexed: it does not read every record.
    let started = std::time::Instant::now();
    for id in &ids[..20] {
        client.update_sim(id).status("active").send().await.unwrap();
    }
    let updated = started.elapsed();
    assert!(seeded < Duration::from_secs(30), "seeding took {seeded:?}");
    assert!(listed < Duration::from_secs(60), "listing took {listed:?}");
    assert!(
        updated < Duration::from_secs(5),
        "20 updates took {updated:?}"
    );
    eprintln!(
        "100,000 EdgeIQ records: seeded in {seeded:?}, listed in {listed:?}, 20 updates in {updated:?}"
    );
}

#[tokio::test]
async fn listed_snapshots_match_fetched_ones() {
    use futures_util::TryStreamExt as _;
    use simcore::{ListOptions, SimSnapshot};

    let sandbox = Sandbox::start().await.unwrap();
    seed_fleet(&sandbox, 5);
    sandbox.seed_sim(SimSeed::new().status("TEST READY").field("carrier", "x"));
    sandbox.seed_sim(SimSeed::new().field("status", Value::Null));
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    // A record without a status is not what EdgeIQ answers: the listing says so.
    let err = provider
        .list(&ListOptions::new().page_size(3))
        .try_concat()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode { status: 200, .. }), "{err:?}");
    let sandbox = Sandbox::start().await.unwrap();
    seed_fleet(&sandbox, 5);
    sandbox.seed_sim(SimSeed::new().status("TEST READY").field("carrier", "x"));
    sandbox.seed_sim(SimSeed::new().status("deactivated"));
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let listed: Vec<SimSnapshot> = provider
        .list(&ListOptions::new().page_size(3))
        .try_concat()
        .await
        .unwrap();
    assert_eq!(listed.len(), 7);
    for snap in &listed {
        assert_eq!(snap, &provider.fetch(&snap.id).await.unwrap());
        assert!(snap.aliases.is_empty());
    }
    let states: Vec<SimState> = listed.iter().map(|s| s.state.clone()).collect();
    assert!(states.contains(&SimState::Unknown("TEST READY".into())));
    assert!(states.contains(&SimState::Retired));
    assert_eq!(sandbox.requests().len(), 3 + 7);
}

#[tokio::test]
async fn the_list_answers_both_shapes_filters_and_refuses_bad_queries() {
    let sandbox = Sandbox::start().await.unwrap();
    let ids = seed_fleet(&sandbox, 7);
    let raw = Transport::builder("edgeiq", sandbox.base_url())
        .auth(Auth::raw_authorization(&SecretString::from(sandbox.api_token().to_owned())).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let list = |query: &'static [(&'static str, &'static str)]| {
        let req = raw
            .request(Method::GET, &["sims"])
            .unwrap()
            .query(query.iter().copied());
        let raw = raw.clone();
        async move { raw.send(&req).await }
    };
    // Bare by default, 100 a page.
    let bare: Value = list(&[]).await.unwrap().json().unwrap();
    assert_eq!(bare.as_array().unwrap().len(), 7);
    assert_eq!(
        bare[0],
        sandbox.sim(&ids[0]).unwrap(),
        "as GET /sims/{{id}} answers it"
    );
    let meta: Value = list(&[("page", "2"), ("per_page", "3"), ("page_meta", "true")])
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(meta["total"], 7);
    let resources = meta["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 3);
    assert_eq!(resources[0]["_id"], ids[3]);
    // A filter: the total counts what it keeps.
    let active: Value = list(&[
        ("status", "active"),
        ("page_meta", "true"),
        ("per_page", "2"),
    ])
    .await
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(active["total"], 3);
    assert!(
        active["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "active")
    );
    let past: Value = list(&[("page", "5"), ("per_page", "3")])
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(past, json!([]));
    for query in [
        &[("page", "0")][..],
        &[("per_page", "1001")][..],
        &[("per_page", "x")][..],
        &[("page_meta", "yes")][..],
    ] {
        let err = list(query).await.unwrap_err();
        assert_eq!(err.status(), Some(400), "{query:?}");
    }
    let post = raw.request(Method::POST, &["sims"]).unwrap();
    assert_eq!(raw.send(&post).await.unwrap_err().status(), Some(405));
    let anonymous = Transport::builder("edgeiq", sandbox.base_url())
        .build()
        .unwrap();
    let req = anonymous.request(Method::GET, &["sims"]).unwrap();
    assert_eq!(anonymous.send(&req).await.unwrap_err().status(), Some(401));
}
