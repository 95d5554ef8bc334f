//! EdgeIQ sessions shared through Redis (features `redis` and `sandbox`): 20 clients logging in,
//! each with its own Redis handle and `RedisTokenStore` (they share nothing but the
//! redis-server, as processes do; the emnify suite runs the same store across real OS
//! processes), make one login, and a refused login is sent once. The test starts its own
//! redis-server on an ephemeral loopback port; without the binary it says so and passes, unless
//! `CI=true`.

/// A Redis time limit far above a loaded machine's pauses: these tests are about the protocol, and a
/// Redis slower than its limit is (rightly) done without.
const PATIENT: std::time::Duration = std::time::Duration::from_secs(5);

use std::sync::Arc;
use std::time::Duration;

use edgeiq_client::sandbox::{Sandbox, SimSeed};
use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
use testkit::RedisServer;

/// Logins the sandbox received.
fn logins(sandbox: &Sandbox) -> usize {
    sandbox
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/user/authenticate"))
        .count()
}

/// Twenty "processes" (their own Redis handle, store, budget and client) log in at once and
/// read a SIM; what each got.
async fn twenty(
    redis: &RedisServer,
    sandbox: &Sandbox,
    password: &str,
    id: &str,
) -> Vec<Option<u16>> {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let r = Redis::with_timeout(&redis.url(), "edgeiq:", PATIENT).unwrap();
            let store = RedisTokenStore::new(&r)
                .encryption_key(TokenKey::new([5; 32]))
                .poll_interval(Duration::from_millis(10));
            let builder = sandbox
                .builder_without_credentials()
                .token_store(Arc::new(store), sandbox.user().email.clone())
                .rate_budget(Arc::new(RedisRateBudget::new(
                    &r,
                    "edgeiq-account",
                    500.0,
                    50,
                )));
            let (email, password, id) = (
                sandbox.user().email.clone(),
                password.to_owned(),
                id.to_owned(),
            );
            tokio::spawn(async move {
                let client = builder
                    .login(email, password, None)
                    .await
                    .map_err(|e| e.status().unwrap_or(0))?;
                client
                    .get_sim(&id)
                    .await
                    .map_err(|e| e.status().unwrap_or(0))?;
                Ok::<(), u16>(())
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().err());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_edgeiq_clients_with_their_own_stores_log_in_once() {
    let Some(redis) = RedisServer::start_or_skip("the EdgeIQ Redis suite") else {
        return;
    };
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    let password = sandbox.user().password.clone();
    assert_eq!(
        twenty(&redis, &sandbox, &password, &id).await,
        vec![None; 20]
    );
    assert_eq!(logins(&sandbox), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edgeiq_login_is_sent_once_by_twenty() {
    let Some(redis) = RedisServer::start_or_skip("the EdgeIQ Redis suite") else {
        return;
    };
    let sandbox = Sandbox::start().await.unwrap();
    let id = sandbox.seed_sim(SimSeed::new());
    for _ in 0..2 {
        let got = twenty(&redis, &sandbox, "a-wrong-password", &id).await;
        assert_eq!(got, vec![Some(401); 20]);
    }
    assert_eq!(logins(&sandbox), 1, "one refused login in all");
}
