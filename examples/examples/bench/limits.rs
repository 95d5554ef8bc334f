//! P5 and P6: the limits of issue 15, at fleet scale.
//!
//! - P5: 5,000 Super SIM updates through the bulk updater at concurrency 64 against a sandbox
//!   admitting 16 requests in flight (each answered after a service time): goodput over the
//!   ceiling a raw client held at exactly 16 in flight reaches in the same run, target ≥ 0.90;
//!   429 answers ≤ 5% of requests; no item lost.
//! - P6: 8 OS processes (this binary run again as workers) update SIMs on one emnify sandbox
//!   limited to R requests a second per client IP (all of them on 127.0.0.1, one egress IP).
//!   With a rate budget shared on Redis (and the token in a Redis token store) the sum of their
//!   goodput (all their updates over the time from the common start to the last one's end) over
//!   R, target ≥ 0.95, and 429s ≤ 1% of requests; the same figures beside them with each
//!   process pacing on its own. Needs a `redis-server` binary (skipped, saying so,
//!   without one).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use simcore::{SimChange, SimProvider, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater};

use super::{line, quick, raw_client};

/// A hand-written Super SIM update: `POST /v1/Sims/{sid}` with a form body and Basic auth, its
/// answer read as the SDK reads it.
async fn raw_supersim_update(
    raw: &reqwest::Client,
    base: &str,
    auth: &str,
    sid: &str,
    name: &str,
) -> Option<u16> {
    let r = raw
        .post(format!("{base}/v1/Sims/{sid}"))
        .header("authorization", auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("UniqueName={name}"))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    let body = r.bytes().await.ok()?;
    if status == 200 {
        serde_json::from_slice::<serde_json::Value>(&body).ok()?;
    }
    Some(status)
}

/// P5: the bulk updater at concurrency 64 against a Super SIM sandbox admitting 16 requests in
/// flight, against the ceiling a raw client held at exactly 16 reaches in the same run.
pub(crate) async fn p5() {
    use base64::Engine as _;
    use supersim_client::sandbox::{Sandbox, SandboxOptions, SimSeed, SimStatus};
    const ADMITTED: usize = 16;
    const BULK_CONCURRENCY: usize = 64;
    let n = if quick() { 2000 } else { 5000 };
    // A provider's service time: without one, nothing stays in flight long enough for a
    // concurrency limit to matter on loopback.
    let service = Duration::from_millis(if quick() { 10 } else { 20 });
    let sandbox = Sandbox::start_with(SandboxOptions::new().in_flight_limit(ADMITTED))
        .await
        .expect("the Super SIM sandbox");
    let server = sandbox.server();
    server.set_recording(false);
    server.set_delay(Some(service));
    let sids: Vec<String> = (0..n)
        .map(|_| sandbox.seed_sim(SimSeed::new().status(SimStatus::Active)))
        .collect();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            sandbox.account_sid(),
            secrecy::ExposeSecret::expose_secret(&sandbox.auth_token())
        ))
    );

    // The ceiling: a raw client held at exactly the limit, in the same run.
    let raw = raw_client();
    let base = sandbox.base_url();
    server.reset_stats();
    let start = Instant::now();
    let ok = futures_util::stream::iter(sids.iter().enumerate())
        .map(|(i, sid)| {
            let name = format!("raw-{i}");
            let (raw, base, auth) = (&raw, &base, &auth);
            async move { raw_supersim_update(raw, base, auth, sid, &name).await }
        })
        .buffer_unordered(ADMITTED)
        .filter(|s| futures_util::future::ready(*s == Some(200)))
        .count()
        .await;
    let ceiling = ok as f64 / start.elapsed().as_secs_f64();
    let raw_stats = server.stats();
    println!(
        "# P5 ceiling: raw client at exactly {ADMITTED} in flight: {ok} of {n} done, {ceiling:.0}/s, {} answered 429, peak {} in flight ({}ms service time)",
        raw_stats.throttled,
        raw_stats.peak_in_flight,
        service.as_millis()
    );

    // The bulk run at a concurrency four times the limit.
    server.reset_stats();
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    // Unique names: the sandbox, as Twilio, refuses a name another SIM has.
    let items = sids.clone().into_iter().enumerate().map(|(i, sid)| {
        let name = simcore::DisplayName::parse(&format!("bulk-{i}")).expect("a name");
        BulkItem::new(sid, SimChange::new().display_name(name))
    });
    let start = Instant::now();
    let report = BulkUpdater::new(provider)
        .concurrency(BULK_CONCURRENCY)
        .retry(simcore::retry::RetryPolicy::default().with_max_attempts(50))
        .run(items)
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    let stats = server.stats();
    let goodput = (report.done + report.pending) as f64 / elapsed;
    let named = sandbox
        .sims()
        .iter()
        .filter(|s| {
            s.unique_name
                .as_deref()
                .is_some_and(|u| u.starts_with("bulk-"))
        })
        .count();
    println!(
        "# P5 bulk at concurrency {BULK_CONCURRENCY} against {ADMITTED} admitted: {report}; {goodput:.0}/s; window ended at {}; sandbox: {} requests, {} answered 429, peak {} in flight",
        report.concurrency, stats.received, stats.throttled, stats.peak_in_flight
    );
    line("P5_goodput_over_ceiling", goodput / ceiling, ">=0.90");
    line(
        "P5_429_share",
        stats.throttled as f64 / stats.received.max(1) as f64,
        "<=0.05",
    );
    let lost = (n - report.total) + report.failed + (n - named);
    line("P5_items_lost", lost as f64, "==0");
}

/// The environment variable that makes the bench a P6 worker.
const WORKER: &str = "BENCH_P6_WORKER";
/// P6: how many worker processes.
const PROCESSES: usize = 8;
/// P6: the sandbox's limit per client IP, requests a second, and its bucket.
const P6_RATE: f64 = 200.0;
const P6_BURST: u32 = 20;
/// P6: each worker's bulk concurrency.
const P6_CONCURRENCY: usize = 16;

/// A P6 worker's job, passed in [`WORKER`]: `redis-url-or-none base-url token start-unix-ms
/// id,id,…`.
struct Job {
    redis: Option<String>,
    base: String,
    token: String,
    start: SystemTime,
    ids: Vec<u64>,
}

impl Job {
    fn encode(&self) -> String {
        let ids: Vec<String> = self.ids.iter().map(u64::to_string).collect();
        format!(
            "{} {} {} {} {}",
            self.redis.as_deref().unwrap_or("none"),
            self.base,
            self.token,
            self.start
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
            ids.join(",")
        )
    }

    fn decode(s: &str) -> Option<Job> {
        let mut parts = s.split(' ');
        let redis = parts.next()?;
        let base = parts.next()?.to_owned();
        let token = parts.next()?.to_owned();
        let start = UNIX_EPOCH + Duration::from_millis(parts.next()?.parse().ok()?);
        let ids = parts
            .next()?
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        Some(Job {
            redis: (redis != "none").then(|| redis.to_owned()),
            base,
            token,
            start,
            ids,
        })
    }
}

/// When this process was started as a P6 worker: runs its job, prints its result line and
/// returns `true` (the bench then exits).
pub(crate) fn worker() -> bool {
    let Ok(job) = std::env::var(WORKER) else {
        return false;
    };
    let job = Job::decode(&job).expect("a P6 job");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let mut builder = emnify_client::Client::builder()
            .base_url(&job.base)
            .application_token(job.token.clone());
        let mut budget = None;
        let redis = job
            .redis
            .as_deref()
            .map(|url| simcore_redis::Redis::new(url, "bench-p6:").expect("a Redis URL"));
        if let Some(redis) = &redis {
            let store = simcore_redis::RedisTokenStore::new(redis)
                .encryption_key(simcore_redis::TokenKey::new([6; 32]));
            builder = builder.token_store(Arc::new(store), "bench");
            // The budget every worker shares: the provider's limit, a smaller burst than its
            // bucket holds.
            let shared: Arc<dyn simcore::budget::RateBudget> =
                Arc::new(simcore_redis::RedisRateBudget::new(
                    redis,
                    "egress-127.0.0.1",
                    P6_RATE,
                    P6_BURST / 2,
                ));
            budget = Some(shared);
        }
        let provider: Arc<dyn SimProvider> = Arc::new(builder.build().expect("a client"));
        let items: Vec<BulkItem> = job
            .ids
            .iter()
            .map(|id| BulkItem::new(id.to_string(), SimChange::new().state(SimState::Active)))
            .collect();
        let mut updater = BulkUpdater::new(provider)
            .concurrency(P6_CONCURRENCY)
            .retry(simcore::retry::RetryPolicy::default().with_max_attempts(50));
        if let Some(budget) = budget {
            updater = updater.budget(budget);
        }
        if let Ok(wait) = job.start.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
        let report = updater.run(items).await;
        let elapsed = job.start.elapsed().unwrap_or_default().as_secs_f64();
        let local = redis.map_or(0, |r| r.errors());
        println!(
            "P6WORKER {} {} {} {elapsed:.4} {local}",
            report.total, report.done, report.failed
        );
    });
    true
}

/// What one P6 mode measured.
struct Fleet {
    goodput: f64,
    share_429: f64,
    lost: usize,
    summary: String,
}

/// Runs the 8 workers over `n` fresh SIMs, sharing Redis when `redis` is given.
async fn fleet(
    sandbox: &emnify_client::sandbox::Sandbox,
    redis: Option<String>,
    n: usize,
) -> Fleet {
    let ids: Vec<u64> = (0..n)
        .map(|_| sandbox.seed_sim(emnify_client::sandbox::SimSeed::new().status(0)))
        .collect();
    let server = sandbox.server();
    // Fresh buckets and counters for the run.
    server.set_rate_limit(Some(simsandbox::RateLimit {
        per_second: P6_RATE,
        burst: P6_BURST,
        retry_after: false,
    }));
    server.reset_stats();
    let calls_before = sandbox.authenticate_calls();
    let start = SystemTime::now() + Duration::from_millis(1500);
    let exe = std::env::current_exe().expect("the bench binary");
    let children: Vec<_> = ids
        .chunks(n.div_ceil(PROCESSES))
        .map(|chunk| {
            let job = Job {
                redis: redis.clone(),
                base: sandbox.base_url(),
                token: sandbox.application_token(),
                start,
                ids: chunk.to_vec(),
            };
            std::process::Command::new(&exe)
                .env(WORKER, job.encode())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("a worker process")
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().expect("a worker's output"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("the workers");
    let (mut total, mut done, mut failed, mut slowest, mut redis_errors) =
        (0usize, 0usize, 0usize, 0.0f64, 0u64);
    for out in &outputs {
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(fields) = text.lines().find_map(|l| l.strip_prefix("P6WORKER ")) else {
            continue;
        };
        let f: Vec<&str> = fields.split(' ').collect();
        let (t, d, x): (usize, usize, usize) = (
            f[0].parse().unwrap_or(0),
            f[1].parse().unwrap_or(0),
            f[2].parse().unwrap_or(0),
        );
        let elapsed: f64 = f[3].parse().unwrap_or(f64::INFINITY);
        total += t;
        done += d;
        failed += x;
        slowest = slowest.max(elapsed);
        redis_errors += f[4].parse::<u64>().unwrap_or(0);
    }
    let stats = server.stats();
    let activated = ids
        .iter()
        .filter(|id| sandbox.sim(**id).is_some_and(|s| s.status == 1))
        .count();
    Fleet {
        // The fleet's goodput: every process's updates over the time from the common start to
        // the last one's end (a sum of per-process rates would count a process that finished
        // early at its own, higher, rate).
        goodput: done as f64 / slowest,
        share_429: stats.throttled as f64 / stats.received.max(1) as f64,
        lost: (n - total) + failed + (n - activated),
        summary: format!(
            "{done} of {n} done by {} processes, the last after {slowest:.1}s; sandbox: {} requests, {} answered 429; {} authenticate calls; {redis_errors} Redis errors",
            outputs.len(),
            stats.received,
            stats.throttled,
            sandbox.authenticate_calls() - calls_before,
        ),
    }
}

/// P6: 8 processes on one emnify sandbox limited per client IP, with and without the budget on
/// Redis.
pub(crate) async fn p6() {
    let redis = match testkit::RedisServer::start() {
        Ok(r) => r,
        Err(e) => {
            println!("# P6 skipped: no redis-server could be started ({e})");
            return;
        }
    };
    let n = if quick() { 800 } else { 3000 };
    let options = emnify_client::sandbox::SandboxOptions {
        record: false,
        ..emnify_client::sandbox::SandboxOptions::default()
    };
    let sandbox = emnify_client::sandbox::Sandbox::start_with(options)
        .await
        .expect("the emnify sandbox");
    sandbox
        .server()
        .set_rate_limit_scope(simsandbox::RateLimitScope::ClientIp);

    let local = fleet(&sandbox, None, n).await;
    println!(
        "# P6 without a shared budget (each process paces itself): {}",
        local.summary
    );
    let shared = fleet(&sandbox, Some(redis.url()), n).await;
    println!("# P6 with the budget on Redis: {}", shared.summary);
    line(
        "P6_shared_goodput_over_R",
        shared.goodput / P6_RATE,
        ">=0.95",
    );
    line("P6_shared_429_share", shared.share_429, "<=0.01");
    line("P6_shared_items_lost", shared.lost as f64, "==0");
    line(
        "P6_local_goodput_over_R",
        local.goodput / P6_RATE,
        "(baseline)",
    );
    line("P6_local_429_share", local.share_429, "(baseline)");
    line("P6_local_items_lost", local.lost as f64, "(baseline)");
}
