//! Telemetry (feature `tracing`): the spans and events carry OpenTelemetry's HTTP-client fields,
//! and never a secret, a token, a header, a body or a SIM's id, whatever the server echoes.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use secrecy::SecretString;
use simcore::http::{
    Auth, AuthHeader, Method, Redactor, Token, TokenCache, TokenSource, Transport,
    header::AUTHORIZATION,
};
use simcore::retry::RetryPolicy;
use simcore::{Applied, Lifecycle, SimChange, SimProvider, SimSnapshot, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater};
use simsandbox::{RateLimit, SandboxOptions, SandboxServer};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const SECRET: &str = "SENTINEL-secret-0c7e";
const TOKEN: &str = "SENTINEL-token-a19f";
const ICCID: &str = "89882806660004909182";

/// Every span (name and fields) and event (fields), as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(out, "\nspan {}", attrs.metadata().name());
        attrs.record(&mut Fields(&mut out));
    }
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: Context<'_, S>,
    ) {
        let mut out = self.0.lock().unwrap();
        out.push_str("\nrecord");
        values.record(&mut Fields(&mut out));
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut out = self.0.lock().unwrap();
        let _ = write!(out, "\nevent {}", event.metadata().target());
        event.record(&mut Fields(&mut out));
    }
}

/// A server that quotes every header and the body back in its error answers: 429 twice (with
/// `Retry-After: 0`), a 401 for the first token, then 200.
async fn echo_server() -> SandboxServer {
    let calls = Arc::new(AtomicU32::new(0));
    let router = Router::new().fallback(move |req: Request<Body>| {
        let calls = calls.clone();
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let headers = format!("{:?}", req.headers());
            let path = req.uri().to_string();
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            let echo = serde_json::json!({
                "message": format!("you sent {path} {headers} {}", String::from_utf8_lossy(&body)),
            });
            let status = match n {
                0 | 1 => 429,
                _ => 200,
            };
            Response::builder()
                .status(status)
                .header("retry-after", "0")
                .header("content-type", "application/json")
                .body(Body::from(echo.to_string()))
                .unwrap()
        }
    });
    SandboxServer::start(router).await.unwrap()
}

#[derive(Debug)]
struct Login(AtomicU32);

#[simcore::async_trait]
impl TokenSource for Login {
    async fn fetch(&self) -> simcore::Result<Token> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let h = AuthHeader::new(AUTHORIZATION, &format!("Bearer {TOKEN}-{n}"))?;
        Ok(Token::valid_for(h, Duration::from_secs(3600)))
    }
    fn redact(&self, into: &mut Redactor) {
        into.add(&SecretString::from(SECRET));
    }
}

/// A provider whose `apply` sends through a transport, so a bulk run makes HTTP spans.
#[derive(Debug)]
struct Over(Transport);

#[simcore::async_trait]
impl SimProvider for Over {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn lifecycle(&self) -> Lifecycle<SimState> {
        Lifecycle::open("echo")
    }
    async fn fetch_with(&self, id: &str, _: &simcore::CallOptions) -> simcore::Result<SimSnapshot> {
        Ok(SimSnapshot::new("echo", id, SimState::Inactive))
    }
    async fn apply_with(
        &self,
        id: &str,
        _: &simcore::SimChange,
        options: &simcore::CallOptions,
    ) -> simcore::Result<Applied> {
        let req = self
            .0
            .request(Method::PATCH, &["sims", id])?
            .options(*options)
            .operation("update_sim", "/sims/{id}", Some(id))
            .json(&serde_json::json!({"iccid": id, "secret": SECRET}))?;
        self.0.send(&req).await?;
        Ok(Applied::Done(None))
    }
    fn list(&self, _: &simcore::ListOptions) -> simcore::SnapshotPages<'_> {
        simcore::SnapshotPages::new(futures_util::stream::once(async {
            Err(simcore::Error::Config(
                "this test provider does not list".into(),
            ))
        }))
    }
}

#[tokio::test]
async fn spans_and_events_carry_otel_fields_and_no_secret_or_iccid() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    // A static credential, retries on 429, an id that is an ICCID.
    let server = echo_server().await;
    let t = Transport::builder("echo", server.base_url())
        .auth(Auth::basic("user", &SecretString::from(SECRET)).unwrap())
        .retry(
            RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(2)),
        )
        .build()
        .unwrap();
    let req = t.request(Method::GET, &["sims", ICCID]).unwrap().operation(
        "get_sim",
        "/sims/{id}",
        Some(ICCID),
    );
    assert_eq!(t.send(&req).await.unwrap().status(), 200);

    // A session token: fetched once, then refused by a 401, fetched again.
    let refusing = SandboxServer::start(Router::new().fallback(|req: Request<Body>| async move {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = if auth.ends_with("-0") { 401 } else { 200 };
        Response::builder()
            .status(status)
            .body(Body::from(format!("{{\"message\": \"token {auth}\"}}")))
            .unwrap()
    }))
    .await
    .unwrap();
    let cache = Arc::new(TokenCache::new(Arc::new(Login(AtomicU32::new(0)))));
    let t2 = Transport::builder("echo", refusing.base_url())
        .auth(Auth::dynamic(cache))
        .build()
        .unwrap();
    let req = t2
        .request(Method::GET, &["sims", ICCID])
        .unwrap()
        .operation("get_sim", "/sims/{id}", Some(ICCID));
    t2.send(&req).await.unwrap();

    // A bulk run throttled by a rate limit, and a call ending at its deadline.
    let limited = SandboxServer::start_with(
        Router::new().fallback(|| async { "{}" }),
        SandboxOptions {
            rate_limit: Some(RateLimit {
                per_second: 50.0,
                burst: 5,
                retry_after: false,
            }),
            ..SandboxOptions::default()
        },
    )
    .await
    .unwrap();
    let t3 = Transport::builder("echo", limited.base_url())
        .auth(Auth::bearer(&SecretString::from(TOKEN)).unwrap())
        .build()
        .unwrap();
    let provider = Arc::new(Over(t3));
    let items = (0..40).map(|i| {
        BulkItem::new(
            format!("{}{i:02}", &ICCID[..18]),
            SimChange::new().state(SimState::Active),
        )
    });
    let report = BulkUpdater::new(provider)
        .concurrency(8)
        .retry(RetryPolicy::default().with_max_attempts(20))
        .run(items)
        .await;
    assert_eq!(report.done, 40, "{report}");
    let slow = SandboxServer::start(Router::new().fallback(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    }))
    .await
    .unwrap();
    let t4 = Transport::builder("echo", slow.base_url())
        .deadline(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = t4
        .send(&t4.request(Method::GET, &["sims", ICCID]).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, simcore::Error::Deadline { .. }), "{err:?}");

    let text = capture.0.lock().unwrap().clone();
    for expected in [
        "span sim.operation",
        "sim.provider=echo",
        "sim.operation.name=get_sim",
        "sim.id=",
        "span http.client.attempt",
        "http.request.method=GET",
        "http.request.method=PATCH",
        "server.address=127.0.0.1",
        "server.port=",
        "url.template=/sims/{id}",
        "http.request.resend_count=1",
        "http.response.status_code=429",
        "http.response.status_code=200",
        "http.response.status_code=401",
        "error.type=api",
        "error.type=deadline",
        "retry.reason=429",
        "retry.wait_ms=",
        "auth.reason=",
        "bulk.rate=",
        "bulk.reason=429",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    for secret in [
        SECRET,
        TOKEN,
        "SENTINEL",
        ICCID,
        &ICCID[..18],
        "Basic ",
        "Bearer ",
    ] {
        assert!(!text.contains(secret), "{secret:?} leaked in:\n{text}");
    }
}
