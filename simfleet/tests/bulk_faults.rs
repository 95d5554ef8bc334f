//! The bulk updater against a local sandbox server with faults injected: every item gets exactly
//! one outcome, nothing panics, and the run ends within its timeouts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::{Router, routing::patch};
use simcore::http::{Method, Transport};
use simcore::retry::RetryPolicy;
use simcore::{Applied, Lifecycle, SimChange, SimProvider, SimSnapshot, SimState, async_trait};
use simfleet::bulk::{BulkItem, BulkUpdater};
use simsandbox::{RateLimit, SandboxServer};

/// A minimal provider over the transport: `PATCH /sims/{id}` with `{"status": ..}`.
#[derive(Debug)]
struct Minimal {
    transport: Transport,
}

#[async_trait]
impl SimProvider for Minimal {
    fn name(&self) -> &'static str {
        "minimal"
    }
    fn lifecycle(&self) -> Lifecycle<SimState> {
        Lifecycle::open("minimal")
    }
    async fn fetch_with(&self, id: &str, _: &simcore::CallOptions) -> simcore::Result<SimSnapshot> {
        Ok(SimSnapshot::new("minimal", id, SimState::Inactive))
    }
    async fn apply_with(
        &self,
        id: &str,
        change: &simcore::SimChange,
        options: &simcore::CallOptions,
    ) -> simcore::Result<Applied> {
        let state = change.state.clone().unwrap_or(SimState::Active);
        // The run's per-call options reach the transport: one attempt, the run retrying.
        let req = self
            .transport
            .request(Method::PATCH, &["sims", id])?
            .options(*options)
            .json(&serde_json::json!({ "status": state.as_str() }))?;
        self.transport.send(&req).await?;
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

async fn sandbox() -> SandboxServer {
    let router = Router::new().route("/sims/{id}", patch(|| async { "{}" }));
    SandboxServer::start(router).await.unwrap()
}

fn provider(server: &SandboxServer) -> Arc<dyn SimProvider> {
    let transport = Transport::builder("minimal", server.base_url())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    Arc::new(Minimal { transport })
}

fn items(n: usize) -> Vec<BulkItem> {
    (0..n)
        .map(|i| BulkItem::new(format!("sim-{i}"), SimChange::new().state(SimState::Active)))
        .collect()
}

fn policy() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_items_under_faults_get_a_thousand_outcomes() {
    let server = sandbox().await;
    server.drop_next(40);
    server.fail_next(40, 500);
    server.fail_next(40, 503);
    server.delay_next(10, Duration::from_secs(1)); // past the 200 ms timeout
    let updater = BulkUpdater::new(provider(&server))
        .concurrency(32)
        .retry(policy());
    let mut indices = HashSet::new();
    let run = updater.run_with(futures_util::stream::iter(items(1000)), |o| {
        assert!(indices.insert(o.index), "index {} twice", o.index);
    });
    // A guard against a hang, far above what the run needs.
    let report = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run ended");
    assert_eq!(report.total, 1000);
    assert_eq!(indices.len(), 1000);
    assert_eq!(
        report.done + report.failed + report.refused + report.pending,
        1000
    );
    // 500 is final: exactly the 40 injected 500s fail (dropped, 503 and slow ones are retried
    // and succeed within three attempts, unless one item drew two faults in a row).
    assert!(report.failed >= 40, "{report}");
    let failed_500 = report
        .failures
        .iter()
        .filter(|(_, _, e)| e.status() == Some(500))
        .count();
    assert_eq!(failed_500, 40, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_slows_the_run_and_loses_nothing() {
    let server = sandbox().await;
    server.set_rate_limit(Some(RateLimit {
        per_second: 400.0,
        burst: 20,
        retry_after: false,
    }));
    let updater = BulkUpdater::new(provider(&server))
        .concurrency(64)
        .retry(RetryPolicy::default().with_max_attempts(20));
    let report = tokio::time::timeout(Duration::from_secs(60), updater.run(items(1000)))
        .await
        .expect("the run ended");
    assert_eq!(report.total, 1000);
    assert_eq!(report.done, 1000, "{report}");
    assert!(report.throttled > 0, "the storm was seen");
    // Every 429 the run counted was one the server sent. The server may have sent a few more
    // that arrived after the client's 200 ms timeout (on a loaded machine): those attempts
    // ended in neither a success nor a 429, and there are at least as many of them as 429s
    // missed.
    let sent = server.stats().throttled as usize;
    assert!(report.throttled <= sent, "{report}: the server sent {sent}");
    let neither = report.attempts as usize - report.done - report.throttled;
    assert!(
        sent - report.throttled <= neither,
        "{report}: the server sent {sent} 429s, {neither} attempts ended otherwise"
    );
}

#[tokio::test]
async fn dry_run_sends_no_update() {
    let server = sandbox().await;
    let report = BulkUpdater::new(provider(&server))
        .dry_run(true)
        .run(items(50))
        .await;
    assert_eq!(report.would_apply, 50);
    // Nothing reached the server: no update, and no fetch either (none was asked for).
    assert!(server.requests().is_empty());
    assert!(report.failures.is_empty());
}
