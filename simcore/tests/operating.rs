//! Fit for production networks: proxies (explicit and from the environment, with `NO_PROXY`),
//! your own `reqwest::Client`, and provider request ids. Everything on loopback.

use std::time::Duration;

use axum::Router;
use axum::http::{Response, StatusCode};
use axum::routing::get;
use secrecy::SecretString;
use simcore::Error;
use simcore::http::{Auth, Method, Proxy, Transport};
use simcore::retry::RetryPolicy;
use simsandbox::{SandboxServer, json_response};
use testkit::LocalProxy;

const SENTINEL: &str = "SENTINEL-proxy-password-3b1";

async fn api() -> SandboxServer {
    let router = Router::new()
        .route(
            "/v1/sims/a",
            get(|| async { json_response(200, &serde_json::json!({"ok": true})) }),
        )
        .route(
            "/v1/moved",
            get(|| async {
                Response::builder()
                    .status(StatusCode::FOUND)
                    .header("location", "/v1/sims/a")
                    .body(axum::body::Body::empty())
                    .unwrap()
            }),
        )
        .route(
            "/v1/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route(
            "/v1/rid",
            get(|| async {
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .header("content-type", "application/json")
                    .header("twilio-request-id", "RQ0123456789abcdef")
                    .header("x-request-id", "generic-1")
                    .body(axum::body::Body::from(
                        r#"{"code": 20404, "message": "not here"}"#,
                    ))
                    .unwrap()
            }),
        );
    SandboxServer::start(router).await.unwrap()
}

#[tokio::test]
async fn an_explicit_proxy_carries_every_request_and_its_password_stays_secret() {
    let api = api().await;
    let proxy = LocalProxy::start().await.unwrap();
    let p = Proxy::new(proxy.url()).unwrap().basic_auth("ops", SENTINEL);
    let t = Transport::builder("test", format!("{}/v1", api.base_url()))
        .proxy(p.clone())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = t.request(Method::GET, &["sims", "a"]).unwrap();
    assert_eq!(t.send(&req).await.unwrap().status(), 200);
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].0,
        format!("GET {}/v1/sims/a HTTP/1.1", api.base_url())
    );
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("ops:{SENTINEL}"))
    );
    assert_eq!(seen[0].1.as_deref(), Some(expected.as_str()));
    assert_eq!(api.requests().len(), 1);
    let shown = format!("{p:?} {t:?}");
    assert!(!shown.contains(SENTINEL), "{shown}");

    // A proxy's own no-proxy list sends those hosts directly.
    let direct = Transport::builder("test", format!("{}/v1", api.base_url()))
        .proxy(Proxy::new(proxy.url()).unwrap().no_proxy("127.0.0.1"))
        .build()
        .unwrap();
    direct.send(&req).await.unwrap();
    assert_eq!(proxy.requests().len(), 1);
    assert_eq!(api.requests().len(), 2);
}

/// Runs `child_reads_through_the_environment` in a child process with `env` set (the process
/// environment cannot be changed safely in a test), and returns its exit status.
fn run_child(env: &[(&str, &str)], target: &str) -> bool {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--exact",
        "child_reads_through_the_environment",
        "--nocapture",
    ])
    .env("SIMCORE_PROXY_CHILD_TARGET", target);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.status().unwrap().success()
}

/// Only does something in the child process started by the test below.
#[tokio::test]
async fn child_reads_through_the_environment() {
    let Ok(target) = std::env::var("SIMCORE_PROXY_CHILD_TARGET") else {
        return;
    };
    let t = Transport::builder("test", target)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = t.request(Method::GET, &["sims", "a"]).unwrap();
    let sent = t.send(&req).await;
    if std::env::var("SIMCORE_PROXY_CHILD_EXPECT").as_deref() == Ok("tls-failure") {
        // An https target on a plain-HTTP test server: the TLS handshake must fail, wherever
        // the connection went.
        assert!(sent.is_err(), "{sent:?}");
    } else {
        assert_eq!(sent.unwrap().status(), 200);
    }
}

/// `HTTPS_PROXY` carries an https request as a `CONNECT` tunnel, and `HTTP_PROXY` alone does
/// not (as curl reads them). The target is an https URL on the loopback test server, which
/// speaks plain HTTP: the tunnel is seen at the proxy, and the handshake through it then fails,
/// so nothing here needs a certificate or leaves the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_tunnels_https_requests_and_http_proxy_does_not() {
    let api = api().await;
    let proxy = LocalProxy::start().await.unwrap();
    let authority = api.base_url().trim_start_matches("http://").to_owned();
    let target = format!("https://{authority}/v1");
    let expect = ("SIMCORE_PROXY_CHILD_EXPECT", "tls-failure");
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let before = proxy.requests().len();
        let ok = tokio::task::spawn_blocking({
            let (url, target) = (proxy.url().to_owned(), target.clone());
            move || run_child(&[(var, &url), expect], &target)
        })
        .await
        .unwrap();
        assert!(ok, "{var}");
        let seen = proxy.requests();
        assert_eq!(seen.len(), before + 1, "{var}: {seen:?}");
        assert_eq!(
            seen[before].0,
            format!("CONNECT {authority} HTTP/1.1"),
            "{var}"
        );
    }
    let before = proxy.requests().len();
    let ok = tokio::task::spawn_blocking({
        let (url, target) = (proxy.url().to_owned(), target.clone());
        move || run_child(&[("HTTP_PROXY", &url), expect], &target)
    })
    .await
    .unwrap();
    assert!(ok, "HTTP_PROXY with an https target");
    assert_eq!(
        proxy.requests().len(),
        before,
        "HTTP_PROXY carried an https request"
    );
    // No plain HTTP request reached the test server in any of these runs.
    assert!(api.requests().is_empty(), "{:?}", api.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_proxies_are_honoured_and_no_proxy_exempts_a_host() {
    let api = api().await;
    let proxy = LocalProxy::start().await.unwrap();
    let target = format!("{}/v1", api.base_url());
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        let before = proxy.requests().len();
        let ok = tokio::task::spawn_blocking({
            let (url, target) = (proxy.url().to_owned(), target.clone());
            move || run_child(&[(var, &url)], &target)
        })
        .await
        .unwrap();
        assert!(ok, "{var}");
        assert_eq!(proxy.requests().len(), before + 1, "{var}");
    }
    // NO_PROXY (or no_proxy) names the host: the request goes straight to it.
    for var in ["NO_PROXY", "no_proxy"] {
        let before = proxy.requests().len();
        let served = api.requests().len();
        let ok = tokio::task::spawn_blocking({
            let (url, target) = (proxy.url().to_owned(), target.clone());
            move || run_child(&[("HTTP_PROXY", &url), (var, "127.0.0.1")], &target)
        })
        .await
        .unwrap();
        assert!(ok, "{var}");
        assert_eq!(proxy.requests().len(), before, "{var}");
        assert_eq!(api.requests().len(), served + 1, "{var}");
    }
}

#[tokio::test]
async fn no_proxy_on_the_builder_ignores_the_environment() {
    // Nothing to observe from inside this process but that it builds and sends directly.
    let api = api().await;
    let t = Transport::builder("test", format!("{}/v1", api.base_url()))
        .no_proxy()
        .build()
        .unwrap();
    let req = t.request(Method::GET, &["sims", "a"]).unwrap();
    assert_eq!(t.send(&req).await.unwrap().status(), 200);
}

#[tokio::test]
async fn your_own_client_is_used_and_keeps_the_sdk_s_timeout_and_redirect_refusal() {
    let api = api().await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-from-own-client", "yes".parse().unwrap());
    let own = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let t = Transport::builder("test", format!("{}/v1", api.base_url()))
        .http_client(own)
        .auth(Auth::bearer(&SecretString::from(SENTINEL)).unwrap())
        .timeout(Duration::from_millis(300))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = t.request(Method::GET, &["sims", "a"]).unwrap();
    t.send(&req).await.unwrap();
    let got = api.requests();
    assert_eq!(got[0].header("x-from-own-client"), Some("yes"));
    assert_eq!(
        got[0].header("authorization"),
        Some(format!("Bearer {SENTINEL}").as_str())
    );
    assert!(
        got[0]
            .header("user-agent")
            .is_some_and(|u| u.starts_with("simcore/"))
    );

    // The per-attempt timeout still applies.
    let slow = t.request(Method::GET, &["slow"]).unwrap();
    let err = t.send(&slow).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");

    // A redirect the client followed is not taken as the provider's answer.
    let moved = t.request(Method::GET, &["moved"]).unwrap();
    let err = t.send(&moved).await.unwrap_err();
    match &err {
        Error::Transport { message, .. } => {
            assert!(message.contains("followed a redirect"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(SENTINEL));
}

#[tokio::test]
async fn request_ids_are_kept_and_shown_provider_header_first() {
    let api = api().await;
    let t = Transport::builder("twilio", format!("{}/v1", api.base_url()))
        .request_id_header("twilio-request-id")
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = t.request(Method::GET, &["rid"]).unwrap();
    let err = t.send(&req).await.unwrap_err();
    assert_eq!(err.request_id(), Some("RQ0123456789abcdef"));
    assert_eq!(
        err.to_string(),
        "twilio: HTTP 404 (code 20404): not here; request id RQ0123456789abcdef; retrying will not help"
    );
    // Without the provider's own header, a common one is read.
    let t = Transport::builder("other", format!("{}/v1", api.base_url()))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let err = t.send(&req).await.unwrap_err();
    assert_eq!(err.request_id(), Some("generic-1"));
}

/// Every common request-id header is read, whatever the error body is (HTML, empty, or JSON that
/// quotes the credential back), and the secret never shows beside it.
#[tokio::test]
async fn request_ids_come_from_every_common_header_whatever_the_body() {
    use axum::extract::Path;
    use simcore::http::COMMON_REQUEST_ID_HEADERS;
    let router = Router::new().route(
        "/v1/rid/{header}/{kind}",
        get(|Path((header, kind)): Path<(String, String)>| async move {
            let (status, ctype, body) = match kind.as_str() {
                "html" => (
                    502,
                    "text/html",
                    "<html><body>Bad gateway</body></html>".to_owned(),
                ),
                "empty" => (503, "text/plain", String::new()),
                _ => (
                    401,
                    "application/json",
                    format!(r#"{{"message": "token Bearer {SENTINEL} refused"}}"#),
                ),
            };
            Response::builder()
                .status(status)
                .header("content-type", ctype)
                .header(header.as_str(), format!("id-{header}-{kind}"))
                .body(axum::body::Body::from(body))
                .unwrap()
        }),
    );
    let api = SandboxServer::start(router).await.unwrap();
    let t = Transport::builder("other", format!("{}/v1", api.base_url()))
        .auth(Auth::bearer(&SecretString::from(SENTINEL)).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    for header in COMMON_REQUEST_ID_HEADERS {
        for (kind, status) in [("html", 502), ("empty", 503), ("echo", 401)] {
            let req = t.request(Method::GET, &["rid", header, kind]).unwrap();
            let err = t.send(&req).await.unwrap_err();
            let want = format!("id-{header}-{kind}");
            assert_eq!(err.request_id(), Some(want.as_str()), "{header} {kind}");
            assert_eq!(err.status(), Some(status), "{header} {kind}");
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(&format!("request id {want}")), "{shown}");
            assert!(!shown.contains(SENTINEL), "{shown}");
        }
    }
}

/// The SDK's own HTTP client follows no redirect: the `302` is the answer (an error keeping its
/// status), and the place it points to is never asked, so the credential goes nowhere else.
#[tokio::test]
async fn the_default_client_follows_no_redirect() {
    let api = api().await;
    let t = Transport::builder("test", format!("{}/v1", api.base_url()))
        .auth(Auth::bearer(&SecretString::from(SENTINEL)).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let moved = t.request(Method::GET, &["moved"]).unwrap();
    let err = t.send(&moved).await.unwrap_err();
    assert_eq!(err.status(), Some(302), "{err:?}");
    let paths: Vec<String> = api.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/moved"]);
    assert!(!format!("{err} {err:?}").contains(SENTINEL));
}

/// The documented defaults, on a paused clock (no real waiting): an attempt is cut at 30 s, and
/// with a deadline of 60 s the call ends at the deadline, its second attempt cut at the time left.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_attempt_is_cut_at_30_s_and_a_call_at_its_60_s_deadline() {
    use simcore::http::{DEFAULT_DEADLINE, DEFAULT_TIMEOUT};
    let router = Router::new().route(
        "/v1/stall",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            "late"
        }),
    );
    let api = SandboxServer::start(router).await.unwrap();
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(DEFAULT_DEADLINE, Duration::from_secs(60));
    // One attempt: the per-attempt default cuts it.
    let t = Transport::builder("test", format!("{}/v1", api.base_url()))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = t.request(Method::GET, &["stall"]).unwrap();
    let start = tokio::time::Instant::now();
    let err = t.send(&req).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { after, attempts: 1, .. } if after == DEFAULT_TIMEOUT),
        "{err:?}"
    );
    assert_eq!(start.elapsed().as_secs(), 30);
    // Retries allowed: the default deadline ends the call, never later.
    let t = Transport::builder("test", format!("{}/v1", api.base_url()))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let err = t.send(&req).await.unwrap_err();
    assert!(
        matches!(err, Error::Deadline { deadline, attempts: 2, .. } if deadline == DEFAULT_DEADLINE),
        "{err:?}"
    );
    assert_eq!(start.elapsed().as_secs(), 60);
}
