//! Contract suite: every request shape the client can produce is sent to Prism serving the
//! official Super SIM OpenAPI descriptions on loopback, Twilio's and KORE's, and the KORE client's
//! token request to Prism serving KORE's token API; none may be refused as a violation.
//!
//! The specs are vendored in `tests/specs` (see SOURCES.md there). Prism is installed by
//! `npm ci --prefix supersim-client/tests/contract`; without it the suite says why and skips,
//! unless `CI=true`, where it must run.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use simcore::http::{Auth, Method, Transport};
use simcore::paging::PagePosition;
use simcore::retry::RetryPolicy;
use simcore::secrecy::SecretString;
use simcore::{Error, Result};
use supersim_client::{
    CallbackMethod, Client, SettableStatus, Sim, Status, UpdateSimBuilder, Updated,
};

const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "contract-suite-token";
const SIM: &str = "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SIM_NAME: &str = "My SIM";
const FLEET: &str = "HFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const OTHER_ACCOUNT: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// How long Prism may take to start on a busy machine.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// A running Prism; killed when dropped, also when a test panics.
struct Prism {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Prism {
    fn start(prism: &Path, spec: &Path) -> Prism {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "supersim-contract-prism-{}-{port}.log",
            std::process::id()
        ));
        let out = File::create(&log).expect("Prism log file");
        let err = out.try_clone().expect("Prism log file");
        let child = Command::new(prism)
            .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(spec)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("Prism could not be started: {e}"));
        let mut prism = Prism { child, port, log };
        prism.wait_until_ready();
        prism
    }

    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Prism exited early ({status}):\n{}", self.log_text());
            }
            if started.elapsed() > STARTUP_LIMIT {
                panic!(
                    "Prism did not listen within {STARTUP_LIMIT:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The lines where Prism reports a violation.
    fn violations(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains('✖') || l.contains("did not pass the validation"))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().unwrap().port()
}

/// The vendored spec `name`.
fn spec_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(name)
}

/// Prism, or `None` (after saying why) when the suite cannot run here.
fn prism_binary() -> Option<PathBuf> {
    let prism =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/contract/node_modules/.bin/prism");
    if prism.is_file() {
        return Some(prism);
    }
    let why = "Prism is not installed: run `npm ci --prefix supersim-client/tests/contract`";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and the contract suite cannot run: {why}")
    }
    eprintln!("contract suite skipped: {why}");
    None
}

/// An example body of the spec, read as a typed value.
fn spec_example<T: serde::de::DeserializeOwned>(
    spec: &Value,
    path: &str,
    method: &str,
    status: &str,
    name: &str,
) -> T {
    let v = &spec["paths"][path][method]["responses"][status]["content"]["application/json"]["examples"]
        [name]["value"];
    assert!(
        v.is_object(),
        "spec example {path} {method} {status} {name}"
    );
    serde_json::from_value(v.clone()).unwrap()
}

type Shape = (&'static str, fn(UpdateSimBuilder) -> UpdateSimBuilder);

/// Every update shape the builder can produce: each field alone, each status, both fleet forms,
/// both callback methods, the spec's combinations, and all fields together.
const UPDATE_SHAPES: &[Shape] = &[
    ("unique_name", |u| u.unique_name("MySIM")),
    ("status ready", |u| u.status(SettableStatus::Ready)),
    ("status active", |u| u.status(SettableStatus::Active)),
    ("status inactive", |u| u.status(SettableStatus::Inactive)),
    ("fleet sid", |u| u.fleet(FLEET)),
    ("fleet unique name", |u| u.fleet("My Fleet")),
    ("callback_url", |u| {
        u.callback_url("https://example.com/sim-done?x=1")
    }),
    // Not URIs as given: sent normalised, so the spec's `format: uri` holds.
    ("callback_url with spaces", |u| {
        u.callback_url("https://example.com/sim done?site=pump 7")
    }),
    ("callback_url with non-ASCII", |u| {
        u.callback_url("https://bücher.example/rückruf?ort=Zürich")
    }),
    ("callback_method GET", |u| {
        u.callback_method(CallbackMethod::Get)
    }),
    ("callback_method POST", |u| {
        u.callback_method(CallbackMethod::Post)
    }),
    ("account_sid", |u| u.account_sid(OTHER_ACCOUNT)),
    ("status with callback", |u| {
        u.status(SettableStatus::Active)
            .callback_url("http://127.0.0.1:9876/path")
            .callback_method(CallbackMethod::Post)
    }),
    ("fleet with callback", |u| {
        u.fleet(FLEET)
            .callback_url("http://127.0.0.1:9876/path")
            .callback_method(CallbackMethod::Get)
    }),
    ("transfer", |u| {
        u.account_sid(OTHER_ACCOUNT).fleet("My Fleet")
    }),
    ("all fields", |u| {
        u.unique_name("MySIM")
            .status(SettableStatus::Inactive)
            .fleet("My Fleet")
            .callback_url("https://example.com/sim-done")
            .callback_method(CallbackMethod::Get)
            .account_sid(OTHER_ACCOUNT)
    }),
];

/// Records a request that Prism (or the client) did not accept as a conforming exchange.
fn check<T: std::fmt::Debug>(
    failures: &mut Vec<String>,
    what: String,
    result: Result<T>,
    ok: impl FnOnce(&T) -> bool,
) {
    match result {
        Ok(v) if ok(&v) => {}
        Ok(v) => failures.push(format!("{what}: unexpected answer {v:?}")),
        Err(Error::Api(e)) if e.status == 422 => {
            failures.push(format!("{what}: VIOLATION: {e} (Prism's reasons below)"))
        }
        Err(e) => failures.push(format!("{what}: {e}")),
    }
}

/// Sends every request shape through `client` to the Prism serving `spec`; returns the failures
/// and how many exchanges were made.
async fn every_shape(client: &Client, spec: &Value) -> (Vec<String>, usize) {
    // What Prism answers to a valid request: the spec's first example for the status.
    let updated: Sim = spec_example(spec, "/v1/Sims/{Sid}", "post", "200", "updateUniqueName");
    let fetched: Sim = spec_example(spec, "/v1/Sims/{Sid}", "get", "200", "fetch");
    let first_page: Value = spec_example(spec, "/v1/Sims", "get", "200", "readEmpty");
    let first_sims: Vec<Sim> = serde_json::from_value(first_page["sims"].clone()).unwrap();
    let first_next = (first_page["meta"]["next_page_url"].as_str())
        .filter(|u| !u.is_empty())
        .map(|u| PagePosition::Token(u.to_owned()));

    let mut failures = Vec::new();
    let mut sent = 0;
    for sim in [SIM, SIM_NAME] {
        for (name, shape) in UPDATE_SHAPES {
            let result = shape(client.update_sim(sim)).send().await;
            let expected = Updated::Done(Some(updated.clone()));
            check(
                &mut failures,
                format!("update {sim:?} {name}"),
                result,
                |o| *o == expected,
            );
            sent += 1;
        }
        let result = client.get_sim(sim).await;
        check(&mut failures, format!("fetch {sim:?}"), result, |s| {
            *s == fetched
        });
        sent += 1;
    }

    let mut lists = vec![
        ("no filter", client.list_sims()),
        ("fleet sid", client.list_sims().fleet(FLEET)),
        ("fleet unique name", client.list_sims().fleet("My Fleet")),
        ("iccid", client.list_sims().iccid("89883070000123456789")),
        ("page size 1", client.list_sims().page_size(1)),
        ("page size 1000", client.list_sims().page_size(1000)),
        (
            "all filters",
            client
                .list_sims()
                .status(Status::Active)
                .fleet(FLEET)
                .iccid("89883070000123456789")
                .page_size(50),
        ),
    ];
    for s in Status::KNOWN {
        lists.push(("status", client.list_sims().status(s.clone())));
    }
    for (name, list) in lists {
        let what = format!("list {name} {:?}", list.query_pairs().unwrap());
        let result = list.first_page().await;
        check(&mut failures, what.clone(), result, |p| {
            p.items == first_sims && p.next == first_next && p.total.is_none()
        });
        let result = list.collect_all().await;
        check(
            &mut failures,
            format!("{what} (to the end)"),
            result,
            |sims| *sims == first_sims,
        );
        sent += 2;
    }
    (failures, sent)
}

fn read_spec(name: &str) -> (PathBuf, Value) {
    let path = spec_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    (path, serde_json::from_str(&text).unwrap())
}

fn assert_clean(failures: &[String], sent: usize, prisms: &[&Prism]) {
    let violations: Vec<String> = prisms.iter().flat_map(|p| p.violations()).collect();
    assert!(
        failures.is_empty() && violations.is_empty(),
        "{} of {sent} exchanges failed:\n{}\nPrism reported:\n{}",
        failures.len(),
        failures.join("\n"),
        violations.join("\n"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_shape_conforms_to_twilio_s_spec() {
    let Some(prism_path) = prism_binary() else {
        return;
    };
    let (path, spec) = read_spec("twilio_supersim_v1.json");
    let prism = Prism::start(&prism_path, &path);
    let client = Client::builder()
        .account(ACCOUNT, TOKEN)
        .base_url(prism.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let (failures, sent) = every_shape(&client, &spec).await;
    assert_clean(&failures, sent, &[&prism]);

    // The suite can fail: Prism refuses what the client never sends.
    let transport = Transport::builder("twilio", prism.base_url())
        .auth(Auth::basic(ACCOUNT, &SecretString::from(TOKEN)).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    for pairs in [
        vec![("Status", "scheduled")],
        vec![("CallbackUrl", "https://example.com/a b")],
    ] {
        let bad = transport
            .request(Method::POST, &["v1", "Sims", SIM])
            .unwrap()
            .form(pairs.clone());
        let err = transport.send(&bad).await.unwrap_err();
        assert_eq!(err.status(), Some(422), "{pairs:?}: {err}");
    }
    let anonymous = Transport::builder("twilio", prism.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = anonymous
        .request(Method::GET, &["v1", "Sims", SIM])
        .unwrap();
    let err = anonymous.send(&req).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_shape_and_the_token_request_conform_to_kore_s_specs() {
    let Some(prism_path) = prism_binary() else {
        return;
    };
    let (path, spec) = read_spec("kore_supersim_v1.json");
    let (token_path, _) = read_spec("kore_token_api_v1.json");
    let prism = Prism::start(&prism_path, &path);
    let tokens = Prism::start(&prism_path, &token_path);
    let client = Client::builder()
        .kore("contract-suite-client", TOKEN)
        .base_url(prism.base_url())
        .kore_token_url(format!("{}/v1/auth/token", tokens.base_url()))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let (failures, sent) = every_shape(&client, &spec).await;
    // One token, fetched once and sent as a bearer to every request.
    assert_eq!(client.token_fetches(), 1);
    assert_clean(&failures, sent + 1, &[&prism, &tokens]);

    // The suite can fail: KORE's token spec refuses a request without its form body, and the
    // API refuses a request without a bearer token.
    let raw = Transport::builder("kore", format!("{}/v1/auth/token", tokens.base_url()))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let bad = raw.request(Method::POST, &[]).unwrap();
    let err = raw.send(&bad).await.unwrap_err();
    assert!(matches!(err.status(), Some(400 | 415 | 422)), "{err}");
    let anonymous = Transport::builder("kore", prism.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let req = anonymous
        .request(Method::GET, &["v1", "Sims", SIM])
        .unwrap();
    let err = anonymous.send(&req).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
}
