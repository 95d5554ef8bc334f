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
            tokio::spawn(async move {
                c.fetch_sim(&sid)
                    .await
                    .err()
                    .map(|e| e.status().unwrap_or(0))
            })
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
