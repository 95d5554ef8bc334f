//! The shared sandbox server: request log, faults, rate limiter, driven through the transport.

use std::time::Duration;

use axum::{Router, routing::get};
use simcore::Error;
use simcore::http::{Method, Transport};
use simcore::retry::RetryPolicy;
use simsandbox::{RateLimit, SandboxServer};

async fn server() -> SandboxServer {
    let router = Router::new().route("/ping", get(|| async { "pong" }));
    SandboxServer::start(router).await.unwrap()
}

fn client(s: &SandboxServer, attempts: u32) -> Transport {
    Transport::builder("sandbox", s.base_url())
        .retry(
            RetryPolicy::default()
                .with_max_attempts(attempts)
                .with_backoff(Duration::from_millis(1), Duration::from_millis(2)),
        )
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

async fn ping(t: &Transport) -> simcore::Result<String> {
    let r = t.send(&t.request(Method::GET, &["ping"])?).await?;
    Ok(String::from_utf8_lossy(r.body()).into_owned())
}

#[tokio::test]
async fn serves_and_records() {
    let s = server().await;
    assert_eq!(ping(&client(&s, 1)).await.unwrap(), "pong");
    let log = s.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("GET", "/ping")
    );
    assert!(log[0].header("user-agent").unwrap().starts_with("simcore/"));
    assert!(!log[0].is_write());
}

#[tokio::test]
async fn injected_status_then_recovery() {
    let s = server().await;
    s.fail_next(2, 503);
    // Two 503s, then the third attempt succeeds.
    assert_eq!(ping(&client(&s, 3)).await.unwrap(), "pong");
    assert_eq!(s.stats().failed, 2);
    s.fail_next(1, 500);
    let err = ping(&client(&s, 3)).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.api().unwrap().message, "injected fault: HTTP 500");
}

#[tokio::test]
async fn dropped_connections_are_transport_errors_and_retried() {
    let s = server().await;
    s.drop_next(1);
    assert_eq!(ping(&client(&s, 2)).await.unwrap(), "pong");
    s.drop_next(5);
    let err = ping(&client(&s, 2)).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(s.stats().dropped, 3);
}

#[tokio::test]
async fn delays_past_the_timeout_are_timeouts() {
    let s = server().await;
    s.delay_next(1, Duration::from_secs(2));
    let err = ping(&client(&s, 1)).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(ping(&client(&s, 1)).await.unwrap(), "pong");
}

#[tokio::test]
async fn rate_limiter_answers_429_with_retry_after() {
    let s = server().await;
    s.set_rate_limit(Some(RateLimit {
        per_second: 0.5,
        burst: 2,
        retry_after: true,
    }));
    let t = client(&s, 1);
    assert!(ping(&t).await.is_ok());
    assert!(ping(&t).await.is_ok());
    let err = ping(&t).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert!(err.retry_after().is_some());
    assert_eq!(s.stats().throttled, 1);
    s.set_rate_limit(None);
    assert!(ping(&t).await.is_ok());
}

#[tokio::test]
async fn request_log_redacts_credentials_in_debug() {
    let s = server().await;
    let t = Transport::builder("sandbox", s.base_url())
        .auth(simcore::http::Auth::bearer(&"SENTINEL-SANDBOX".to_owned().into()).unwrap())
        .build()
        .unwrap();
    ping(&t).await.unwrap();
    let r = &s.requests()[0];
    assert_eq!(r.header("authorization"), Some("Bearer SENTINEL-SANDBOX"));
    assert!(!format!("{r:?}").contains("SENTINEL"));
    // Bodies are not shown either: an authenticate body carries credentials.
    let post = simsandbox::RecordedRequest {
        body: bytes::Bytes::from_static(br#"{"application_token":"SENTINEL-BODY"}"#),
        ..r.clone()
    };
    assert!(!format!("{post:?}").contains("SENTINEL"));
}

#[test]
fn an_ordered_store_pages_by_offset_and_by_key() {
    use simsandbox::OrderedStore;

    let store = OrderedStore::new();
    store.extend((0..1000u64).rev().map(|i| (i * 2, i)));
    assert_eq!(store.len(), 1000);
    store.insert(7, 7_000);
    assert_eq!(store.page(0, 5), [0, 1, 2, 3, 7_000]);
    assert_eq!(store.page(999, 5), [998, 999]);
    assert!(store.page(5000, 5).is_empty());
    assert_eq!(store.after(Some(&6), 3), [7_000, 4, 5]);
    assert_eq!(store.after(Some(&1998), 3), Vec::<u64>::new());
    assert_eq!(store.after(None, 2), [0, 1]);
    assert_eq!(store.rank(&7), 4);
    assert_eq!(store.remove(&7), Some(7_000));
    assert_eq!(store.remove(&7), None);
    assert_eq!(store.page(3, 2), [3, 4]);
    assert_eq!(store.update(&0, |v| std::mem::replace(v, 42)), Some(0));
    assert_eq!(store.insert(0, 43), Some(42));
    assert_eq!(store.len(), 1000);
    let (page, total) = store.filtered_page(2, 3, |v| v % 100 == 0);
    assert_eq!((page, total), (vec![300, 400, 500], 9), "0 became 43");
    let values = store.values();
    assert_eq!(values.len(), 1000);
    assert!(values.windows(2).skip(1).all(|w| w[0] < w[1]));
}

#[test]
fn a_token_bucket_spends_its_burst_then_paces() {
    use simsandbox::TokenBucket;

    let mut bucket = TokenBucket::new(RateLimit {
        per_second: 20.0,
        burst: 3,
        retry_after: false,
    });
    for _ in 0..3 {
        assert!(bucket.take().is_ok());
    }
    let wait = bucket.take().unwrap_err();
    assert!(wait <= Duration::from_millis(50), "{wait:?}");
    std::thread::sleep(wait + Duration::from_millis(5));
    assert!(bucket.take().is_ok());
    assert_eq!(bucket.limit().burst, 3);
}

#[tokio::test]
async fn the_router_sees_each_callers_address() {
    use axum::extract::ConnectInfo;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let router = Router::new().route(
        "/who",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
    );
    let s = SandboxServer::start(router).await.unwrap();
    let url = format!("{}/who", s.base_url());
    for ip in [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)] {
        let http = reqwest::Client::builder()
            .local_address(IpAddr::V4(ip))
            .build()
            .unwrap();
        let seen = http.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(seen, ip.to_string());
    }
}

#[tokio::test]
async fn the_server_state_shows_counters_faults_and_limit_without_credentials() {
    let s = server().await;
    let t = client(&s, 1);
    ping(&t).await.unwrap();
    s.fail_next(2, 503);
    s.set_rate_limit(Some(RateLimit {
        per_second: 5.0,
        burst: 3,
        retry_after: true,
    }));
    let state = s.state_json();
    assert_eq!(state["base_url"], s.base_url());
    assert_eq!(state["stats"]["received"], 1);
    assert_eq!(state["requests_logged"], 1);
    assert_eq!(state["faults"]["fail_next"], serde_json::json!([503, 503]));
    assert_eq!(state["faults"]["drop_next"], 0);
    assert_eq!(state["rate_limit"]["burst"], 3);
    s.clear_faults();
    assert_eq!(s.state_json()["faults"]["fail_next"], serde_json::json!([]));
}
