//! The shared state on a real Redis (simcore-redis): a `redis-server` of the suite's own on an
//! ephemeral loopback port ([`RedisServer`]), stopped at the end. Without a `redis-server` binary
//! every test says so and passes, unless `CI=true`.
//!
//! Every "process" here is a task with a Redis handle, a store and a token cache of its own:
//! they share nothing but the Redis server, as processes do (no state of the protocol lives in
//! the process: a connection, a script and its answer). The emnify client's Redis suite runs it
//! across real OS processes.

/// A Redis time limit far above a loaded machine's pauses: these tests are about the protocol, and a
/// Redis slower than its limit is (rightly) done without.
const PATIENT: std::time::Duration = std::time::Duration::from_secs(5);

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use simcore::budget::RateBudget;
use simcore::http::{
    AuthHeader, Redactor, Token, TokenCache, TokenCacheOptions, TokenSource, header::AUTHORIZATION,
};
use simcore::{ApiError, Result};
use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
use testkit::RedisServer;

const TOKEN: &str = "SENTINEL-session-token-5d1e";

/// Hands out `Bearer SENTINEL…-<n>` after `delay`, or fails with `fail`.
#[derive(Debug)]
struct Login {
    calls: Arc<AtomicU32>,
    delay: Duration,
    fail: Option<u16>,
}

#[async_trait::async_trait]
impl TokenSource for Login {
    async fn fetch(&self) -> Result<Token> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if let Some(status) = self.fail {
            return Err(ApiError::new("test", status)
                .with_message("bad credentials")
                .into());
        }
        let h = AuthHeader::new(AUTHORIZATION, &format!("Bearer {TOKEN}-{n}"))?;
        Ok(Token::valid_for(h, Duration::from_secs(3600)))
    }
    fn redact(&self, _: &mut Redactor) {}
    fn provider(&self) -> &'static str {
        "test"
    }
}

fn key() -> TokenKey {
    TokenKey::new([42; 32])
}

/// One "process": its own Redis handle, store and cache.
fn process(
    server: &RedisServer,
    prefix: &str,
    calls: &Arc<AtomicU32>,
    fail: Option<u16>,
    store: impl FnOnce(RedisTokenStore) -> RedisTokenStore,
) -> TokenCache {
    let redis = Redis::with_timeout(&server.url(), prefix, PATIENT).unwrap();
    let store = store(RedisTokenStore::new(&redis).poll_interval(Duration::from_millis(10)));
    let login = Arc::new(Login {
        calls: calls.clone(),
        delay: Duration::from_millis(100),
        fail,
    });
    TokenCache::with_store(login, TokenCacheOptions::default(), Arc::new(store), "acct")
}

/// Every key under `prefix`, and its value.
async fn dump(server: &RedisServer, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for k in keys {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        out.push((k, v.unwrap_or_default()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_caches_with_their_own_stores_make_one_login() {
    let Some(server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    let calls = Arc::new(AtomicU32::new(0));
    let caches: Vec<Arc<TokenCache>> = (0..20)
        .map(|_| {
            Arc::new(process(&server, "t1:", &calls, None, |s| {
                s.encryption_key(key())
            }))
        })
        .collect();
    let tasks: Vec<_> = caches
        .iter()
        .map(|c| {
            let c = c.clone();
            tokio::spawn(async move { c.token().await.map(|h| h.value().clone()) })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap().unwrap());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one login for all twenty");
    assert!(
        seen.iter().all(|h| *h == seen[0]),
        "the same token everywhere"
    );
    // A later cache reads it without logging in.
    let late = process(&server, "t1:", &calls, None, |s| s.encryption_key(key()));
    assert_eq!(late.token().await.unwrap().value(), &seen[0]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // At rest: under the prefix only, and sealed: no token in a dump of Redis.
    let stored = dump(&server, "t1:").await;
    assert_eq!(
        stored.len(),
        1,
        "the token only (the lock is released): {stored:?}"
    );
    assert_eq!(stored[0].0, "t1:token:{acct}");
    assert!(!String::from_utf8_lossy(&stored[0].1).contains("SENTINEL"));
    // A process with another key cannot read it, and does without (it logs in itself).
    let other = process(&server, "t1:", &calls, None, |s| {
        s.encryption_key(TokenKey::new([1; 32]))
    });
    assert!(other.token().await.unwrap().value() != seen[0]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_tokens_are_stored_in_the_clear() {
    let Some(server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    let calls = Arc::new(AtomicU32::new(0));
    let cache = process(&server, "t2:", &calls, None, |s| s);
    cache.token().await.unwrap();
    let stored = dump(&server, "t2:").await;
    // As the docs say: anyone who reads Redis reads the token.
    assert!(String::from_utf8_lossy(&stored[0].1).contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_sent_once_for_all_of_them_within_the_cooldown() {
    let Some(server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    let calls = Arc::new(AtomicU32::new(0));
    let caches: Vec<Arc<TokenCache>> = (0..20)
        .map(|_| {
            Arc::new(process(&server, "t3:", &calls, Some(401), |s| {
                s.encryption_key(key())
            }))
        })
        .collect();
    for round in 0..3 {
        let tasks: Vec<_> = caches
            .iter()
            .map(|c| {
                let c = c.clone();
                tokio::spawn(async move { c.token().await })
            })
            .collect();
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(e.status(), Some(401), "round {round}: {e}");
        }
    }
    // New processes within the cooldown do not send the credentials either.
    let late = process(&server, "t3:", &calls, Some(401), |s| {
        s.encryption_key(key())
    });
    let e = late.token().await.unwrap_err();
    assert!(
        e.to_string().contains("process sharing this token store"),
        "{e}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one refused login in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_blocks_no_one_past_the_lock_ttl() {
    let Some(server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    // A holder took the lock and died mid-login: its lock is there, with its time to live.
    let ttl = Duration::from_millis(800);
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("t4:token:{acct}:lock")
        .arg("a-holder-that-died")
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .query_async(&mut conn)
        .await
        .unwrap();
    let start = Instant::now();
    let calls = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let c = process(&server, "t4:", &calls, None, |s| s.lock_ttl(ttl));
            tokio::spawn(async move { c.token().await.map(|_| Instant::now()) })
        })
        .collect();
    for t in tasks {
        let done = t.await.unwrap().unwrap();
        let waited = done - start;
        // No one logged in while the dead holder's lock stood, and no one waited for anything
        // else: the bound is far below the store's own lock TTL (10 s) and the cache's
        // patience, so a waiter that ignored the expiry would fail it (a liveness bound, not a
        // performance figure).
        assert!(
            waited >= ttl && waited < ttl + Duration::from_secs(5),
            "{waited:?}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_shared_by_four_processes_hands_out_places_at_its_rate() {
    let Some(server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    let rate = 200.0;
    let budgets: Vec<Arc<RedisRateBudget>> = (0..4)
        .map(|_| {
            let redis = Redis::with_timeout(&server.url(), "t5:", PATIENT).unwrap();
            Arc::new(RedisRateBudget::new(&redis, "egress", rate, 5))
        })
        .collect();
    let start = Instant::now();
    // 50 places from each, asked for at once: 200 places, 1 s at 200/s.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let b = budgets[i % 4].clone();
            tokio::spawn(async move {
                // The wait counts from Redis's answer: now, after it.
                let wait = b.reserve().await;
                Instant::now() + wait
            })
        })
        .collect();
    let mut at = Vec::new();
    for t in tasks {
        at.push(t.await.unwrap() - start);
    }
    at.sort();
    // The first `burst` at once, then one per 5 ms: the 200th no sooner than 975 ms in (later
    // only if the machine is slow to run the tasks).
    let local: Vec<u64> = budgets.iter().map(|b| b.local_places()).collect();
    assert_eq!(local, [0; 4], "every place from Redis");
    let last = at[199];
    assert!(last >= Duration::from_millis(970), "{last:?}");
    // No 100 ms holds more than 20 places and the burst.
    for (i, t) in at.iter().enumerate() {
        let within = at[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_millis(100))
            .count();
        assert!(
            within <= 20 + 5 + 1,
            "{within} places within 100 ms of {t:?}"
        );
    }
    let keys = dump(&server, "t5:").await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0, "t5:budget:{egress}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_redis_goes_the_budget_and_the_cache_carry_on_locally_and_say_so_once() {
    let Some(mut server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    #[cfg(feature = "tracing")]
    let events = Events::install();
    let redis = Redis::with_timeout(&server.url(), "t6:", Duration::from_millis(200)).unwrap();
    let budget = RedisRateBudget::new(&redis, "egress", 1000.0, 10);
    assert_eq!(budget.reserve().await, Duration::ZERO);
    assert!(redis.is_reachable());
    let port = server.port();
    server.stop();
    for _ in 0..200 {
        budget.reserve().await;
    }
    assert!(!redis.is_reachable());
    // One failed command, then at most one attempt a second: not one attempt per place.
    assert!(redis.errors() <= 4, "{} errors", redis.errors());
    assert!(budget.local_places() >= 199, "{}", budget.local_places());
    // A token cache on the same handle logs in itself.
    let calls = Arc::new(AtomicU32::new(0));
    let cache = TokenCache::with_store(
        Arc::new(Login {
            calls: calls.clone(),
            delay: Duration::ZERO,
            fail: None,
        }),
        TokenCacheOptions::default(),
        Arc::new(RedisTokenStore::new(&redis)),
        "acct",
    );
    cache.token().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Back: in use again within the reconnect interval.
    let _server = RedisServer::start_on(port).unwrap();
    tokio::time::sleep(simcore_redis::RECONNECT_INTERVAL).await;
    let before = budget.local_places();
    budget.reserve().await;
    budget.reserve().await;
    assert!(budget.local_places() <= before + 1);
    assert!(redis.is_reachable());
    #[cfg(feature = "tracing")]
    {
        let seen = events.take();
        let down = seen
            .iter()
            .filter(|e| e.contains("Redis unreachable"))
            .count();
        let back = seen
            .iter()
            .filter(|e| e.contains("reachable again"))
            .count();
        assert_eq!((down, back), (1, 1), "{seen:?}");
    }
}

/// The messages of the events emitted on this thread while installed.
#[cfg(feature = "tracing")]
struct Events {
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[cfg(feature = "tracing")]
impl Events {
    fn install() -> Self {
        use tracing_subscriber::layer::SubscriberExt;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let layer = EventLayer(seen.clone());
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Self {
            seen,
            _guard: guard,
        }
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

#[cfg(feature = "tracing")]
struct EventLayer(Arc<std::sync::Mutex<Vec<String>>>);

#[cfg(feature = "tracing")]
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for EventLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().unwrap().push(m.0);
    }
}

/// A provider over the transport: `PATCH /sims/{id}`, counted by the server.
#[derive(Debug)]
struct Patch {
    transport: simcore::http::Transport,
}

#[async_trait::async_trait]
impl simcore::SimProvider for Patch {
    fn name(&self) -> &'static str {
        "patch"
    }
    fn lifecycle(&self) -> simcore::Lifecycle<simcore::SimState> {
        simcore::Lifecycle::open("patch")
    }
    async fn fetch_with(&self, id: &str, _: &simcore::CallOptions) -> Result<simcore::SimSnapshot> {
        Ok(simcore::SimSnapshot::new(
            "patch",
            id,
            simcore::SimState::Inactive,
        ))
    }
    async fn apply_with(
        &self,
        id: &str,
        _: &simcore::SimChange,
        options: &simcore::CallOptions,
    ) -> Result<simcore::Applied> {
        let req = self
            .transport
            .request(simcore::http::Method::PATCH, &["sims", id])?
            .options(*options);
        self.transport.send(&req).await?;
        Ok(simcore::Applied::Done(None))
    }
    fn list(&self, _: &simcore::ListOptions) -> simcore::SnapshotPages<'_> {
        simcore::SnapshotPages::new(futures_util::stream::once(async {
            Err(simcore::Error::Config(
                "this test provider does not list".into(),
            ))
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_run_on_a_shared_budget_finishes_on_local_pacing_when_redis_stops() {
    use axum::{Router, extract::Path, routing::patch};
    use simfleet::bulk::{BulkItem, BulkUpdater};
    use simsandbox::SandboxServer;
    use std::collections::HashMap;
    use std::sync::Mutex;

    let Some(mut server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let counted = seen.clone();
    let router = Router::new().route(
        "/sims/{id}",
        patch(move |Path(id): Path<String>| {
            let counted = counted.clone();
            async move {
                *counted.lock().unwrap().entry(id).or_default() += 1;
                "{}"
            }
        }),
    );
    let sims = SandboxServer::start(router).await.unwrap();
    let transport = simcore::http::Transport::builder("patch", sims.base_url())
        .build()
        .unwrap();
    let provider: Arc<dyn simcore::SimProvider> = Arc::new(Patch { transport });

    let redis = Redis::with_timeout(&server.url(), "t7:", Duration::from_millis(200)).unwrap();
    // 400 a second: 600 items take about 1.5 s, and Redis stops once 200 are done.
    let budget = Arc::new(RedisRateBudget::new(&redis, "egress", 400.0, 10));
    let n = 600;
    let items = (0..n).map(|i| {
        BulkItem::new(
            format!("sim-{i}"),
            simcore::SimChange::new().state(simcore::SimState::Active),
        )
    });
    let done = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let (d, s) = (done.clone(), stop.clone());
    let updater = BulkUpdater::new(provider)
        .concurrency(16)
        .budget(budget.clone())
        .on_progress(move |_| {
            if d.fetch_add(1, Ordering::SeqCst) + 1 == 200 {
                s.notify_one();
            }
        });
    let run = tokio::spawn(async move { updater.run(items).await });
    stop.notified().await;
    let shared_before = redis.is_reachable();
    server.stop();
    let report = run.await.unwrap();

    assert!(shared_before, "the first 200 went through Redis");
    assert!(!redis.is_reachable());
    assert_eq!(
        (report.total, report.done, report.failed),
        (n, n, 0),
        "{report}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), n, "every SIM reached");
    assert!(seen.values().all(|c| *c == 1), "none twice");
    // The rest were paced locally: at most those in flight when Redis stopped went through it.
    let local = budget.local_places() as usize;
    assert!(
        local >= n - 200 - 16 && local <= n - 200 + 16,
        "{local} local places"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_token_nor_the_key_shows_in_debug_or_at_rest() {
    let Some(server) = RedisServer::start_or_skip("the Redis suite") else {
        return;
    };
    // A key whose base64 and bytes are both recognisable.
    let raw = *b"SENTINEL-KEY-0123456789abcdefghi";
    let b64 = base64_of(&raw);
    let redis = Redis::with_timeout(&server.url(), "t8:", PATIENT).unwrap();
    let store =
        Arc::new(RedisTokenStore::new(&redis).encryption_key(TokenKey::from_base64(&b64).unwrap()));
    let calls = Arc::new(AtomicU32::new(0));
    let cache = TokenCache::with_store(
        Arc::new(Login {
            calls: calls.clone(),
            delay: Duration::ZERO,
            fail: None,
        }),
        TokenCacheOptions::default(),
        store.clone(),
        "acct",
    );
    let token = cache.token().await.unwrap();
    for shown in [
        format!("{store:?}"),
        format!("{cache:?}"),
        format!("{redis:?}"),
        format!("{token:?}"),
    ] {
        assert!(!shown.contains("SENTINEL"), "{shown}");
        assert!(!shown.contains(&b64), "{shown}");
    }
    // The whole database, as a dump would hold it: no token, no key.
    let stored = dump(&server, "").await;
    assert!(!stored.is_empty());
    for (k, v) in &stored {
        let v = String::from_utf8_lossy(v);
        assert!(!v.contains("SENTINEL") && !v.contains(&b64), "{k}: {v}");
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
