//! KORE's access token shared through Redis (features `redis` and `sandbox`): 20 clients, each
//! with its own Redis handle and `RedisTokenStore` (they share nothing but the redis-server, as
//! processes do; the emnify suite runs the same store across real OS processes), make one token
//! request, and a refused client is asked for once. The test starts its own redis-server on an
//! ephemeral loopback port; without the binary it says so and passes, unless `CI=true`.

/// A Redis time limit far above a loaded machine's pauses: these tests are about the protocol, and a
/// Redis slower than its limit is (rightly) done without.
const PATIENT: std::time::Duration = std::time::Duration::from_secs(5);

use std::sync::Arc;
use std::time::Duration;

use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
use supersim_client::Client;
use supersim_client::sandbox::{Sandbox, SandboxOptions, SimSeed};
use testkit::RedisServer;

/// One "process": its own Redis handle, store, budget and client.
fn client(redis: &RedisServer, sandbox: &Sandbox, secret: Option<&str>) -> Client {
    let r = Redis::with_timeout(&redis.url(), "kore:", PATIENT).unwrap();
    let store = RedisTokenStore::new(&r)
        .encryption_key(TokenKey::new([3; 32]))
        .poll_interval(Duration::from_millis(10));
    let mut builder = sandbox.client_builder();
    if let Some(secret) = secret {
        builder = builder.kore("a-client-id", secret.to_owned());
    }
    builder
        .token_store(Arc::new(store), "a-client-id")
        .rate_budget(Arc::new(RedisRateBudget::new(
            &r,
            "kore-account",
            500.0,
            50,
        )))
        .build()
        .unwrap()
}

async fn fetch_all(clients: Vec<Client>, sid: &str) -> Vec<Option<u16>> {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let sid = sid.to_owned();
            tokio::spawn(
                async move { c.get_sim(&sid).await.err().map(|e| e.status().unwrap_or(0)) },
            )
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kore_clients_with_their_own_stores_request_one_token() {
    let Some(redis) = RedisServer::start_or_skip("the KORE Redis suite") else {
        return;
    };
    let sandbox = Sandbox::start_with(SandboxOptions::kore()).await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    let clients = (0..20).map(|_| client(&redis, &sandbox, None)).collect();
    assert_eq!(fetch_all(clients, &sid).await, vec![None; 20]);
    assert_eq!(sandbox.token_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_kore_client_is_asked_for_once_by_twenty() {
    let Some(redis) = RedisServer::start_or_skip("the KORE Redis suite") else {
        return;
    };
    let sandbox = Sandbox::start_with(SandboxOptions::kore()).await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    for _ in 0..2 {
        let clients = (0..20)
            .map(|_| client(&redis, &sandbox, Some("a-wrong-secret")))
            .collect();
        assert_eq!(fetch_all(clients, &sid).await, vec![Some(401); 20]);
    }
    assert_eq!(
        sandbox.token_requests(),
        1,
        "one refused token request in all"
    );
}

/// Callbacks across replicas: for generated deliveries (each event delivered several times, to
/// replicas that each have their own Redis handle, all at once), every event is taken as new by
/// exactly one replica; one that failed and was forgotten is taken as new once more.
#[test]
fn each_event_is_handled_once_across_replicas() {
    use proptest::prelude::*;
    use simcore_redis::RedisSeenStore;
    use supersim_client::callbacks::{Delivery, SharedDeduplicator};

    let Some(redis) = RedisServer::start_or_skip("the callback de-duplication suite") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let round = std::sync::atomic::AtomicU32::new(0);
    proptest!(ProptestConfig::with_cases(24), |(
        events in proptest::collection::vec(1usize..6, 1..12),
        replicas in 2usize..6,
        failed in any::<proptest::sample::Index>(),
    )| {
        let n = round.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let prefix = format!("cb{n}:");
        let firsts = rt.block_on(async {
            let replicas: Vec<SharedDeduplicator> = (0..replicas)
                .map(|_| {
                    let r = Redis::with_timeout(&redis.url(), prefix.clone(), PATIENT).unwrap();
                    SharedDeduplicator::new(Arc::new(RedisSeenStore::new(&r)), Duration::from_secs(60))
                })
                .collect();
            let mut tasks = Vec::new();
            for (event, copies) in events.iter().enumerate() {
                for copy in 0..*copies {
                    let d = replicas[(event + copy) % replicas.len()].clone();
                    let token = format!("evt-{event}");
                    tasks.push(tokio::spawn(async move {
                        (event, d.check_token(Some(&token)).await.unwrap())
                    }));
                }
            }
            let mut firsts = vec![0usize; events.len()];
            for t in tasks {
                let (event, delivery) = t.await.unwrap();
                if delivery == Delivery::First {
                    firsts[event] += 1;
                }
            }
            // The handling of one event failed: forgotten, its next delivery is new, once.
            let again = failed.index(events.len());
            let token = format!("evt-{again}");
            assert!(replicas[0].forget(&token).await.unwrap());
            assert_eq!(replicas[1].check_token(Some(&token)).await.unwrap(), Delivery::First);
            assert_eq!(replicas[0].check_token(Some(&token)).await.unwrap(), Delivery::Replay);
            assert_eq!(replicas[0].check_token(None).await.unwrap(), Delivery::NoToken);
            firsts
        });
        prop_assert!(firsts.iter().all(|n| *n == 1), "{firsts:?}");
    });
}

/// With Redis gone, a check says so rather than guess.
#[tokio::test]
async fn an_unreachable_store_is_an_error_not_a_guess() {
    use simcore_redis::RedisSeenStore;
    use supersim_client::callbacks::SharedDeduplicator;
    let r = Redis::with_timeout("redis://127.0.0.1:1/", "x:", Duration::from_millis(200)).unwrap();
    let d = SharedDeduplicator::new(Arc::new(RedisSeenStore::new(&r)), Duration::from_secs(60));
    assert!(d.check_token(Some("evt")).await.is_err());
}
