//! What a sandbox server holds stays bounded whatever it is asked, and a stopped server closes
//! every connection within its grace period, whatever the client on it is doing.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use proptest::prelude::*;
use simsandbox::{
    FaultQueueFull, MAX_FAULT_BODY_BYTES, MAX_QUEUED_FAULT_BODY_BYTES, MAX_QUEUED_FAULTS,
    SHUTDOWN_GRACE, SandboxServer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn server() -> SandboxServer {
    let router = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/echo", post(|body: Bytes| async move { body }));
    SandboxServer::start(router).await.unwrap()
}

/// The counts the server's admin view shows waiting.
fn waiting(s: &SandboxServer) -> (u64, usize, u64, u64) {
    let f = &s.state_json()["faults"];
    (
        f["drop_next"].as_u64().unwrap(),
        f["fail_next"].as_array().unwrap().len(),
        f["fail_body_bytes"].as_u64().unwrap(),
        f["delay_next"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn every_fault_queue_saturates_at_its_bound_and_the_strict_forms_refuse() {
    let s = server().await;
    // Used to be `drop_next += n`: an overflow panic in a debug build.
    assert_eq!(s.drop_next(usize::MAX), MAX_QUEUED_FAULTS);
    assert_eq!(s.drop_next(usize::MAX), 0);
    assert_eq!(s.drop_next(1), 0);
    // Used to push one entry per request: billions of them.
    assert_eq!(s.fail_next(usize::MAX, 503), MAX_QUEUED_FAULTS);
    assert_eq!(s.fail_next(1, 500), 0);
    assert_eq!(
        s.delay_next(usize::MAX, Duration::from_millis(1)),
        MAX_QUEUED_FAULTS
    );
    let max = MAX_QUEUED_FAULTS as u64;
    // One body, `{"message":"injected fault: HTTP 503"}`, for all 10,000.
    assert_eq!(waiting(&s), (max, MAX_QUEUED_FAULTS, 38, max));
    assert_eq!(
        s.try_drop_next(1),
        Err(FaultQueueFull::Count {
            queue: "drop",
            waiting: MAX_QUEUED_FAULTS,
            limit: MAX_QUEUED_FAULTS
        })
    );
    assert_eq!(
        s.try_delay_next(1, Duration::ZERO).unwrap_err().to_string(),
        "the delay queue covers at most 10000 requests: 10000 wait, so at most 0 more"
    );

    s.clear_faults();
    assert_eq!(waiting(&s), (0, 0, 0, 0));
    assert_eq!(s.try_drop_next(0), Err(FaultQueueFull::Zero));
    assert!(s.try_drop_next(MAX_QUEUED_FAULTS - 1).is_ok());
    // All or nothing: two do not fit, so neither is queued.
    assert!(matches!(
        s.try_drop_next(2),
        Err(FaultQueueFull::Count { waiting: 9_999, .. })
    ));
    assert_eq!(waiting(&s).0, max - 1);
    // The lenient form takes what fits.
    assert_eq!(s.drop_next(5), 1);

    // A body past the bound is cut (lenient) or refused (strict).
    let long = Bytes::from(vec![b'x'; MAX_FAULT_BODY_BYTES + 10]);
    assert_eq!(
        s.try_fail_next_with(1, 502, long.clone(), "text/plain"),
        Err(FaultQueueFull::BodyTooLong {
            len: MAX_FAULT_BODY_BYTES + 10,
            limit: MAX_FAULT_BODY_BYTES
        })
    );
    assert_eq!(s.fail_next_with(1, 502, long, "text/plain"), 1);
    assert_eq!(waiting(&s).2, MAX_FAULT_BODY_BYTES as u64);
    // Distinct bodies add up to at most MAX_QUEUED_FAULT_BODY_BYTES; the same answer again
    // shares its body.
    let mut i = 0u8;
    while s
        .try_fail_next_with(
            1,
            503,
            Bytes::from(vec![i; MAX_FAULT_BODY_BYTES]),
            "text/plain",
        )
        .is_ok()
    {
        i += 1;
    }
    let held = waiting(&s).2;
    assert!(held <= MAX_QUEUED_FAULT_BODY_BYTES as u64, "{held}");
    assert_eq!(
        held,
        (MAX_QUEUED_FAULT_BODY_BYTES / MAX_FAULT_BODY_BYTES * MAX_FAULT_BODY_BYTES) as u64
    );
    assert_eq!(
        s.fail_next_with(
            3,
            503,
            Bytes::from(vec![i - 1; MAX_FAULT_BODY_BYTES]),
            "text/plain"
        ),
        3
    );
    assert_eq!(waiting(&s).2, held);
}

#[tokio::test]
async fn queued_faults_are_served_in_the_order_they_were_injected() {
    let s = server().await;
    s.fail_next(2, 503);
    s.fail_next_with(
        1,
        500,
        Bytes::from_static(b"<html>oops</html>"),
        "text/html",
    );
    s.fail_next(1, 503);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let r = http
            .get(format!("{}/ping", s.base_url()))
            .send()
            .await
            .unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        seen.push((r.status().as_u16(), ct, r.text().await.unwrap()));
    }
    let injected = r#"{"message":"injected fault: HTTP 503"}"#;
    assert_eq!(
        seen,
        [
            (503, "application/json".into(), injected.into()),
            (503, "application/json".into(), injected.into()),
            (500, "text/html".into(), "<html>oops</html>".into()),
            (503, "application/json".into(), injected.into()),
            (200, "text/plain; charset=utf-8".into(), "pong".into()),
        ]
    );
    assert_eq!(waiting(&s), (0, 0, 0, 0));
    assert_eq!(s.stats().failed, 4);
}

/// One way of asking a server for faults.
#[derive(Debug, Clone)]
enum Ask {
    Drop(usize),
    TryDrop(usize),
    Fail(usize, u16, usize),
    TryFail(usize, u16, usize),
    Delay(usize, u64),
    TryDelay(usize, u64),
    SetDelay(Option<u64>),
    Clear,
}

fn count() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..4,
        Just(MAX_QUEUED_FAULTS - 1),
        Just(MAX_QUEUED_FAULTS),
        Just(MAX_QUEUED_FAULTS + 1),
        Just(usize::MAX),
        Just(usize::MAX / 2 + 1),
        any::<usize>(),
    ]
}

fn body_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..64,
        Just(MAX_FAULT_BODY_BYTES),
        Just(MAX_FAULT_BODY_BYTES + 1),
        (MAX_FAULT_BODY_BYTES / 2)..(MAX_FAULT_BODY_BYTES * 3),
    ]
}

fn ask() -> impl Strategy<Value = Ask> {
    prop_oneof![
        count().prop_map(Ask::Drop),
        count().prop_map(Ask::TryDrop),
        (count(), any::<u16>(), body_len()).prop_map(|(n, s, b)| Ask::Fail(n, s, b)),
        (count(), any::<u16>(), body_len()).prop_map(|(n, s, b)| Ask::TryFail(n, s, b)),
        (count(), any::<u64>()).prop_map(|(n, ms)| Ask::Delay(n, ms)),
        (count(), any::<u64>()).prop_map(|(n, ms)| Ask::TryDelay(n, ms)),
        proptest::option::of(any::<u64>()).prop_map(Ask::SetDelay),
        Just(Ask::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever a user of the kit asks for, in any order, nothing panics (no overflow), every
    /// queue covers at most MAX_QUEUED_FAULTS requests and the bodies waiting hold at most
    /// MAX_QUEUED_FAULT_BODY_BYTES; a strict form either queues all it was asked or nothing.
    #[test]
    fn generated_fault_requests_never_overflow_and_stay_under_the_bounds(
        asks in proptest::collection::vec(ask(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let s = rt.block_on(server());
        let max = MAX_QUEUED_FAULTS as u64;
        for a in asks {
            let before = waiting(&s);
            match a {
                Ask::Drop(n) => {
                    let took = s.drop_next(n);
                    prop_assert!(took <= n);
                    prop_assert_eq!(waiting(&s).0, before.0 + took as u64);
                }
                Ask::TryDrop(n) => {
                    let after = if s.try_drop_next(n).is_ok() { before.0 + n as u64 } else { before.0 };
                    prop_assert_eq!(waiting(&s).0, after);
                }
                Ask::Fail(n, status, len) => {
                    let took = s.fail_next_with(n, status, Bytes::from(vec![b'e'; len]), "text/plain");
                    prop_assert!(took <= n);
                    prop_assert_eq!(waiting(&s).1, before.1 + took);
                }
                Ask::TryFail(n, status, len) => {
                    let ok = s.try_fail_next_with(n, status, Bytes::from(vec![b'e'; len]), "text/plain").is_ok();
                    prop_assert_eq!(waiting(&s).1, before.1 + if ok { n } else { 0 });
                }
                Ask::Delay(n, ms) => {
                    let took = s.delay_next(n, Duration::from_millis(ms));
                    prop_assert_eq!(waiting(&s).3, before.3 + took as u64);
                }
                Ask::TryDelay(n, ms) => {
                    let ok = s.try_delay_next(n, Duration::from_millis(ms)).is_ok();
                    prop_assert_eq!(waiting(&s).3, before.3 + if ok { n as u64 } else { 0 });
                }
                Ask::SetDelay(ms) => s.set_delay(ms.map(Duration::from_millis)),
                Ask::Clear => {
                    s.clear_faults();
                    prop_assert_eq!(waiting(&s), (0, 0, 0, 0));
                }
            }
            let (drop, fail, bytes, delay) = waiting(&s);
            prop_assert!(drop <= max && delay <= max, "{drop} {delay}");
            prop_assert!(fail <= MAX_QUEUED_FAULTS, "{fail}");
            prop_assert!(bytes <= MAX_QUEUED_FAULT_BODY_BYTES as u64, "{bytes}");
        }
    }
}

/// Reads until the server closes the connection (or resets it); `None` if it is still open
/// after `wait`.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| got)
}

#[tokio::test]
async fn a_stopped_server_closes_every_connection_within_its_grace_whatever_the_client_does() {
    let s = server().await;
    let addr = s.addr();
    // Headers and 3 bytes of a 100-byte body, then nothing.
    let mut half_body = tokio::net::TcpStream::connect(addr).await.unwrap();
    half_body
        .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc")
        .await
        .unwrap();
    // Half a request line.
    let mut half_head = tokio::net::TcpStream::connect(addr).await.unwrap();
    half_head.write_all(b"GET /pi").await.unwrap();
    // Connected, silent.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    // One request answered, the connection kept alive.
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    kept.write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A request held by an injected delay far longer than the grace.
    s.set_delay(Some(Duration::from_secs(600)));
    let mut delayed = tokio::net::TcpStream::connect(addr).await.unwrap();
    delayed
        .write_all(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.stats().received, 2, "the server has the delayed request");

    let started = Instant::now();
    s.shutdown().await;
    let took = started.elapsed();
    assert!(
        took <= SHUTDOWN_GRACE + Duration::from_secs(1),
        "shutdown took {took:?}"
    );
    for (name, stream) in [
        ("half a body", &mut half_body),
        ("half a head", &mut half_head),
        ("silent", &mut silent),
        ("kept alive", &mut kept),
        ("delayed", &mut delayed),
    ] {
        let got = closed_within(stream, Duration::from_secs(1)).await;
        assert!(got.is_some(), "{name}: still open after shutdown");
    }
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(s);
}
