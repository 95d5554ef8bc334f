//! The transport against a local mock server: retries, Retry-After, body cap, segments, secrets.

use std::time::{Duration, Instant};

use httpmock::prelude::*;
use secrecy::SecretString;
use simcore::Error;
use simcore::http::{Auth, Method, Request, Transport};
use simcore::retry::RetryPolicy;

const SENTINEL: &str = "SENTINEL-SECRET-7f3a9c";

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

fn transport(server: &MockServer, attempts: u32) -> Transport {
    Transport::builder("test", server.base_url())
        .auth(Auth::bearer(&SecretString::from(SENTINEL)).unwrap())
        .user_agent("simcore-tests/1.0")
        .retry(fast_retry(attempts))
        .build()
        .unwrap()
}

async fn get(t: &Transport, segments: &[&str]) -> simcore::Result<simcore::http::Response> {
    let req = t.request(Method::GET, segments)?;
    t.send(&req).await
}

#[tokio::test]
async fn sends_auth_user_agent_and_reads_json() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/sims/1")
                .header("authorization", format!("Bearer {SENTINEL}"))
                .header("user-agent", "simcore-tests/1.0");
            then.status(200).json_body(serde_json::json!({"ok": true}));
        })
        .await;
    let r = get(&transport(&server, 1), &["sims", "1"]).await.unwrap();
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v, serde_json::json!({"ok": true}));
    m.assert_async().await;
}

#[tokio::test]
async fn retries_429_and_503_up_to_the_limit() {
    for status in [429u16, 503, 502, 504] {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(GET).path("/x");
                then.status(status).body("busy");
            })
            .await;
        let err = get(&transport(&server, 3), &["x"]).await.unwrap_err();
        assert_eq!(m.calls_async().await, 3, "status {status}");
        let api = err.api().expect("api error");
        assert_eq!(api.status, status);
        assert_eq!(api.attempts, 3);
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn does_not_retry_400_404_or_500() {
    for status in [400u16, 404, 500, 422, 409] {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(GET).path("/x");
                then.status(status)
                    .json_body(serde_json::json!({"code": 1, "message": "no"}));
            })
            .await;
        let err = get(&transport(&server, 4), &["x"]).await.unwrap_err();
        assert_eq!(m.calls_async().await, 1, "status {status}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.api().unwrap().message, "no");
    }
}

#[tokio::test]
async fn honours_retry_after_and_reports_it() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path("/x");
            then.status(429)
                .header("Retry-After", "1")
                .json_body(serde_json::json!({"code": 20429, "message": "Too many requests"}));
        })
        .await;
    let start = Instant::now();
    let err = get(&transport(&server, 2), &["x"]).await.unwrap_err();
    // One wait of the full second the server asked for (the backoff alone would be ~1 ms).
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(m.calls_async().await, 2);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(err.api().unwrap().code, Some(20429));
}

#[tokio::test]
async fn retry_then_success() {
    let server = MockServer::start_async().await;
    let busy = server
        .mock_async(|when, then| {
            when.method(GET).path("/x");
            then.status(503);
        })
        .await;
    let t = transport(&server, 4);
    let task = tokio::spawn({
        let t = t.clone();
        async move { get(&t, &["x"]).await }
    });
    // Let the first attempt fail, then swap in a success answer.
    while busy.calls_async().await == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    busy.delete_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.method(GET).path("/x");
            then.status(200).body("{}");
        })
        .await;
    let r = task.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    ok.assert_async().await;
}

#[tokio::test]
async fn body_over_the_cap_is_refused() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/big");
            then.status(200).body("x".repeat(2048));
        })
        .await;
    let t = Transport::builder("test", server.base_url())
        .body_limit(1024)
        .build()
        .unwrap();
    let err = get(&t, &["big"]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                status: 200,
                limit: 1024,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_request_can_carry_its_own_body_cap() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/big");
            then.status(200).body("x".repeat(2048));
        })
        .await;
    let t = Transport::builder("test", server.base_url())
        .body_limit(1024)
        .build()
        .unwrap();
    assert_eq!(t.body_limit(), 1024);
    let roomy = t.request(Method::GET, &["big"]).unwrap().body_limit(4096);
    assert_eq!(t.send(&roomy).await.unwrap().body().len(), 2048);
    let tight = t.request(Method::GET, &["big"]).unwrap().body_limit(100);
    let err = t.send(&tight).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 100, .. }), "{err:?}");
}

#[tokio::test]
async fn ids_stay_one_segment() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path("/sims/..%2Fx%3Fy%23z%252F");
            then.status(200).body("{}");
        })
        .await;
    let t = transport(&server, 1);
    get(&t, &["sims", "../x?y#z%2F"]).await.unwrap();
    m.assert_async().await;
}

#[tokio::test]
async fn http_to_a_remote_host_is_refused_before_sending() {
    let err = Transport::builder("test", "http://api.example.com/v1")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    assert!(err.to_string().contains("must use https"), "{err}");
}

#[tokio::test]
async fn html_error_pages_become_api_errors() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/x");
            then.status(500)
                .header("content-type", "text/html")
                .body("<html><head><title>Internal Server Error</title></head></html>");
        })
        .await;
    let err = get(&transport(&server, 3), &["x"]).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(
        err.to_string(),
        "test: HTTP 500: HTML page: Internal Server Error; retrying will not help"
    );
}

#[tokio::test]
async fn timeouts_are_typed() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path("/slow");
            then.status(200).delay(Duration::from_millis(500));
        })
        .await;
    let t = Transport::builder("test", server.base_url())
        .timeout(Duration::from_millis(50))
        .retry(fast_retry(2))
        .build()
        .unwrap();
    let err = get(&t, &["slow"]).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { attempts: 2, .. }), "{err:?}");
    assert_eq!(m.calls_async().await, 2);
}

#[tokio::test]
async fn connection_errors_carry_no_url_or_secret() {
    // A port nothing listens on: bind one, learn it, close it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = Transport::builder("test", format!("http://127.0.0.1:{port}/v1"))
        .auth(Auth::basic("user", &SecretString::from(SENTINEL)).unwrap())
        .retry(fast_retry(2))
        .build()
        .unwrap();
    let err = get(&t, &["secret-path-segment"]).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 2, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SENTINEL));
    assert!(!shown.contains("secret-path-segment"), "{shown}");
    // The cause is kept, not flattened: the HTTP client's own error, its URL removed.
    let cause = std::error::Error::source(&err).expect("a transport error keeps its cause");
    let reqwest_error = cause
        .downcast_ref::<simcore::error::Cause>()
        .and_then(|c| c.get().downcast_ref::<reqwest::Error>())
        .expect("the cause is reqwest's error");
    assert!(reqwest_error.is_connect(), "{reqwest_error:?}");
    assert!(reqwest_error.url().is_none());
    assert_eq!(err.sent(), simcore::error::Sent::Maybe);
}

#[tokio::test]
async fn sentinel_secret_never_prints() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/x");
            then.status(401).body("");
        })
        .await;
    let sentinel = SecretString::from(SENTINEL);
    let auths = [
        Auth::basic("AC123", &sentinel).unwrap(),
        Auth::bearer(&sentinel).unwrap(),
        Auth::raw_authorization(&sentinel).unwrap(),
        Auth::header("x-api-key", &sentinel).unwrap(),
    ];
    for auth in auths {
        let t = Transport::builder("test", server.base_url())
            .auth(auth.clone())
            .build()
            .unwrap();
        let req = t.request(Method::GET, &["x"]).unwrap();
        let err = t.send(&req).await.unwrap_err();
        assert!(err.is_unauthorized());
        let printed = format!("{auth:?} {t:?} {req:?} {err} {err:?} {sentinel:?}");
        assert!(!printed.contains(SENTINEL), "{printed}");
        // Basic auth carries the secret base64-encoded: that must not show either.
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("AC123:{SENTINEL}"));
        assert!(!printed.contains(&encoded));
    }
    // A secret that cannot be a header value is refused without echoing it.
    let bad = SecretString::from(format!("{SENTINEL}\n"));
    let err = Auth::bearer(&bad).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(SENTINEL));
}

#[tokio::test]
async fn empty_error_bodies_keep_the_status() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(Method::DELETE.as_str()).path("/x");
            then.status(404);
        })
        .await;
    let t = transport(&server, 1);
    let req = Request::new(Method::DELETE, t.url(&["x"]).unwrap());
    let err = t.send(&req).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "test: HTTP 404: (empty body); retrying will not help"
    );
}

mod dynamic_auth {
    use super::*;
    use simcore::async_trait;
    use simcore::http::{AuthHeader, Authenticator, header::AUTHORIZATION};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Hands out `Bearer t<generation>`; a rejection moves to the next generation.
    #[derive(Debug, Default)]
    struct Rotating {
        generation: AtomicU32,
        rejections: AtomicU32,
    }

    #[async_trait]
    impl Authenticator for Rotating {
        async fn header(&self) -> simcore::Result<AuthHeader> {
            let g = self.generation.load(Ordering::SeqCst);
            AuthHeader::new(AUTHORIZATION, &format!("Bearer t{g}"))
        }
        async fn rejected(&self, _used: &AuthHeader) -> bool {
            self.rejections.fetch_add(1, Ordering::SeqCst);
            self.generation.fetch_add(1, Ordering::SeqCst);
            true
        }
    }

    #[tokio::test]
    async fn a_401_refreshes_once_then_succeeds() {
        let server = MockServer::start_async().await;
        let stale = server
            .mock_async(|when, then| {
                when.method(GET)
                    .path("/x")
                    .header("authorization", "Bearer t0");
                then.status(401).body("");
            })
            .await;
        let fresh = server
            .mock_async(|when, then| {
                when.method(GET)
                    .path("/x")
                    .header("authorization", "Bearer t1");
                then.status(200).body("{}");
            })
            .await;
        let auth = Arc::new(Rotating::default());
        let t = Transport::builder("test", server.base_url())
            .auth(Auth::dynamic(auth.clone()))
            .build()
            .unwrap();
        get(&t, &["x"]).await.unwrap();
        assert_eq!(stale.calls_async().await, 1);
        assert_eq!(fresh.calls_async().await, 1);
        assert_eq!(auth.rejections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_second_401_is_final() {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(GET).path("/x");
                then.status(401)
                    .json_body(serde_json::json!({"message": "Unauthorized"}));
            })
            .await;
        let auth = Arc::new(Rotating::default());
        let t = Transport::builder("test", server.base_url())
            .auth(Auth::dynamic(auth.clone()))
            .retry(fast_retry(4))
            .build()
            .unwrap();
        let err = get(&t, &["x"]).await.unwrap_err();
        assert!(err.is_unauthorized());
        assert_eq!(err.api().unwrap().message, "Unauthorized");
        assert_eq!(m.calls_async().await, 2);
        assert_eq!(auth.rejections.load(Ordering::SeqCst), 1);
    }
}

mod properties {
    use proptest::prelude::*;
    use simcore::http::join_segments;
    use url::Url;

    proptest! {
        #[test]
        fn any_id_is_exactly_one_segment(id in any::<String>()) {
            let base = Url::parse("https://api.example.com/v1").unwrap();
            match join_segments(&base, &["sims", &id]) {
                Ok(url) => {
                    prop_assert_eq!(url.query(), None);
                    prop_assert_eq!(url.fragment(), None);
                    prop_assert_eq!(url.host_str(), Some("api.example.com"));
                    let segs: Vec<&str> = url.path_segments().unwrap().collect();
                    prop_assert_eq!(segs.len(), 3);
                    prop_assert_eq!(segs[0], "v1");
                    prop_assert_eq!(segs[1], "sims");
                    // Re-parsing the URL yields the same URL, and the segment decodes to the id.
                    let again = Url::parse(url.as_str()).unwrap();
                    prop_assert_eq!(&again, &url);
                    let decoded = percent_decode(segs[2]);
                    prop_assert_eq!(decoded, id);
                }
                Err(e) => prop_assert!(id.is_empty() || id == "." || id == "..", "{e}"),
            }
        }
    }

    fn percent_decode(s: &str) -> String {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }
}

#[tokio::test]
async fn a_call_s_attempts_cap_limits_its_retries() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path("/x");
            then.status(503);
        })
        .await;
    let t = transport(&server, 4);
    let once = t
        .request(Method::GET, &["x"])
        .unwrap()
        .options(simcore::CallOptions::new().attempts(1));
    let err = t.send(&once).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(m.calls_async().await, 1);
    // Two attempts: two requests. The cap never raises the policy's own (four).
    let twice = once.options(simcore::CallOptions::new().attempts(2));
    t.send(&twice).await.unwrap_err();
    assert_eq!(m.calls_async().await, 3);
    let many = twice.options(simcore::CallOptions::new().attempts(40));
    t.send(&many).await.unwrap_err();
    assert_eq!(m.calls_async().await, 7);
    // No options: the transport's policy (four attempts).
    get(&t, &["x"]).await.unwrap_err();
    assert_eq!(m.calls_async().await, 11);
}

#[tokio::test]
async fn a_call_s_deadline_replaces_the_transport_s_and_bad_options_send_nothing() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path("/slow");
            then.status(200).delay(Duration::from_secs(2)).body("{}");
        })
        .await;
    let t = transport(&server, 1);
    let req = t
        .request(Method::GET, &["slow"])
        .unwrap()
        .options(simcore::CallOptions::new().deadline(Duration::from_millis(150)));
    match t.send(&req).await.unwrap_err() {
        Error::Deadline { deadline, .. } => assert_eq!(deadline, Duration::from_millis(150)),
        other => panic!("expected the call's deadline, got {other:?}"),
    }
    for bad in [
        simcore::CallOptions::new().attempts(0),
        simcore::CallOptions::new().deadline(Duration::ZERO),
    ] {
        let before = m.calls_async().await;
        let err = t.send(&req.clone().options(bad)).await.unwrap_err();
        let Error::Invalid(v) = &err else {
            panic!("expected a refusal, got {err:?}")
        };
        assert!(["attempts", "deadline"].contains(&v.field()), "{v:?}");
        assert_eq!(m.calls_async().await, before, "nothing is sent");
    }
}

#[tokio::test]
async fn a_request_s_own_headers_are_sent_but_never_replace_the_transport_s() {
    use axum::Router;
    use simcore::http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
    use simsandbox::{SandboxServer, empty_response};

    let server = SandboxServer::start(Router::new().fallback(|| async { empty_response(204) }))
        .await
        .unwrap();
    let t = Transport::builder("test", server.base_url())
        .auth(Auth::bearer(&SecretString::from(SENTINEL)).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = Request::new(Method::POST, t.url(&["hook"]).unwrap())
        .form([("a", "1")])
        .header(
            HeaderName::from_static("x-signature"),
            HeaderValue::from_static("abc"),
        )
        .header(AUTHORIZATION, HeaderValue::from_static("Basic bm9wZQ=="))
        .header(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    assert_eq!(
        format!("{req:?}"),
        format!(
            "Request {{ method: POST, url: {:?}, headers: [\"x-signature\", \"authorization\", \"content-type\"], body: Form(3 bytes), operation: \"request\" }}",
            format!("{}/hook", server.base_url())
        )
    );
    assert_eq!(t.send(&req).await.unwrap().status(), 204);
    let got = &server.requests()[0];
    let values = |name: &str| -> Vec<&str> {
        got.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(values("x-signature"), ["abc"]);
    assert_eq!(
        values("authorization"),
        [format!("Bearer {SENTINEL}").as_str()]
    );
    assert_eq!(
        values("content-type"),
        ["application/x-www-form-urlencoded"]
    );
}

#[tokio::test]
async fn a_started_call_s_requests_share_one_deadline() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path("/slow");
            then.status(200)
                .delay(Duration::from_millis(300))
                .body("{}");
        })
        .await;
    let t = transport(&server, 1);
    let call = simcore::CallOptions::new()
        .deadline(Duration::from_millis(500))
        .started();
    let req = t.request(Method::GET, &["slow"]).unwrap().options(call);
    // The first request fits in the call's deadline; the second has what is left (~200 ms)
    // and runs out, though each alone would fit.
    t.send(&req).await.unwrap();
    match t.send(&req).await.unwrap_err() {
        Error::Deadline { deadline, .. } => assert_eq!(deadline, Duration::from_millis(500)),
        other => panic!("expected the call's deadline, got {other:?}"),
    }
    assert_eq!(m.calls_async().await, 2);
    // Not started: each request has the whole deadline.
    let each = t
        .request(Method::GET, &["slow"])
        .unwrap()
        .options(simcore::CallOptions::new().deadline(Duration::from_millis(500)));
    t.send(&each).await.unwrap();
    t.send(&each).await.unwrap();
}
