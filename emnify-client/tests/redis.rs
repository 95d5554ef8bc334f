//! A fleet of emnify clients in separate OS processes sharing one Redis (features `redis` and
//! `sandbox`): this test binary starts a redis-server of its own on an ephemeral loopback port
//! and the emnify sandbox, then runs itself 20 times as a worker process (the
//! `worker_process` test, which does nothing unless the parent names it a job). Each worker
//! builds its client with a `RedisTokenStore` and a `RedisRateBudget` of its own, waits for a
//! common start instant, and reads a SIM. Without a `redis-server` binary the tests say so and
//! pass, unless `CI=true`.

/// A Redis time limit far above a loaded machine's pauses: these tests are about the protocol, and a
/// Redis slower than its limit is (rightly) done without.
const PATIENT: std::time::Duration = std::time::Duration::from_secs(5);

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use emnify_client::Client;
use emnify_client::sandbox::{Sandbox, SimSeed};
use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
use testkit::RedisServer;

/// The environment variable that makes this binary a worker: `redis-url base-url token sim-id
/// prefix start-unix-ms lock-ttl-ms`.
const JOB: &str = "EMNIFY_REDIS_FLEET_JOB";
const PROCESSES: usize = 20;

/// Starts one worker process on `job`.
fn spawn_worker(job: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "worker_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(JOB, job)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A job for the workers, starting `in_ms` from now.
fn job(
    redis: &RedisServer,
    sandbox: &Sandbox,
    token: &str,
    sim: u64,
    prefix: &str,
    in_ms: u64,
    lock_ttl: Duration,
) -> String {
    let start =
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_millis(in_ms);
    format!(
        "{} {} {token} {sim} {prefix} {} {}",
        redis.url(),
        sandbox.base_url(),
        start.as_millis(),
        lock_ttl.as_millis()
    )
}

/// Runs `n` workers on `job` at once and returns what each printed (`ok` or `err <status>`).
fn run_workers(job: &str, n: usize) -> Vec<String> {
    let children: Vec<_> = (0..n).map(|_| spawn_worker(job)).collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.lines()
                .find_map(|l| l.split_once("WORKER: ").map(|(_, r)| r))
                .unwrap_or("no result")
                .to_owned()
        })
        .collect()
}

/// Runs [`PROCESSES`] workers starting at one instant, with the store's default lock TTL.
fn fleet(
    redis: &RedisServer,
    sandbox: &Sandbox,
    token: &str,
    sim: u64,
    prefix: &str,
) -> Vec<String> {
    let job = job(
        redis,
        sandbox,
        token,
        sim,
        prefix,
        1500,
        simcore_redis::DEFAULT_LOCK_TTL,
    );
    run_workers(&job, PROCESSES)
}

/// A worker: one process of the fleet. Does nothing when run as a test of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process() {
    let Ok(job) = std::env::var(JOB) else {
        return;
    };
    let parts: Vec<&str> = job.split(' ').collect();
    let [redis_url, base, token, sim, prefix, start, lock_ttl] = parts[..] else {
        panic!("a bad job");
    };
    let redis = Redis::with_timeout(redis_url, prefix, PATIENT).unwrap();
    let store = RedisTokenStore::new(&redis)
        .encryption_key(TokenKey::new([9; 32]))
        .lock_ttl(Duration::from_millis(lock_ttl.parse().unwrap()))
        .poll_interval(Duration::from_millis(10));
    let client = Client::builder()
        .base_url(base)
        .application_token(token.to_owned())
        .token_store(Arc::new(store), "app")
        .rate_budget(Arc::new(RedisRateBudget::new(&redis, "egress", 100.0, 40)))
        .build()
        .unwrap();
    let start = UNIX_EPOCH + Duration::from_millis(start.parse().unwrap());
    if let Ok(wait) = start.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    match client.get_sim(sim.parse().unwrap()).await {
        Ok(_) => println!("WORKER: ok"),
        Err(e) => println!("WORKER: err {}", e.status().unwrap_or(0)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_processes_starting_at_once_authenticate_once() {
    let Some(redis) = RedisServer::start_or_skip("the emnify Redis suite") else {
        return;
    };
    let sandbox = Sandbox::start().await.unwrap();
    let sim = sandbox.seed_sim(SimSeed::new());
    let results = fleet(
        &redis,
        &sandbox,
        &sandbox.application_token(),
        sim,
        "fleet-a:",
    );
    assert_eq!(results, vec!["ok"; PROCESSES]);
    assert_eq!(
        sandbox.authenticate_calls(),
        1,
        "one authenticate call for the fleet"
    );
    // Every process drew on the budget in Redis, none on a local one.
    let budget_key = redis_keys(&redis, "fleet-a:budget:*").await;
    assert_eq!(budget_key, ["fleet-a:budget:{egress}"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_wrong_token_twenty_processes_send_one_failed_authenticate() {
    let Some(redis) = RedisServer::start_or_skip("the emnify Redis suite") else {
        return;
    };
    let sandbox = Sandbox::start().await.unwrap();
    let sim = sandbox.seed_sim(SimSeed::new());
    let results = fleet(
        &redis,
        &sandbox,
        "a-wrong-application-token",
        sim,
        "fleet-b:",
    );
    assert_eq!(results, vec!["err 401"; PROCESSES]);
    // And a second wave within the cooldown: still that one.
    let results = fleet(
        &redis,
        &sandbox,
        "a-wrong-application-token",
        sim,
        "fleet-b:",
    );
    assert_eq!(results, vec!["err 401"; PROCESSES]);
    assert_eq!(
        sandbox.authenticate_calls(),
        1,
        "one refused authenticate in all"
    );
    assert!(!sandbox.is_locked_out(), "emnify's lock-out never tripped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_authenticate_blocks_the_others_only_until_its_lock_expires() {
    let Some(redis) = RedisServer::start_or_skip("the emnify Redis suite") else {
        return;
    };
    let sandbox = Sandbox::start().await.unwrap();
    let sim = sandbox.seed_sim(SimSeed::new());
    let ttl = Duration::from_secs(2);
    let token = sandbox.application_token();
    // The first process takes the lock and hangs in its authenticate call (the sandbox holds
    // every request for a minute); it is killed (SIGKILL) while it holds the lock.
    sandbox.server().set_delay(Some(Duration::from_secs(60)));
    let mut holder = spawn_worker(&job(&redis, &sandbox, &token, sim, "fleet-c:", 0, ttl));
    let lock = "fleet-c:token:{emnify:app}:lock";
    let mut waited = Duration::ZERO;
    while redis_keys(&redis, lock).await.is_empty() {
        assert!(
            waited < Duration::from_secs(30),
            "the holder never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    sandbox.server().set_delay(None);
    assert_eq!(
        redis_keys(&redis, lock).await,
        [lock],
        "its lock outlives it"
    );

    // Ten more start at once: they wait out the dead holder's lock, then one authenticates.
    let started = std::time::Instant::now();
    let results = run_workers(&job(&redis, &sandbox, &token, sim, "fleet-c:", 0, ttl), 10);
    let took = started.elapsed();
    assert_eq!(results, vec!["ok"; 10]);
    // The killed holder's request never reached the handler (held, then dropped with its
    // connection): this one is the fleet's.
    assert_eq!(sandbox.authenticate_calls(), 1);
    // Blocked no longer than the lock's TTL and a process start: a liveness bound (a waiter
    // ignoring the TTL would wait for the store's 10 s default or hang), not a performance
    // figure.
    assert!(took < ttl + Duration::from_secs(8), "{took:?}");
}

/// The keys matching `pattern`.
async fn redis_keys(server: &RedisServer, pattern: &str) -> Vec<String> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap()
}
