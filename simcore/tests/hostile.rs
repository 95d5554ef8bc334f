//! The transport against a hostile server, with generated inputs: ids that try to leave their
//! path segment, answers that quote the credential back, a 429 storm with a huge `Retry-After`
//! and a body that never ends.
//!
//! Each class has a named regression test (`regression_*`) and a property test over generated
//! inputs, run with a manual `TestRunner` on one runtime and one shared loopback server.

use std::time::{Duration, Instant};

use axum::Router;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use secrecy::SecretString;
use simcore::Error;
use simcore::http::{Auth, Method, Redactor, Transport};
use simcore::retry::RetryPolicy;
use simcore::validate::check_id;
use simsandbox::SandboxServer;
use testkit::hostile::{
    Shape, check_one_segment, echo_router, id_pieces, stalled_body_router, storm_router,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Ids built from the hostile pieces, arbitrary characters and exact dot segments.
fn ids() -> impl Strategy<Value = String> {
    let pieces = id_pieces();
    let piece = prop_oneof![
        3 => proptest::sample::select(pieces),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-zA-Z0-9_~-]{1,6}",
    ];
    prop_oneof![
        8 => proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat()),
        1 => proptest::sample::select(vec!["", ".", "..", " .", ". ", ".\t", "...", " "])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

const BASE_PATH: &str = "/base/v1";

// ----- 1. ids -----

/// One id through the transport: refused before sending, or exactly one segment that decodes
/// back to it.
async fn id_case(server: &SandboxServer, t: &Transport, id: &str) -> Result<(), String> {
    server.clear_requests();
    let result = match t.request(Method::GET, &["sims", id]) {
        Ok(req) => t.send(&req).await.map(drop),
        Err(e) => Err(e),
    };
    let sent = server.requests();
    let must_refuse = check_id("id", id).is_err();
    match result {
        Err(Error::Invalid(v)) => {
            if !sent.is_empty() {
                return Err(format!(
                    "{id:?}: refused but {} request(s) sent",
                    sent.len()
                ));
            }
            if !must_refuse {
                return Err(format!("{id:?}: refused, but the id rule allows it: {v}"));
            }
            Ok(())
        }
        other => {
            if must_refuse {
                return Err(format!("{id:?}: the id rule refuses it, got {other:?}"));
            }
            if sent.len() != 1 {
                return Err(format!("{id:?}: {} requests sent", sent.len()));
            }
            let r = &sent[0];
            if r.query.is_some() {
                return Err(format!("{id:?}: a query was sent: {:?}", r.query));
            }
            check_one_segment(&format!("{BASE_PATH}/sims"), &r.path, id)
        }
    }
}

fn answer_404() -> Router {
    Router::new().fallback(|| async {
        simsandbox::json_response(404, &serde_json::json!({"message": "no such SIM"}))
    })
}

fn transport_at(server: &SandboxServer, auth: Auth) -> Transport {
    Transport::builder("hostile", format!("{}{BASE_PATH}", server.base_url()))
        .auth(auth)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

#[test]
fn generated_ids_stay_one_segment_or_are_refused_unsent() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let t = transport_at(&server, Auth::None);
    runner(256)
        .run(&ids(), |id| {
            rt.block_on(id_case(&server, &t, &id))
                .map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn regression_ids_that_once_left_their_segment() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let t = transport_at(&server, Auth::None);
    // Tab, CR and LF are dropped by the URL standard's parser: "a\tb" once reached "ab", and
    // ".\t." reached "..", the parent path.
    for id in [
        "a\tb",
        ".\t.",
        "\n..",
        "..\r",
        "\u{85}",
        "\u{7f}",
        "",
        ".",
        "..",
        "../x",
        "..%2f",
        "%2e%2E",
        "%2e%2E%2f",
        "a?b#c",
        "a/b",
        "\\..\\",
        " .. ",
        "\u{ff0f}",
        "é/𝄞",
        "%",
    ] {
        rt.block_on(id_case(&server, &t, id)).unwrap();
    }
}

// ----- 2. secrets echoed back -----

/// How the credential travels.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Basic,
    Bearer,
    Raw,
    ApiKey,
    /// In the JSON body (a login's password), known to the transport through `redact`.
    Body,
}

const KINDS: [Kind; 5] = [
    Kind::Basic,
    Kind::Bearer,
    Kind::Raw,
    Kind::ApiKey,
    Kind::Body,
];

/// What an answer may be: error statuses (one retryable) and undecodable successes.
const STATUSES: [u16; 7] = [400, 401, 403, 404, 500, 503, 200];

fn credential(kind: Kind, secret: &SecretString) -> (Auth, Option<SecretString>) {
    match kind {
        Kind::Basic => (
            Auth::basic("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", secret).unwrap(),
            None,
        ),
        Kind::Bearer => (Auth::bearer(secret).unwrap(), None),
        Kind::Raw => (Auth::raw_authorization(secret).unwrap(), None),
        Kind::ApiKey => (Auth::header("x-api-key", secret).unwrap(), None),
        Kind::Body => (Auth::None, Some(secret.clone())),
    }
}

/// The secret, or any 12-character piece of it (a cut secret leaks too), in `shown`.
fn leaked(shown: &str, secret: &str) -> Option<String> {
    let chars: Vec<char> = secret.chars().collect();
    let n = chars.len().min(12);
    chars
        .windows(n)
        .map(|w| w.iter().collect::<String>())
        .find(|w| shown.contains(w.as_str()))
}

/// One answer of the echo server: the error it makes must not show the secret.
async fn secret_case(
    rt_server: &EchoServers,
    kind: Kind,
    status: u16,
    shape: Shape,
    secret: &str,
) -> Result<(), String> {
    let server = rt_server.get(status, shape);
    let s = SecretString::from(secret.to_owned());
    let (auth, in_body) = credential(kind, &s);
    let mut b = Transport::builder("hostile", server.base_url())
        .auth(auth)
        .retry(RetryPolicy::none());
    if let Some(body_secret) = &in_body {
        b = b.redact(body_secret);
    }
    let t = b.build().map_err(|e| format!("build: {e}"))?;
    let mut req = t.request(Method::POST, &["login"]).unwrap();
    if in_body.is_some() {
        req = req
            .json(&serde_json::json!({"email": "ops@example.com", "password": secret}))
            .unwrap();
    }
    let err = match t.send(&req).await {
        // A 2xx: what a client does with a body it cannot read.
        Ok(resp) => match resp.json::<simcore_model::Strict>() {
            Ok(_) => return Ok(()),
            Err(e) => e,
        },
        Err(e) => e,
    };
    if err.status() != Some(status) {
        return Err(format!(
            "{kind:?} {status} {shape:?}: unexpected error {err}"
        ));
    }
    let shown = format!("{err}\n{err:?}");
    match leaked(&shown, secret) {
        Some(piece) => Err(format!(
            "{kind:?} {status} {shape:?}: the error shows {piece:?} of the secret:\n{shown}"
        )),
        None => Ok(()),
    }
}

mod simcore_model {
    /// A model a hostile 2xx is read into; every field typed, so the mistyped echo fails.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    pub struct Strict {
        pub id: u64,
        pub sims: Vec<u64>,
    }
}

/// One echo server per status and shape, started once.
struct EchoServers {
    servers: Vec<((u16, Shape), SandboxServer)>,
}

impl EchoServers {
    async fn start() -> Self {
        let mut servers = Vec::new();
        for status in STATUSES {
            for shape in Shape::ALL {
                let server = SandboxServer::start(echo_router(status, shape))
                    .await
                    .unwrap();
                servers.push(((status, shape), server));
            }
        }
        Self { servers }
    }

    fn get(&self, status: u16, shape: Shape) -> &SandboxServer {
        &self
            .servers
            .iter()
            .find(|(k, _)| *k == (status, shape))
            .unwrap()
            .1
    }
}

const SENTINEL: &str = "SENTINEL-s3cr3t/+ &\"é~x";
/// A sentinel only header-safe characters (a header value is visible ASCII).
const SENTINEL_ASCII: &str = "SENTINEL-s3cr3t/+ &\"<~x";

#[test]
fn regression_every_auth_kind_every_status_every_shape() {
    let rt = runtime();
    rt.block_on(async {
        let servers = EchoServers::start().await;
        let mut failures = Vec::new();
        for kind in KINDS {
            let secret = match kind {
                Kind::Body => SENTINEL,
                _ => SENTINEL_ASCII,
            };
            for status in STATUSES {
                for shape in Shape::ALL {
                    if let Err(e) = secret_case(&servers, kind, status, shape, secret).await {
                        failures.push(e);
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    });
}

/// Header-safe secrets: visible ASCII and inner spaces, no brackets (a secret that begins or
/// ends like the `[redacted]` marker could be formed across its edge).
fn header_secrets() -> impl Strategy<Value = String> {
    "[!-Z^-~]([ !-Z^-~]{6,38})[!-Z^-~]"
}

/// Body secrets: any text without control characters or brackets.
fn body_secrets() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => any::<char>().prop_filter("no brackets", |c| !matches!(c, '[' | ']')),
            1 => proptest::sample::select(vec![' ', '"', '\\', '/', '&', '<', '%', '+', '\n', 'é']),
        ],
        8..40,
    )
    .prop_map(|c| c.into_iter().collect())
}

#[test]
fn generated_secrets_never_show_through_the_transport() {
    let rt = runtime();
    let servers = rt.block_on(EchoServers::start());
    let case = (
        prop_oneof![
            (
                proptest::sample::select(KINDS[..4].to_vec()),
                header_secrets()
            ),
            (Just(Kind::Body), body_secrets()),
        ],
        proptest::sample::select(STATUSES.to_vec()),
        proptest::sample::select(Shape::ALL.to_vec()),
    );
    runner(128)
        .run(&case, |((kind, secret), status, shape)| {
            rt.block_on(secret_case(&servers, kind, status, shape, &secret))
                .map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn generated_secrets_never_survive_the_redactor() {
    // The redactor alone, over texts quoting the secret in every form the echo server knows,
    // surrounded by arbitrary text.
    // Text before the quote must not end in the start of an escape (`\`, `%`, `&`): that would
    // change what the quoted form says, and the secret would not be in it.
    let before = "\\PC{0,30}".prop_filter("not the start of an escape", |b: &String| {
        !b.ends_with(['\\', '%', '&'])
    });
    let case = (body_secrets(), before, "\\PC{0,30}");
    runner(512)
        .run(&case, |(secret, before, after)| {
            let mut r = Redactor::new();
            r.add(&SecretString::from(secret.clone()));
            for form in testkit::hostile::forms(&secret) {
                let text = format!("{before}{form}{after}");
                let clean = r.scrub(&text);
                prop_assert!(
                    leaked(&clean, &secret).is_none(),
                    "form {form:?} survived: {clean:?}"
                );
            }
            Ok(())
        })
        .unwrap();
}

// ----- 3. deadline -----

#[tokio::test]
async fn regression_a_429_storm_with_a_huge_retry_after_ends_at_once() {
    let server = SandboxServer::start(storm_router("999999")).await.unwrap();
    // Default settings: only the base URL and a credential.
    let t = Transport::builder("hostile", server.base_url())
        .auth(Auth::bearer(&SecretString::from("t0ken-t0ken")).unwrap())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = t
        .send(&t.request(Method::GET, &["sims", "1"]).unwrap())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(err.status(), Some(429), "{err}");
    let wait = err.retry_after().expect("the Retry-After is reported");
    assert!(wait >= Duration::from_secs(60), "{wait:?}");
    assert!(err.to_string().contains("retry after"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn regression_a_stalled_body_ends_within_the_deadline() {
    let server = SandboxServer::start(stalled_body_router()).await.unwrap();
    let deadline = Duration::from_secs(1);
    let t = Transport::builder("hostile", server.base_url())
        .deadline(deadline)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = t
        .send(&t.request(Method::GET, &["sims", "1"]).unwrap())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < deadline + Duration::from_secs(2), "took {took:?}");
    match &err {
        Error::Deadline {
            deadline: d,
            attempts,
            provider,
        } => {
            assert_eq!((*d, *provider), (deadline, "hostile"));
            assert!(*attempts >= 1);
        }
        other => panic!("{other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.starts_with("hostile: no answer within the call's deadline of 1s (after "),
        "{shown}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
}

#[test]
fn deadline_display_names_provider_deadline_and_attempts() {
    let one = Error::Deadline {
        provider: "p",
        deadline: Duration::from_millis(1500),
        attempts: 1,
    };
    assert_eq!(
        one.to_string(),
        "p: no answer within the call's deadline of 1.5s (after 1 attempt); retrying may help"
    );
    let three = Error::Deadline {
        provider: "p",
        deadline: Duration::from_secs(60),
        attempts: 3,
    };
    assert_eq!(
        three.to_string(),
        "p: no answer within the call's deadline of 60s (after 3 attempts); retrying may help"
    );
    assert_eq!(three.kind(), "deadline");
}
