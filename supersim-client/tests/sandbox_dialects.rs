//! The sandbox as KORE and as Twilio: KORE's token endpoint and bearer tokens, and callbacks
//! signed in each dialect, received on a local listener and verified with `callbacks`.

use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use simcore::secrecy::{ExposeSecret as _, SecretString};
use simsandbox::{RecordedRequest, SandboxServer, empty_response};
use supersim_client::Status;
use supersim_client::callbacks::{
    CallbackError, Deduplicator, Delivery, KoreVerifier, SimCallback, TwilioVerifier,
};
use supersim_client::sandbox::{Dialect, Sandbox, SandboxOptions, SimSeed, SimStatus};
use supersim_client::{CallbackMethod, SettableStatus};

const FORM: &str = "application/x-www-form-urlencoded";

/// A listener for callbacks: answers `204` to anything and records what it got.
async fn receiver() -> SandboxServer {
    let router = Router::new().fallback(|| async { empty_response(204) });
    SandboxServer::start(router).await.expect("receiver")
}

/// An answer: status, content type, `Allow`/`WWW-Authenticate` when present, JSON body.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    content_type: Option<String>,
    allow: Option<String>,
    challenge: Option<String>,
    body: Value,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let r = request.send().await.expect("the sandbox answers");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, content_type, allow, challenge) = (
        r.status().as_u16(),
        header("content-type"),
        header("allow"),
        header("www-authenticate"),
    );
    let bytes = r.bytes().await.unwrap();
    Answer {
        status,
        content_type,
        allow,
        challenge,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn json_answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        content_type: Some("application/json".to_owned()),
        allow: None,
        challenge: None,
        body,
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn token_request(http: &reqwest::Client, sandbox: &Sandbox, body: &str) -> reqwest::RequestBuilder {
    http.post(sandbox.token_url())
        .header("content-type", FORM)
        .body(body.to_owned())
}

/// A token, asked for as KORE's spec says.
async fn token(http: &reqwest::Client, sandbox: &Sandbox) -> String {
    let secret = sandbox.client_secret();
    let body = encode(&[
        ("grant_type", "client_credentials"),
        ("client_id", sandbox.client_id()),
        ("client_secret", secret.expose_secret()),
    ]);
    let a = answer(token_request(http, sandbox, &body)).await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body["access_token"].as_str().unwrap().to_owned()
}

fn twilio_auth_error(status: u16, code: u16, message: &str, challenge: &str) -> Answer {
    Answer {
        challenge: Some(challenge.to_owned()),
        ..json_answer(
            status,
            json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status,
            }),
        )
    }
}

/// The headers, URL and body of a received callback, as a handler would have them.
fn received(hooks: &SandboxServer, r: &RecordedRequest) -> (String, HeaderMap) {
    let mut headers = HeaderMap::new();
    for (k, v) in &r.headers {
        headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let url = match &r.query {
        Some(q) => format!("{}{}?{q}", hooks.base_url(), r.path),
        None => format!("{}{}", hooks.base_url(), r.path),
    };
    (url, headers)
}

fn as_http_request(r: &RecordedRequest, headers: &HeaderMap) -> http::Request<Bytes> {
    let uri = match &r.query {
        Some(q) => format!("{}?{q}", r.path),
        None => r.path.clone(),
    };
    let mut request = http::Request::builder()
        .method(r.method.as_str())
        .uri(uri)
        .body(r.body.clone())
        .unwrap();
    *request.headers_mut() = headers.clone();
    request
}

#[tokio::test]
async fn kore_s_token_endpoint_refuses_what_its_spec_does_not_allow() {
    let sandbox = Sandbox::start_with(SandboxOptions::kore()).await.unwrap();
    assert_eq!(sandbox.dialect(), Dialect::Kore);
    assert_eq!(
        sandbox.token_url(),
        format!("{}/api-services/v1/auth/token", sandbox.base_url())
    );
    let http = reqwest::Client::new();
    let id = sandbox.client_id().to_owned();
    let secret = sandbox.client_secret().expose_secret().to_owned();
    let grant = ("grant_type", "client_credentials");
    let bad = |message: &str| json_answer(400, json!({"code": 400, "message": message}));
    let invalid_client = json_answer(
        401,
        json!({
            "error": "invalid_client",
            "error_description": "Invalid client or Invalid client credentials",
        }),
    );

    let cases: Vec<(&str, String, Answer)> = vec![
        (
            "wrong grant type",
            encode(&[
                ("grant_type", "password"),
                ("client_id", &id),
                ("client_secret", &secret),
            ]),
            bad("Unsupported grant_type \"password\": must be client_credentials"),
        ),
        (
            "no grant type",
            encode(&[("client_id", &id), ("client_secret", &secret)]),
            bad("Missing parameter grant_type"),
        ),
        (
            "no client id",
            encode(&[grant, ("client_secret", &secret)]),
            bad("Missing parameter client_id"),
        ),
        (
            "empty client secret",
            encode(&[grant, ("client_id", &id), ("client_secret", "")]),
            bad("Missing parameter client_secret"),
        ),
        (
            "unknown parameter",
            encode(&[
                grant,
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "email"),
            ]),
            bad("Unknown parameter scope"),
        ),
        (
            "a parameter twice",
            encode(&[
                grant,
                ("client_id", &id),
                ("client_id", &id),
                ("client_secret", &secret),
            ]),
            bad("Parameter client_id was given more than once"),
        ),
        (
            "wrong secret",
            encode(&[grant, ("client_id", &id), ("client_secret", "not it")]),
            invalid_client,
        ),
        (
            "wrong client id",
            encode(&[grant, ("client_id", "someone"), ("client_secret", &secret)]),
            json_answer(
                401,
                json!({
                    "error": "invalid_client",
                    "error_description": "Invalid client or Invalid client credentials",
                }),
            ),
        ),
    ];
    let mut sent = 0;
    for (name, body, expected) in cases {
        assert_eq!(
            answer(token_request(&http, &sandbox, &body)).await,
            expected,
            "{name}"
        );
        sent += 1;
    }

    // The wrong content type, or none at all.
    let good = encode(&[grant, ("client_id", &id), ("client_secret", &secret)]);
    let media = bad("Unsupported Media Type: send application/x-www-form-urlencoded");
    let as_json = http
        .post(sandbox.token_url())
        .header("content-type", "application/json")
        .body(
            json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret})
                .to_string(),
        );
    assert_eq!(answer(as_json).await, media);
    assert_eq!(
        answer(http.post(sandbox.token_url()).body(good.clone())).await,
        media
    );
    // Another method.
    assert_eq!(
        answer(http.get(sandbox.token_url())).await,
        Answer {
            allow: Some("POST".to_owned()),
            ..json_answer(405, json!({"code": 405, "message": "Method not allowed"}))
        }
    );
    sent += 3;
    assert_eq!(sandbox.token_requests(), sent);

    // The right request: a token, as KORE's spec shapes it.
    let a = answer(token_request(&http, &sandbox, &good)).await;
    let access_token = a.body["access_token"].as_str().unwrap().to_owned();
    // A sandbox's token: the mark, then 64 hex digits.
    let hex = access_token
        .strip_prefix(simcore::http::SANDBOX_CREDENTIAL_MARK)
        .unwrap();
    assert_eq!(hex.len(), 64);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        a,
        json_answer(
            200,
            json!({
                "access_token": access_token,
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope": "supersim",
            })
        )
    );
    assert_eq!(sandbox.token_requests(), sent + 1);

    // The request log never prints the secret sent in the body.
    let printed = format!("{:?}", sandbox.requests());
    assert!(!printed.contains(&secret), "{printed}");
}

#[tokio::test]
async fn kore_s_super_sim_paths_take_only_live_bearer_tokens() {
    let options = SandboxOptions::kore().token_lifetime(Duration::from_secs(90));
    let sandbox = Sandbox::start_with(options).await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    let http = reqwest::Client::new();
    let sim_url = format!("{}/v1/Sims/{sid}", sandbox.base_url());
    let refused = twilio_auth_error(401, 20003, "Authenticate", "Bearer");

    let first = token(&http, &sandbox).await;
    let a = answer(http.get(&sim_url).bearer_auth(&first)).await;
    assert_eq!(
        (a.status, a.body["sid"].as_str()),
        (200, Some(sid.as_str()))
    );
    assert_eq!(sandbox.token_requests(), 1, "one token request");

    // No credential, Twilio's Basic credential, a token never issued.
    assert_eq!(answer(http.get(&sim_url)).await, refused);
    let basic = http.get(&sim_url).basic_auth(
        sandbox.account_sid(),
        Some(sandbox.auth_token().expose_secret()),
    );
    assert_eq!(answer(basic).await, refused);
    assert_eq!(
        answer(http.get(&sim_url).bearer_auth("0".repeat(64))).await,
        refused
    );

    // Expired now: refused; a fresh token goes through.
    sandbox.expire_tokens();
    assert_eq!(
        answer(http.get(&sim_url).bearer_auth(&first)).await,
        refused
    );
    let second = token(&http, &sandbox).await;
    assert_ne!(second, first);
    let update = http
        .post(&sim_url)
        .bearer_auth(&second)
        .header("content-type", FORM)
        .body("Status=active");
    let a = answer(update).await;
    assert_eq!(
        (a.status, a.body["status"].as_str()),
        (202, Some("scheduled"))
    );

    // A token with no lifetime is expired from the start, and says so.
    sandbox.set_token_lifetime(Duration::ZERO);
    let secret = sandbox.client_secret();
    let body = encode(&[
        ("grant_type", "client_credentials"),
        ("client_id", sandbox.client_id()),
        ("client_secret", secret.expose_secret()),
    ]);
    let a = answer(token_request(&http, &sandbox, &body)).await;
    assert_eq!(a.body["expires_in"], json!(0));
    let dead = a.body["access_token"].as_str().unwrap();
    assert_eq!(answer(http.get(&sim_url).bearer_auth(dead)).await, refused);
    // Tokens issued before keep their expiry.
    let a = answer(http.get(&sim_url).bearer_auth(&second)).await;
    assert_eq!(a.status, 200);
    assert_eq!(sandbox.token_requests(), 3);
}

#[tokio::test]
async fn twilio_s_dialect_has_no_token_endpoint() {
    let sandbox = Sandbox::start().await.unwrap();
    assert_eq!(sandbox.dialect(), Dialect::Twilio);
    let http = reqwest::Client::new();
    let body = "grant_type=client_credentials&client_id=x&client_secret=y";
    assert_eq!(
        answer(token_request(&http, &sandbox, body)).await,
        twilio_auth_error(401, 20003, "Authenticate", "Basic realm=\"Twilio API\"")
    );
    let with_basic = token_request(&http, &sandbox, body).basic_auth(
        sandbox.account_sid(),
        Some(sandbox.auth_token().expose_secret()),
    );
    assert_eq!(
        answer(with_basic).await,
        json_answer(
            404,
            json!({
                "code": 20404,
                "message": "The requested resource /api-services/v1/auth/token was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            })
        )
    );
    assert_eq!(sandbox.token_requests(), 0);
}

#[tokio::test]
async fn kore_callbacks_are_signed_and_verify() {
    let options = SandboxOptions::kore()
        .schedule_delay(Duration::from_millis(10))
        .webhook_secret("first secret");
    let sandbox = Sandbox::start_with(options).await.unwrap();
    let hooks = receiver().await;
    let fleet = sandbox.seed_fleet("North");
    let sid = sandbox.seed_sim(
        SimSeed::new()
            .unique_name("pump 7")
            .status(SimStatus::Ready),
    );
    let http = reqwest::Client::new();
    let bearer = token(&http, &sandbox).await;
    let update = |pairs: &[(&str, &str)]| {
        http.post(format!("{}/v1/Sims/{sid}", sandbox.base_url()))
            .bearer_auth(&bearer)
            .header("content-type", FORM)
            .body(encode(pairs))
    };
    let seen = Deduplicator::default();

    // A POST callback, signed with the webhook secret.
    let hook = format!("{}/sim-done?site=north", hooks.base_url());
    let a = answer(update(&[
        ("Status", "active"),
        ("Fleet", "North"),
        ("CallbackUrl", &hook),
    ]))
    .await;
    assert_eq!(a.status, 202);
    sandbox.settled().await;
    let got = hooks.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            got[0].method.as_str(),
            got[0].path.as_str(),
            got[0].query.as_deref()
        ),
        ("POST", "/sim-done", Some("site=north"))
    );
    assert_eq!(got[0].header("content-type"), Some(FORM));
    let (url, headers) = received(&hooks, &got[0]);
    assert_eq!(url, hook);
    let verifier = KoreVerifier::new(["first secret"]).unwrap();
    let cb = verifier
        .verify("POST", &url, &headers, &got[0].body)
        .unwrap();
    assert_eq!(cb.sim_sid(), Some(sid.as_str()));
    assert_eq!(cb.status(), Some(Status::Active));
    assert_eq!(cb.fleet(), Some(fleet.as_str()));
    assert_eq!(cb.unique_name(), Some("pump 7"));
    assert_eq!(cb.account_sid(), Some(sandbox.account_sid()));
    let calls = sandbox.callbacks();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Some(204));
    let event = calls[0].header("kore-idempotency-token").unwrap();
    assert_eq!(cb.idempotency_token(), Some(event));
    assert_eq!(
        got[0].header("kore-signature"),
        calls[0].header("kore-signature")
    );
    assert_eq!(calls[0].headers.len(), 2);
    // The same delivery again is a replay; through the http::Request convenience too.
    assert_eq!(seen.check(&cb), Delivery::First);
    let again = verifier
        .verify_request(&hooks.base_url(), &as_http_request(&got[0], &headers))
        .unwrap();
    assert_eq!(again, cb);
    assert_eq!(seen.check(&again), Delivery::Replay);
    // Another secret, or a changed body, does not pass.
    assert_eq!(
        KoreVerifier::new(["second secret"])
            .unwrap()
            .verify("POST", &url, &headers, &got[0].body),
        Err(CallbackError::BadSignature {
            header: "kore-signature"
        })
    );
    let mut tampered = got[0].body.to_vec();
    tampered.extend_from_slice(b"&Status=inactive");
    assert!(verifier.verify("POST", &url, &headers, &tampered).is_err());

    // The secret rotates; a GET callback carries its pairs in the query and a new event token.
    sandbox.set_webhook_secret(Some(SecretString::from("second secret")));
    let off = format!("{}/off", hooks.base_url());
    let a = answer(update(&[
        ("Status", "inactive"),
        ("CallbackUrl", &off),
        ("CallbackMethod", "GET"),
    ]))
    .await;
    assert_eq!(a.status, 202);
    sandbox.settled().await;
    let got = hooks.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[1].method.as_str(), got[1].path.as_str()),
        ("GET", "/off")
    );
    assert!(got[1].body.is_empty());
    let (url, headers) = received(&hooks, &got[1]);
    let rotating = KoreVerifier::new(["second secret", "first secret"]).unwrap();
    let cb = rotating.verify("GET", &url, &headers, b"").unwrap();
    assert_eq!(cb.status(), Some(Status::Inactive));
    assert_eq!(cb.sim_sid(), Some(sid.as_str()));
    assert_eq!(seen.check(&cb), Delivery::First, "a new event");
    assert_eq!(
        verifier.verify("GET", &url, &headers, b"").unwrap_err(),
        CallbackError::BadSignature {
            header: "kore-signature"
        },
        "the old secret alone no longer passes"
    );

    // No webhook secret: the header is there and empty, and a verifier says why it refuses.
    sandbox.set_webhook_secret(None);
    let a = answer(update(&[("Status", "active"), ("CallbackUrl", &hook)])).await;
    assert_eq!(a.status, 202);
    sandbox.settled().await;
    let got = hooks.requests();
    assert_eq!(got[2].header("kore-signature"), Some(""));
    let (url, headers) = received(&hooks, &got[2]);
    let err = rotating
        .verify("POST", &url, &headers, &got[2].body)
        .unwrap_err();
    assert_eq!(err, CallbackError::NoWebhookSecret);
    // The payload can still be read, unverified, and its event token is new.
    let unverified = SimCallback::read_unverified("POST", &url, &headers, &got[2].body);
    assert_eq!(unverified.status(), Some(Status::Active));
    assert_eq!(seen.check(&unverified), Delivery::First);

    // One token served every update.
    assert_eq!(sandbox.token_requests(), 1);
}

#[tokio::test]
async fn twilio_callbacks_are_signed_with_the_auth_token() {
    let sandbox =
        Sandbox::start_with(SandboxOptions::new().schedule_delay(Duration::from_millis(10)))
            .await
            .unwrap();
    let hooks = receiver().await;
    let sid = sandbox.seed_sim(SimSeed::new().unique_name("pump 8"));
    let client = sandbox.client();
    let verifier = TwilioVerifier::new([sandbox.auth_token()]).unwrap();

    // POST: the URL as requested and the sorted form pairs.
    let hook = format!("{}/sim-done?site=south", hooks.base_url());
    let outcome = client
        .update_sim(&sid)
        .status(SettableStatus::Active)
        .callback_url(&hook)
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    sandbox.settled().await;
    let got = hooks.requests();
    assert_eq!(got.len(), 1);
    let (url, headers) = received(&hooks, &got[0]);
    let cb = verifier
        .verify("POST", &url, &headers, &got[0].body)
        .unwrap();
    assert_eq!(cb.sim_sid(), Some(sid.as_str()));
    assert_eq!(cb.status(), Some(Status::Active));
    assert_eq!(cb.idempotency_token(), None);
    assert_eq!(
        got[0].header("x-twilio-signature"),
        sandbox.callbacks()[0].header("X-Twilio-Signature")
    );
    assert_eq!(got[0].header("kore-signature"), None);
    let again = verifier
        .verify_request(&hooks.base_url(), &as_http_request(&got[0], &headers))
        .unwrap();
    assert_eq!(again, cb);
    let tampered = String::from_utf8(got[0].body.to_vec())
        .unwrap()
        .replace("active", "inactive");
    assert_eq!(
        verifier.verify("POST", &url, &headers, tampered.as_bytes()),
        Err(CallbackError::BadSignature {
            header: "x-twilio-signature"
        })
    );
    let wrong = TwilioVerifier::new(["another token"]).unwrap();
    assert!(wrong.verify("POST", &url, &headers, &got[0].body).is_err());

    // GET: the pairs are in the signed URL.
    let outcome = client
        .update_sim(&sid)
        .status(SettableStatus::Inactive)
        .callback_url(format!("{}/off", hooks.base_url()))
        .callback_method(CallbackMethod::Get)
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    sandbox.settled().await;
    let got = hooks.requests();
    assert_eq!(got.len(), 2);
    let (url, headers) = received(&hooks, &got[1]);
    let cb = verifier.verify("GET", &url, &headers, b"").unwrap();
    assert_eq!(cb.status(), Some(Status::Inactive));
    assert_eq!(cb.unique_name(), Some("pump 8"));
    let changed = url.replace("inactive", "active");
    assert!(verifier.verify("GET", &changed, &headers, b"").is_err());
}

#[tokio::test]
async fn the_client_speaks_kore_to_the_sandbox_one_token_for_a_thousand_updates() {
    let sandbox = Sandbox::start_with(SandboxOptions::kore()).await.unwrap();
    let sids: Vec<String> = (0..50)
        .map(|_| sandbox.seed_sim(SimSeed::new().status(SimStatus::Inactive)))
        .collect();
    let client = std::sync::Arc::new(sandbox.client());
    assert_eq!(client.dialect().as_str(), "kore");
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let c = client.clone();
            let sid = sids[i % sids.len()].clone();
            tokio::spawn(async move { c.get_sim(&sid).await.map(|s| s.status) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), Some(Status::Inactive));
    }
    assert_eq!(sandbox.token_requests(), 1);
    assert_eq!(client.token_fetches(), 1);

    // The sandbox revokes every token: the next request gets a 401, fetches one new token and
    // succeeds; the ones after reuse it.
    sandbox.expire_tokens();
    let outcome = client
        .update_sim(&sids[0])
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap();
    assert!(outcome.is_pending());
    client.get_sim(&sids[1]).await.unwrap();
    assert_eq!(sandbox.token_requests(), 2);
}

#[tokio::test]
async fn waiters_see_a_scheduled_change_land_or_say_what_they_saw_last() {
    use simcore::wait::{WaitOptions, until_settled};
    let sandbox = Sandbox::start_with(SandboxOptions::kore().hold_scheduled())
        .await
        .unwrap();
    let sid = sandbox.seed_sim(SimSeed::new().status(SimStatus::Inactive));
    let client = sandbox.client();
    let applied = simcore::SimProvider::apply(
        &client,
        &sid,
        &simcore::SimChange::new().state(simcore::SimState::Active),
    )
    .await
    .unwrap();
    assert!(applied.is_pending());
    let quick = WaitOptions::default()
        .deadline(Duration::from_millis(150))
        .first_delay(Duration::from_millis(10));
    let err = client.wait_until_settled(&sid, &quick).await.unwrap_err();
    assert!(
        matches!(&err, simcore::Error::NotSettled { provider: "kore", last, .. } if last == "scheduled"),
        "{err:?}"
    );
    let err = until_settled(&client, &sid, &quick).await.unwrap_err();
    assert!(
        err.to_string().ends_with(
            "(last seen: pending (the provider says \"scheduled\")); waiting longer may help"
        ),
        "{err}"
    );

    let patient = WaitOptions::default()
        .deadline(Duration::from_secs(10))
        .first_delay(Duration::from_millis(10));
    let (sim, _) = tokio::join!(client.wait_until_settled(&sid, &patient), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sandbox.complete_scheduled().await
    });
    assert_eq!(sim.unwrap().status, Some(Status::Active));
    let snap = until_settled(&client, &sid, &patient).await.unwrap();
    assert_eq!(snap.state, simcore::SimState::Active);
}
