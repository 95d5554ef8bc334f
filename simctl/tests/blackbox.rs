//! Black-box tests: the built `simctl` binary, driven as a test in another language would drive
//! it. The sandbox is started as a process, its JSON line read from stdout, and every provider
//! and the admin API reached over plain HTTP with JSON bodies: no SDK type is used here.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_simctl");

/// A running `simctl sandbox --output json`.
struct Sandbox {
    child: Child,
    line: Value,
    _dir: TempDir,
}

impl Sandbox {
    /// Starts the sandbox with a frozen clock at 2026-01-15 09:00 UTC (exact timestamps and
    /// ledger figures), the default fleet, and reads the line it prints once it listens.
    fn start() -> Sandbox {
        Self::start_with("")
    }

    /// [`start`](Self::start), with more of the config file.
    fn start_with(more: &str) -> Sandbox {
        let dir = TempDir::new("sandbox");
        let config = dir.path("sandbox.toml");
        std::fs::write(
            &config,
            format!("[clock]\nstart = \"2026-01-15T09:00:00Z\"\nmode = \"frozen\"\n{more}"),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["sandbox", "--output", "json", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("simctl starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let line: Value = serde_json::from_str(&line).expect("one JSON line");
        Sandbox {
            child,
            line,
            _dir: dir,
        }
    }

    fn admin(&self) -> String {
        self.line["admin"].as_str().unwrap().to_owned()
    }

    fn provider(&self, name: &str) -> &Value {
        &self.line["providers"][name]
    }

    /// Sends SIGTERM and returns how the process ended.
    fn stop(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped, if it is still there (a failed assertion must not
/// leave a sandbox running).
struct Killed(Option<Child>);

impl Killed {
    fn get(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "simctl-test-{name}-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// A plain HTTP client, as any language has one.
fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Sends a request and returns the status and the body as JSON (`Null` when empty).
async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

async fn admin_get(sb: &Sandbox, path: &str) -> Value {
    let (status, body) = call(http().get(format!("{}{path}", sb.admin()))).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn admin_post(sb: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    call(
        http()
            .post(format!("{}{path}", sb.admin()))
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

/// `(method, path)` of every request a provider's sandbox received.
async fn log(sb: &Sandbox, provider: &str) -> Vec<(String, String)> {
    let body = admin_get(sb, &format!("/v1/{provider}/requests")).await;
    body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_owned(),
                r["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn clear_log(sb: &Sandbox, provider: &str) {
    let (status, _) = call(http().delete(format!("{}/v1/{provider}/requests", sb.admin()))).await;
    assert_eq!(status, 200);
}

/// Runs `simctl ARGS` to the end, with no terminal and no provider credentials in its
/// environment.
fn simctl(args: &[&str]) -> Output {
    simctl_env(args, &[])
}

fn simctl_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for var in [
        "SIMCTL_SANDBOX",
        "KORE_CLIENT_ID",
        "KORE_CLIENT_SECRET",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_KEY",
        "TWILIO_API_SECRET",
        "EMNIFY_APPLICATION_TOKEN",
        "SIXFAB_API_KEY",
        "EDGEIQ_API_TOKEN",
        "SUPERSIM_BASE_URL",
        "KORE_TOKEN_URL",
        "EMNIFY_BASE_URL",
        "SIXFAB_BASE_URL",
        "EDGEIQ_BASE_URL",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stdout_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text:?}"))
}

fn stdout_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn the_sandbox_serves_every_provider_over_plain_http_and_stops_on_sigterm() {
    let sb = Sandbox::start();
    let admin = sb.admin();
    assert!(admin.starts_with("http://127.0.0.1:"), "{admin}");
    assert_eq!(sb.line["env"]["SIMCTL_SANDBOX"], admin.as_str());
    assert_eq!(
        sb.line["clock"],
        json!({"now": "2026-01-15T09:00:00Z", "virtual": true, "frozen": true, "moved_seconds": 0})
    );
    for p in ["supersim", "emnify", "sixfab", "edgeiq"] {
        let base = sb.provider(p)["base_url"].as_str().unwrap();
        assert!(base.starts_with("http://127.0.0.1:"), "{p}: {base}");
    }

    // Super SIM as KORE serves it: a token first, then the SIM with it.
    let kore = sb.provider("supersim").clone();
    assert_eq!(kore["dialect"], "kore");
    assert_eq!(sb.line["env"]["KORE_CLIENT_ID"], kore["client_id"]);
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        kore["client_id"].as_str().unwrap(),
        kore["client_secret"].as_str().unwrap()
    );
    let (status, token) = call(
        http()
            .post(kore["token_url"].as_str().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone()),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let sim_url = format!("{}/v1/Sims/pump-01", kore["base_url"].as_str().unwrap());
    let (status, sim) = call(http().get(&sim_url).header("authorization", &bearer)).await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(
        (sim["unique_name"].clone(), sim["status"].clone()),
        (json!("pump-01"), json!("ready"))
    );

    // Three months on the shared clock: Twilio's rule makes a SIM left ready active.
    let (status, clock) = admin_post(&sb, "/v1/clock/advance", json!({"months": 3})).await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["now"], "2026-04-15T09:00:00Z");
    assert_eq!(
        admin_get(&sb, "/v1/clock").await["now"],
        "2026-04-15T09:00:00Z"
    );
    // KORE's token expired on the same clock (it lasts an hour): a new one, then the SIM.
    let (status, _) = call(http().get(&sim_url).header("authorization", &bearer)).await;
    assert_eq!(status, 401);
    let (status, token) = call(
        http()
            .post(kore["token_url"].as_str().unwrap())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone()),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let (status, sim) = call(http().get(&sim_url).header("authorization", &bearer)).await;
    assert_eq!(status, 200, "{sim}");
    assert_eq!(sim["status"], "active");
    let state = admin_get(&sb, "/v1/supersim/state").await;
    let pump1 = state["sims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["unique_name"] == "pump-01")
        .unwrap();
    assert_eq!(pump1["status"], "active");

    // emnify: authenticate, read, PATCH, read again.
    let emnify = sb.provider("emnify").clone();
    let base = emnify["base_url"].as_str().unwrap();
    let (status, auth) = call(
        http()
            .post(format!("{base}/api/v1/authenticate"))
            .header("content-type", "application/json")
            .body(json!({"application_token": emnify["application_token"]}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{auth}");
    let bearer = format!("Bearer {}", auth["auth_token"].as_str().unwrap());
    let sim_url = format!("{base}/api/v1/sim/1001");
    let (status, sim) = call(http().get(&sim_url).header("authorization", &bearer)).await;
    assert_eq!(
        (status, sim["status"]["id"].clone()),
        (200, json!(0)),
        "{sim}"
    );
    let (status, body) = call(
        http()
            .patch(&sim_url)
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(r#"{"status":{"id":1}}"#),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let (_, sim) = call(http().get(&sim_url).header("authorization", &bearer)).await;
    assert_eq!(sim["status"], json!({"id": 1, "description": "Activated"}));
    // A refused transition (Activated back to Issued) answers emnify's 422.
    let (status, body) = call(
        http()
            .patch(&sim_url)
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(r#"{"status":{"id":0}}"#),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // The request log: every request in order, the PATCH bodies as sent, credentials kept back.
    let requests = admin_get(&sb, "/v1/emnify/requests").await;
    assert_eq!(
        log(&sb, "emnify").await,
        [
            ("POST", "/api/v1/authenticate"),
            ("GET", "/api/v1/sim/1001"),
            ("PATCH", "/api/v1/sim/1001"),
            ("GET", "/api/v1/sim/1001"),
            ("PATCH", "/api/v1/sim/1001"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
    );
    assert_eq!(requests["requests"][0]["body"], "[redacted]");
    assert_eq!(requests["requests"][2]["body"], r#"{"status":{"id":1}}"#);
    assert_eq!(requests["stats"]["received"], 5);
    let shown = requests.to_string();
    assert!(!shown.contains(emnify["application_token"].as_str().unwrap()));
    assert!(!shown.contains(auth["auth_token"].as_str().unwrap()));

    // A fault injected for the next request, then the sandbox answers as before.
    let sixfab = sb.provider("sixfab").clone();
    let asset_url = format!(
        "{}/assets/SN-ALPON-001",
        sixfab["base_url"].as_str().unwrap()
    );
    let key = sixfab["api_key"].as_str().unwrap();
    let (status, body) = admin_post(
        &sb,
        "/v1/sixfab/faults",
        json!({"fault": "status", "status": 503, "count": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(http().get(&asset_url).header("x-api-key", key)).await;
    assert_eq!(
        (status, body),
        (503, json!({"message": "injected fault: HTTP 503"}))
    );
    let (status, asset) = call(http().get(&asset_url).header("x-api-key", key)).await;
    assert_eq!((status, asset["status"].clone()), (200, json!("inactive")));
    assert_eq!(
        admin_get(&sb, "/v1/sixfab/requests").await["stats"]["failed"],
        1
    );

    // A rate limit set through the admin API: a burst of one, then Sixfab's 429.
    let (status, body) = admin_post(
        &sb,
        "/v1/sixfab/limits",
        json!({"rate_limit": {"per_second": 0.001, "burst": 1}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(http().get(&asset_url).header("x-api-key", key)).await;
    assert_eq!(status, 200);
    let (status, body) = call(http().get(&asset_url).header("x-api-key", key)).await;
    assert_eq!(
        (status, body),
        (429, json!({"detail": "Too Many Requests"}))
    );
    let (status, _) = admin_post(&sb, "/v1/sixfab/limits", json!({"rate_limit": null})).await;
    assert_eq!(status, 200);
    let (status, _) = call(http().get(&asset_url).header("x-api-key", key)).await;
    assert_eq!(status, 200);

    // A dropped connection: the client sees no answer at all, the counters see the drop.
    let (status, _) = admin_post(&sb, "/v1/sixfab/faults", json!({"fault": "drop"})).await;
    assert_eq!(status, 200);
    assert!(
        http()
            .get(&asset_url)
            .header("x-api-key", key)
            .send()
            .await
            .is_err()
    );
    assert_eq!(
        admin_get(&sb, "/v1/sixfab/requests").await["stats"]["dropped"],
        1
    );
    let (status, body) = admin_post(&sb, "/v1/sixfab/faults", json!({"fault": "flood"})).await;
    assert_eq!(status, 400, "{body}");

    // emnify's authenticate limit, lowered to two calls in 5 minutes: the frozen clock still
    // counts the one made above, so one more passes and the next answers emnify's 429.
    let (status, body) = admin_post(
        &sb,
        "/v1/emnify/limits",
        json!({"authenticate_limit": {"calls": 2, "per_seconds": 300}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let authenticate = || {
        http()
            .post(format!("{base}/api/v1/authenticate"))
            .header("content-type", "application/json")
            .body(json!({"application_token": emnify["application_token"]}).to_string())
    };
    let (status, _) = call(authenticate()).await;
    assert_eq!(status, 200);
    let (status, body) = call(authenticate()).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (429, json!(1105)),
        "{body}"
    );
    let (status, body) = admin_post(
        &sb,
        "/v1/sixfab/limits",
        json!({"authenticate_limit": null}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Sixfab's ledger: the asset seeded active is charged both SIMs at each month's start.
    let ledger = admin_get(&sb, "/v1/sixfab/ledger").await;
    let months: Vec<(String, String, String)> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "month")
        .map(|e| {
            (
                e["serial_number"].as_str().unwrap().to_owned(),
                e["item"].as_str().unwrap().to_owned(),
                e["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = ["2026-02-01", "2026-03-01", "2026-04-01"]
        .iter()
        .flat_map(|d| {
            ["super_sim", "pro_sim"].map(|item| {
                (
                    "SN-ALPON-002".to_owned(),
                    item.to_owned(),
                    format!("{d}T00:00:00Z"),
                )
            })
        })
        .collect();
    assert_eq!(months, expected);
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 6);
    assert_eq!(ledger["total"], "12.00");

    // The whole state in one document.
    let all = admin_get(&sb, "/v1/state").await;
    assert_eq!(all["clock"]["now"], "2026-04-15T09:00:00Z");
    assert_eq!(all["emnify"]["sims"].as_array().unwrap().len(), 4);
    assert_eq!(all["sixfab"]["assets"].as_array().unwrap().len(), 3);
    assert_eq!(all["edgeiq"]["sims"].as_array().unwrap().len(), 3);

    // Admin errors are JSON with a message.
    let (status, body) = admin_post(&sb, "/v1/clock/advance", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "give exactly one of seconds, months or to"
    );
    let (status, body) = call(http().get(format!("{admin}/v1/acme/state"))).await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("acme"));
    let (status, body) = admin_post(
        &sb,
        "/v1/clock/advance",
        json!({"to": "2026-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // One move goes at most a century, so a request cannot make the ledger charge for ages;
    // the refused move leaves the clock and the ledger as they were.
    let (status, body) = admin_post(&sb, "/v1/clock/advance", json!({"seconds": 1e12})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1200 months"),
        "{body}"
    );
    let (status, _) = admin_post(&sb, "/v1/clock/advance", json!({"months": 1201})).await;
    assert_eq!(status, 400);
    assert_eq!(
        admin_get(&sb, "/v1/clock").await["now"],
        "2026-04-15T09:00:00Z"
    );
    assert_eq!(admin_get(&sb, "/v1/sixfab/ledger").await["total"], "12.00");

    assert_eq!(sb.stop().code(), Some(0));
}

#[tokio::test]
async fn get_set_and_list_against_a_sandbox_with_exit_codes_and_json() {
    let sb = Sandbox::start();
    let admin = sb.admin();
    let at = ["--sandbox", admin.as_str()];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(at.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |args: &[&str]| {
        let args = with(args);
        simctl(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // get, in JSON: the canonical state and the provider's word.
    let out = run(&["get", "emnify", "1002", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sim = stdout_json(&out);
    assert_eq!(
        (
            sim["provider"].clone(),
            sim["id"].clone(),
            sim["state"].clone(),
            sim["native_status"].clone()
        ),
        (
            json!("emnify"),
            json!("1002"),
            json!("active"),
            json!("Activated")
        )
    );
    // and for a person.
    let out = run(&["get", "sixfab", "SN-ALPON-002"]);
    assert_eq!(code(&out), 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(
            "sixfab SN-ALPON-002: active (sixfab says \"active\"), named \"sandbox asset 2\""
        ),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // SIMCTL_SANDBOX does what --sandbox does.
    let out = simctl_env(
        &["get", "kore", "pump-01", "-o", "json"],
        &[("SIMCTL_SANDBOX", admin.as_str())],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["display_name"], "pump-01");

    // A SIM the provider does not know: exit 1, the provider's 404 kept.
    let out = run(&["get", "emnify", "999", "-o", "json"]);
    assert_eq!(code(&out), 1);
    let err = stdout_json(&out);
    assert_eq!(
        (err["error"]["kind"].clone(), err["error"]["status"].clone()),
        (json!("api"), json!(404))
    );

    // list, one JSON line per SIM, filtered by state.
    let out = run(&["list", "emnify", "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let states: Vec<(String, String)> = stdout_lines(&out)
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("1001", "new"),
            ("1002", "active"),
            ("1003", "inactive"),
            ("1004", "ready")
        ]
        .map(|(i, s)| (i.to_owned(), s.to_owned()))
    );
    let out = run(&["list", "supersim", "--state", "ready", "-o", "json"]);
    let ready = stdout_lines(&out);
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0]["display_name"], "pump-01");
    let out = run(&["list", "edgeiq"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("3 SIMs\n"));

    // set: the change is sent and the sandbox holds it.
    let out = run(&["set", "emnify", "1001", "--state", "active", "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout_json(&out),
        json!({"provider": "emnify", "id": "1001", "from": "new", "result": "done", "sim": null})
    );
    let state = admin_get(&sb, "/v1/emnify/state").await;
    assert_eq!(state["sims"][0]["status"]["id"], 1);
    let out = run(&[
        "set",
        "sixfab",
        "SN-ALPON-001",
        "--state",
        "active",
        "--name",
        "pump station 7",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        admin_get(&sb, "/v1/sixfab/state").await["assets"][0]["name"],
        "pump station 7"
    );
    // Already so: nothing sent.
    clear_log(&sb, "edgeiq").await;
    let out = run(&[
        "set",
        "edgeiq",
        "65a1f0c2e4b0000000000001",
        "--state",
        "active",
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["result"], "unchanged");
    assert_eq!(
        log(&sb, "edgeiq").await,
        [(
            "GET".to_owned(),
            "/api/v1/platform/sims/65a1f0c2e4b0000000000001".to_owned()
        )]
    );

    // Refused before anything is sent: exit 3, the field named, the request log empty.
    clear_log(&sb, "emnify").await;
    let out = run(&["set", "emnify", "1002", "--name", "pump 7", "-o", "json"]);
    assert_eq!(code(&out), 3);
    let err = stdout_json(&out);
    assert_eq!(
        (err["error"]["kind"].clone(), err["error"]["field"].clone()),
        (json!("refused"), json!("display_name"))
    );
    let out = run(&["set", "emnify", "1002", "--state", "frozen"]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("invalid state"), "{}", stderr(&out));
    assert!(log(&sb, "emnify").await.is_empty());
    // A transition the lifecycle forbids (active back to ready): the SIM is read, no change sent.
    clear_log(&sb, "supersim").await;
    let out = run(&["set", "kore", "pump-02", "--state", "ready", "-o", "json"]);
    assert_eq!(code(&out), 3, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stdout_json(&out)["error"]["field"], "state");
    let sent = log(&sb, "supersim").await;
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|(m, p)| !(m == "POST" && p.starts_with("/v1/Sims"))),
        "{sent:?}"
    );

    // Usage errors: exit 2.
    assert_eq!(code(&run(&["get", "acme", "1"])), 2);
    assert_eq!(code(&run(&["set", "emnify", "1002"])), 2);
    assert_eq!(code(&run(&["get", "twilio", "pump-01"])), 2);
    assert_eq!(code(&simctl(&["get", "emnify"])), 2);
    assert_eq!(code(&simctl(&["frobnicate"])), 2);
    // No credentials for a real provider: exit 2, the variable named.
    let out = simctl(&["get", "emnify", "1002"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("EMNIFY_APPLICATION_TOKEN"),
        "{}",
        stderr(&out)
    );

    // A write to a "real" provider (not through --sandbox) asks first; with no terminal and no
    // --yes it is not sent: exit 5. With --yes it is.
    let emnify = sb.provider("emnify").clone();
    let real = [
        (
            "EMNIFY_APPLICATION_TOKEN",
            emnify["application_token"].as_str().unwrap(),
        ),
        ("EMNIFY_BASE_URL", emnify["base_url"].as_str().unwrap()),
    ];
    clear_log(&sb, "emnify").await;
    let out = simctl_env(&["set", "emnify", "1002", "--state", "inactive"], &real);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert!(log(&sb, "emnify").await.iter().all(|(m, _)| m != "PATCH"));
    let out = simctl_env(
        &["set", "emnify", "1002", "--state", "inactive", "--yes"],
        &real,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        log(&sb, "emnify")
            .await
            .iter()
            .filter(|(m, _)| m == "PATCH")
            .count(),
        1
    );

    // Credentials refused by the provider: exit 1, and the token is in no output.
    let sentinel = [
        ("EMNIFY_APPLICATION_TOKEN", "SENTINEL-TOKEN-4f1e"),
        ("EMNIFY_BASE_URL", emnify["base_url"].as_str().unwrap()),
    ];
    for output in ["text", "json"] {
        let out = simctl_env(&["get", "emnify", "1002", "-o", output], &sentinel);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(all.contains("401"), "{all}");
        assert!(!all.contains("SENTINEL"), "{all}");
    }

    // --sandbox auto: a sandbox of this process, for one command.
    let out = simctl(&["list", "emnify", "--sandbox", "auto", "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_lines(&out).len(), 4);

    assert_eq!(sb.stop().code(), Some(0));
}

#[tokio::test]
async fn plan_and_apply_against_a_sandbox() {
    let sb = Sandbox::start();
    let admin = sb.admin();
    let dir = TempDir::new("plan");
    let csv = dir.path("fleet.csv");
    let plan = dir.path("plan.json");
    let csv_s = csv.to_str().unwrap();
    let plan_s = plan.to_str().unwrap();

    // Rows that cannot be carried out make the plan exit 4, and say why.
    std::fs::write(
        &csv,
        "provider,id,target\nemnify,1003,active\nemnify,1002,new\nemnify,4242,active\nacme,x,active\n",
    )
    .unwrap();
    let out = simctl(&["plan", csv_s, "--sandbox", &admin, "-o", "json"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let p = stdout_json(&out);
    let actions: Vec<&str> = p["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["change", "refused", "not_found", "refused"]);

    // A line that cannot be read is that row's refusal, with its line number; the other rows
    // are planned (exit 4). (This used to fail the whole file with exit 2.)
    for (bad, line) in [
        ("provider,id,target\nEMNIFY,1003,active\nemnify,1002\n", 3),
        ("provider,id,target,name\nemnify,1003,active,\u{1}pump\n", 2),
    ] {
        std::fs::write(&csv, bad).unwrap();
        let out = simctl(&["plan", csv_s, "--sandbox", &admin, "-o", "json"]);
        assert_eq!(code(&out), 4, "{bad:?}: {}", stderr(&out));
        let p = stdout_json(&out);
        let entries = p["entries"].as_array().unwrap();
        let refused = entries
            .iter()
            .find(|e| e["action"] == "refused")
            .expect("the malformed line's row");
        let reason = refused["error"]["message"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("invalid row: line {line}: ")),
            "{reason}"
        );
        assert_eq!(refused["error"]["sent"], "no", "{refused}");
        if line == 3 {
            assert_eq!(entries[0]["action"], "change", "{p}");
            assert_eq!(entries[0]["provider"], "emnify", "{p}");
        }
    }
    // A file whose header cannot be read as rows is a usage error (2), not a refused change
    // (3), and nothing is planned; an unknown column is named.
    for (bad, named) in [
        ("iccid,state\n8988,active\n", "\"iccid\""),
        (
            "provider,id,target,colour\nemnify,1003,active,red\n",
            "\"colour\"",
        ),
        (
            "provider,id,target,status\nemnify,1003,active,active\n",
            "\"status\"",
        ),
    ] {
        std::fs::write(&csv, bad).unwrap();
        let out = simctl(&["plan", csv_s, "--sandbox", &admin]);
        assert_eq!(code(&out), 2, "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not a desired-state CSV"),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(named), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "{bad:?}");
    }

    // A plan every row of which can be carried out: exit 0, saved, charges shown first.
    std::fs::write(
        &csv,
        "provider,id,target,name\nkore,pump-03,active,\nemnify,1003,active,\nsixfab,SN-ALPON-003,active,pump station 9\nedgeiq,65a1f0c2e4b0000000000002,active,\nemnify,1002,active,\n",
    )
    .unwrap();
    let out = simctl(&["plan", csv_s, "--out", plan_s, "--sandbox", &admin]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("charges of the changes, overall: "),
        "{text}"
    );
    assert!(
        text.contains("5 rows: 4 to change, 1 unchanged, 0 that cannot be carried out"),
        "{text}"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["entries"].as_array().unwrap().len(), 5);

    // Apply it: every change sent.
    let out = simctl(&["apply", plan_s, "--sandbox", &admin, "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = stdout_json(&out);
    let outcomes: Vec<&str> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["pending", "done", "done", "done", "unchanged"]);
    let sixfab = admin_get(&sb, "/v1/sixfab/state").await;
    assert_eq!(sixfab["assets"][2]["name"], "pump station 9");
    assert_eq!(sixfab["assets"][2]["status"], "active");

    // A plan applied after SIMs changed behind its back: one is already as asked (nothing
    // sent), one is in a state the plan did not see (stale: not touched), the third is
    // applied; exit 4.
    std::fs::write(
        &csv,
        "provider,id,target\nemnify,1003,inactive\nedgeiq,65a1f0c2e4b0000000000002,inactive\nemnify,1002,inactive\n",
    )
    .unwrap();
    let out = simctl(&["plan", csv_s, "--out", plan_s, "--sandbox", &admin]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for (p, id, state) in [
        ("emnify", "1003", "inactive"),
        ("edgeiq", "65a1f0c2e4b0000000000002", "retired"),
    ] {
        let out = simctl(&["set", p, id, "--state", state, "--sandbox", &admin]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    clear_log(&sb, "emnify").await;
    clear_log(&sb, "edgeiq").await;
    let out = simctl(&["apply", plan_s, "--sandbox", &admin]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("row 1 emnify 1003: already there"), "{text}");
    assert!(
        text.contains(
            "row 2 edgeiq 65a1f0c2e4b0000000000002: stale: the plan saw active, it is retired now"
        ),
        "{text}"
    );
    assert!(text.contains("row 3 emnify 1002: done"), "{text}");
    let patches: Vec<String> = log(&sb, "emnify")
        .await
        .into_iter()
        .filter(|(m, _)| m == "PATCH")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(patches, ["/api/v1/sim/1002"]);
    assert!(log(&sb, "edgeiq").await.iter().all(|(m, _)| m == "GET"));

    assert_eq!(sb.stop().code(), Some(0));
}

/// `apply --wait` waits for Super SIM's scheduled changes and reports where they settled; a
/// plan edited after `plan` saved it is refused (exit 2, nothing sent) unless `--allow-edited`,
/// and then its edited entry is refused whole by the rules; a SIM with a change in progress is
/// planned `pending`.
#[tokio::test]
async fn apply_waits_for_scheduled_changes_and_refuses_an_edited_plan() {
    // Scheduled changes take a second to land: long enough to be seen in progress.
    let sb = Sandbox::start_with("[supersim]\nschedule_delay_ms = 1000\n");
    let admin = sb.admin();
    let dir = TempDir::new("wait");
    let csv = dir.path("fleet.csv");
    let plan = dir.path("plan.json");
    let (csv_s, plan_s) = (csv.to_str().unwrap(), plan.to_str().unwrap());
    std::fs::write(&csv, "provider,id,status\nSuper-SIM,pump-03,active\n").unwrap();
    let out = simctl(&["plan", csv_s, "--out", plan_s, "--sandbox", &admin]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Edited: a name Super SIM's rule refuses. Refused whole, nothing sent.
    let saved = std::fs::read_to_string(&plan).unwrap();
    let mut edited: Value = serde_json::from_str(&saved).unwrap();
    edited["entries"][0]["rename"] = serde_json::json!({"to": "pump\u{1}03"});
    std::fs::write(&plan, edited.to_string()).unwrap();
    clear_log(&sb, "supersim").await;
    let out = simctl(&["apply", plan_s, "--sandbox", &admin, "-o", "json"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stdout_json(&out)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("edited")
    );
    let out = simctl(&[
        "apply",
        plan_s,
        "--allow-edited",
        "--sandbox",
        &admin,
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["entries"][0]["outcome"], "refused");
    assert!(
        log(&sb, "supersim")
            .await
            .iter()
            .all(|(m, p)| m == "GET" || !p.contains("/v1/Sims"))
    );

    // As saved, with a wait: the scheduled change settles, and the row says done.
    std::fs::write(&plan, &saved).unwrap();
    let out = simctl(&["apply", plan_s, "--wait", "bogus", "--sandbox", &admin]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = simctl(&[
        "apply",
        plan_s,
        "--wait",
        "20s",
        "--sandbox",
        &admin,
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["entries"][0]["outcome"], "done", "{report}");
    assert_eq!(report["entries"][0]["verified"], true, "{report}");
    let posts = log(&sb, "supersim")
        .await
        .into_iter()
        .filter(|(m, p)| m == "POST" && p.contains("/v1/Sims/"))
        .count();
    assert_eq!(posts, 1);

    // A change in progress is planned pending (nothing to send), and the plan exits 0.
    let out = simctl(&[
        "set",
        "supersim",
        "pump-03",
        "--state",
        "inactive",
        "--sandbox",
        &admin,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = simctl(&["plan", csv_s, "--sandbox", &admin, "-o", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["entries"][0]["action"], "in_progress");

    assert_eq!(sb.stop().code(), Some(0));
}

#[test]
fn help_documents_every_verb_and_the_exit_codes() {
    let out = simctl(&["--help"]);
    assert_eq!(code(&out), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "sandbox",
        "get",
        "set",
        "list",
        "plan",
        "apply",
        "Exit codes:",
        "--output",
    ] {
        assert!(help.contains(word), "{word}: {help}");
    }
    for verb in ["sandbox", "get", "set", "list", "plan", "apply"] {
        let out = simctl(&[verb, "--help"]);
        assert_eq!(code(&out), 0, "{verb}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Exit codes:"),
            "{verb}"
        );
    }
    // Five ports do not fit above 65531: a usage error, before anything listens.
    let out = simctl(&["sandbox", "--port-base", "65534"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--port-base 65534"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_json_config_seeds_the_fleet_and_the_text_output_names_every_variable() {
    let dir = TempDir::new("config");
    let config = dir.path("sandbox.json");
    std::fs::write(
        &config,
        json!({
            "clock": {"mode": "frozen", "start": "2030-01-01T00:00:00Z"},
            "supersim": {"dialect": "twilio", "sims": [{"unique_name": "a-1", "status": "active"}], "generate": 2},
            "emnify": {"sims": [{"id": 7, "status": "factory_test"}]},
            "sixfab": {"assets": []},
            "edgeiq": {"generate": 3000},
        })
        .to_string(),
    )
    .unwrap();
    let mut child = Killed(Some(
        Command::new(BIN)
            .args(["sandbox", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let mut out = BufReader::new(child.get().stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "{lines:?}");
        let last = line.starts_with("  export ")
            && lines
                .last()
                .is_some_and(|l: &String| l.starts_with("all variables"));
        lines.push(line.trim_end().to_owned());
        if last {
            break;
        }
    }
    for block in [
        "supersim (twilio)",
        "emnify",
        "sixfab",
        "edgeiq",
        "admin API",
    ] {
        assert!(lines.iter().any(|l| l == block), "{block}: {lines:?}");
    }
    for var in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "SUPERSIM_BASE_URL",
        "EMNIFY_APPLICATION_TOKEN",
        "EMNIFY_BASE_URL",
        "SIXFAB_API_KEY",
        "SIXFAB_BASE_URL",
        "EDGEIQ_API_TOKEN",
        "EDGEIQ_BASE_URL",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("  export {var}="))),
            "{var}: {lines:?}"
        );
    }
    let admin = lines
        .iter()
        .find_map(|l| l.strip_prefix("  export SIMCTL_SANDBOX="))
        .unwrap()
        .to_owned();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("2030-01-01T00:00:00Z (virtual, frozen)")),
        "{lines:?}"
    );

    let count = |provider: &str| {
        let out = simctl(&["list", provider, "--sandbox", &admin, "-o", "json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        stdout_lines(&out)
    };
    let supersim: Vec<String> = count("twilio")
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(supersim, ["active", "new", "ready"]);
    let emnify = count("emnify");
    assert_eq!(
        (
            emnify.len(),
            emnify[0]["id"].clone(),
            emnify[0]["native_status"].clone()
        ),
        (1, json!("7"), json!("Factory Test"))
    );
    assert!(count("sixfab").is_empty());
    // No SIMs given: the default fleet, and as many more as asked.
    assert_eq!(count("edgeiq").len(), 3003);

    // A reader that stops reading (`simctl list edgeiq | head -1`): the output ends quietly,
    // exit 0, no panic.
    let mut list = Command::new(BIN)
        .args(["list", "edgeiq", "--sandbox", &admin])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(list.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("id "), "{first}");
    let end = list.wait_with_output().unwrap();
    assert_eq!(end.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&end.stderr), "");
    // The sandbox speaks Twilio's dialect: asking for KORE is a usage error.
    assert_eq!(
        code(&simctl(&["get", "kore", "a-1", "--sandbox", &admin])),
        2
    );

    // A device's usage through the admin API: a Factory Test SIM activates by use.
    let (status, body) = call(
        http()
            .post(format!("{admin}/v1/emnify/sims/7/usage"))
            .body(json!({"data_kb": 100}).to_string()),
    )
    .await;
    assert_eq!((status, body["status"].clone()), (200, json!({"id": 1})));

    let status = Command::new("kill")
        .args(["-INT", &child.get().id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let end = child.0.take().unwrap().wait_with_output().unwrap();
    assert_eq!(end.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&end.stderr),
        "simctl sandbox: stopped\n"
    );
}

#[test]
fn a_config_that_cannot_be_read_is_a_usage_error() {
    let dir = TempDir::new("bad-config");
    let config = dir.path("sandbox.toml");
    std::fs::write(&config, "[emnify]\nsimz = []\n").unwrap();
    let out = simctl(&["sandbox", "--config", config.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("simz"), "{}", stderr(&out));
    let out = simctl(&[
        "sandbox",
        "--config",
        dir.path("missing.toml").to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(stdout_json(&out)["error"]["kind"], "usage");
}

/// A loopback listener standing in for every host that is not the sandbox: as the proxy of a
/// run, it counts each connection a client opens to a real provider (a CONNECT for https).
fn counting_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (url, seen)
}

/// The shell `simctl sandbox` sets up (every variable it exports) reaches the sandboxes through
/// each client's `from_env()`; the same shell without the base URLs reaches nothing: the
/// sandbox's credentials are refused before any connection is opened (exit 2), even with a
/// proxy that would carry the request.
#[tokio::test]
async fn a_shell_set_up_for_the_sandbox_never_sends_its_credentials_elsewhere() {
    use std::sync::atomic::Ordering;
    let sb = Sandbox::start();
    let exported: Vec<(String, String)> = sb.line["env"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() != "SIMCTL_SANDBOX")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let (proxy, seen) = counting_proxy();
    let all: Vec<(&str, &str)> = exported
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // EdgeIQ's ids are made when the sandbox starts: the first one listed.
    let out = simctl_env(&["list", "edgeiq", "-o", "json"], &all);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let edgeiq_id = stdout_lines(&out)[0]["id"].as_str().unwrap().to_owned();
    let sims = [
        ("kore", "pump-01"),
        ("emnify", "1002"),
        ("sixfab", "SN-ALPON-002"),
        ("edgeiq", edgeiq_id.as_str()),
    ];
    for (provider, id) in sims {
        // Every exported variable: the sandbox answers.
        let out = simctl_env(&["get", provider, id, "-o", "json"], &all);
        assert_eq!(code(&out), 0, "{provider}: {}", stderr(&out));
        // Each variable exported for the provider is read: without it, the same call fails
        // before sending (a credential missing, or the sandbox's credential refused for a
        // provider's real host).
        let key = if provider == "kore" {
            "supersim"
        } else {
            provider
        };
        for var in sb.line["providers"][key]["env"].as_object().unwrap().keys() {
            let without: Vec<(&str, &str)> =
                all.iter().copied().filter(|(k, _)| k != var).collect();
            let out = simctl_env(&["get", provider, id, "-o", "json"], &without);
            assert_eq!(code(&out), 2, "{provider} without {var}: {}", stderr(&out));
        }
        // Without the base URLs, and with a proxy for every other host: refused, nothing sent.
        let mut shell: Vec<(&str, &str)> = all
            .iter()
            .copied()
            .filter(|(k, _)| !k.ends_with("_BASE_URL") && *k != "KORE_TOKEN_URL")
            .collect();
        for var in [
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "https_proxy",
            "http_proxy",
        ] {
            shell.push((var, proxy.as_str()));
        }
        shell.push(("NO_PROXY", ""));
        shell.push(("no_proxy", ""));
        let out = simctl_env(&["get", provider, id, "-o", "json"], &shell);
        assert_eq!(code(&out), 2, "{provider}: {}", stderr(&out));
        let text = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
        assert!(
            text.contains("issued by a local sandbox"),
            "{provider}: {text}"
        );
        for (_, secret) in &exported {
            if secret.contains("simsandbox_") {
                assert!(
                    !text.contains(secret.as_str()),
                    "{provider} printed a credential"
                );
            }
        }
    }
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "a connection left for a real provider"
    );
    assert!(sb.stop().success());
}

/// `host:port` of a base URL (`http://127.0.0.1:40108/v1` → `127.0.0.1:40108`).
fn host_port(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    rest.split('/').next().unwrap().to_owned()
}

/// What came back on a raw connection: status, headers (names lowercase), body.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body, which must be exactly `{"error": {"message": "..."}}`: the message.
    fn error_message(&self) -> String {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {:?}", String::from_utf8_lossy(&self.body));
        });
        let message = body["error"]["message"].as_str().unwrap_or_else(|| {
            panic!("no error message: {body}");
        });
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert_eq!(body["error"].as_object().unwrap().len(), 1, "{body}");
        message.to_owned()
    }
}

/// Sends `request` as bytes, exactly, on a new connection and reads the answer to the end.
async fn raw(addr: &str, request: &[u8]) -> RawAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before it has read a body too large to read.
    let _ = stream.write_all(request).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut got),
    )
    .await
    .expect("an answer within 10 s");
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&got)));
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawAnswer {
        status,
        headers,
        body: got[end + 4..].to_vec(),
    }
}

/// `METHOD PATH` with `connection: close`, and a body with its length.
fn request(method: &str, path: &[u8], content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut r = [
        method.as_bytes(),
        b" ",
        path,
        b" HTTP/1.1\r\nhost: admin\r\n",
    ]
    .concat();
    if let Some(ct) = content_type {
        r.extend_from_slice(format!("content-type: {ct}\r\n").as_bytes());
    }
    r.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn every_admin_error_is_the_json_error_with_a_4xx() {
    let sb = Sandbox::start();
    let admin = host_port(&sb.admin());
    let json = Some("application/json");
    let big = vec![b' '; 1024 * 1024 + 1];
    let long_header = [
        b"GET /v1/state HTTP/1.1\r\nhost: admin\r\nx-long: ".as_slice(),
        &vec![b'a'; 512 * 1024],
        b"\r\nconnection: close\r\n\r\n",
    ]
    .concat();
    // (request, status, Allow header, words the message has)
    let cases: Vec<(Vec<u8>, u16, Option<&str>, &str)> = vec![
        // A wrong method on a known path: axum's empty 405.
        (
            request("PUT", b"/v1/clock", None, b""),
            405,
            Some("GET,HEAD"),
            "PUT is not allowed on /v1/clock",
        ),
        (
            request("DELETE", b"/v1/supersim/faults", None, b""),
            405,
            Some("POST"),
            "DELETE is not allowed",
        ),
        (
            request("GET", b"/v1/clock/advance", None, b""),
            405,
            Some("POST"),
            "GET is not allowed",
        ),
        (
            request("PATCH", b"/v1/emnify/requests", json, b"{}"),
            405,
            Some("GET,HEAD,DELETE"),
            "it takes GET,HEAD,DELETE",
        ),
        (
            request("FOO", b"/v1/state", None, b""),
            405,
            Some("GET,HEAD"),
            "FOO is not allowed",
        ),
        // A path that is not UTF-8: percent-encoded (axum's text/plain 400) or raw (hyper's
        // empty 400), on a route or not.
        (
            request("GET", b"/v1/%FF/state", None, b""),
            400,
            None,
            "not valid UTF-8",
        ),
        (
            request(
                "POST",
                b"/v1/%C3%28/faults",
                json,
                b"{\"fault\": \"clear\"}",
            ),
            400,
            None,
            "not valid UTF-8",
        ),
        (
            request("GET", b"/v1/%FF", None, b""),
            400,
            None,
            "not valid UTF-8",
        ),
        (
            request("POST", b"/v1/supersim/sims/%FE%FF/usage", json, b"{}"),
            400,
            None,
            "not valid UTF-8",
        ),
        (
            request("GET", b"/v1/\xff/state", None, b""),
            400,
            None,
            "valid UTF-8",
        ),
        (
            request("GET", b"/v1/\xc3\x28/requests", None, b""),
            400,
            None,
            "valid UTF-8",
        ),
        // A request hyper cannot parse at all.
        (
            b"GET /v1/state HTTP/1.1\r\nbad header\r\n\r\n".to_vec(),
            400,
            None,
            "malformed",
        ),
        (long_header, 431, None, "headers are too large"),
        // An oversized body: axum's text/plain 413.
        (
            request("POST", b"/v1/supersim/faults", json, &big),
            413,
            None,
            "larger than 1048576 bytes",
        ),
        (
            request("POST", b"/v1/clock/advance", json, &big),
            413,
            None,
            "larger than 1048576 bytes",
        ),
        // Not a JSON object where one is required.
        (
            request(
                "POST",
                b"/v1/supersim/faults",
                Some("text/plain"),
                b"drop one",
            ),
            400,
            None,
            "must be a JSON object",
        ),
        (
            request("POST", b"/v1/clock/advance", json, b"[1]"),
            400,
            None,
            "must be a JSON object",
        ),
        (
            request("POST", b"/v1/clock/advance", json, b"{\"seconds\": 1e400}"),
            400,
            None,
            "must be a JSON object",
        ),
        (
            request("POST", b"/v1/emnify/limits", None, b""),
            400,
            None,
            "must be a JSON object",
        ),
        // Unknown paths and names.
        (
            request("GET", b"/v2/state", None, b""),
            404,
            None,
            "no such admin path",
        ),
        (
            request("GET", b"/v1/nokia/state", None, b""),
            404,
            None,
            "no provider \"nokia\"",
        ),
        (
            request("GET", b"/v1/emnify/ledger", None, b""),
            404,
            None,
            "only sixfab keeps a ledger",
        ),
        (
            request("POST", b"/v1/emnify/sims/99/usage", json, b"{}"),
            404,
            None,
            "emnify has no SIM \"99\"",
        ),
    ];
    for (req, status, allow, words) in cases {
        let shown = String::from_utf8_lossy(&req[..req.len().min(60)]).into_owned();
        let answer = raw(&admin, &req).await;
        assert_eq!(answer.status, status, "{shown}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{shown}"
        );
        assert_eq!(answer.header("allow"), allow, "{shown}");
        let message = answer.error_message();
        assert!(message.contains(words), "{shown}: {message}");
    }
    // A HEAD the path does not take: the same status and headers, no body (HTTP's rule).
    let answer = raw(&admin, &request("HEAD", b"/v1/clock/advance", None, b"")).await;
    assert_eq!(
        (
            answer.status,
            answer.header("content-type"),
            answer.header("allow")
        ),
        (405, Some("application/json"), Some("POST"))
    );
    assert!(answer.body.is_empty());
    // Still serving.
    assert_eq!(
        admin_get(&sb, "/v1/clock").await["now"],
        "2026-01-15T09:00:00Z"
    );
    assert_eq!(sb.stop().code(), Some(0));
}

#[tokio::test]
async fn every_number_past_its_bound_is_refused_naming_the_field_and_the_bound() {
    let sb = Sandbox::start();
    // (path, body, the refusal's message)
    let cases = [
        (
            "/v1/supersim/faults",
            json!({"fault": "drop", "count": 18_446_744_073_709_551_615u64}),
            "count must be a whole number from 1 to 10000 (found 18446744073709551615)",
        ),
        (
            "/v1/supersim/faults",
            json!({"fault": "drop", "count": 10_001}),
            "count must be a whole number from 1 to 10000 (found 10001)",
        ),
        (
            "/v1/supersim/faults",
            json!({"fault": "drop", "count": 0}),
            "count must be a whole number from 1 to 10000 (found 0)",
        ),
        (
            "/v1/emnify/faults",
            json!({"fault": "delay", "ms": 5, "count": -1}),
            "count must be a whole number from 1 to 10000 (found -1)",
        ),
        (
            "/v1/emnify/faults",
            json!({"fault": "status", "status": 503, "count": 2.5}),
            "count must be a whole number from 1 to 10000 (found 2.5)",
        ),
        (
            "/v1/emnify/faults",
            json!({"fault": "status", "status": 503, "count": "NaN"}),
            "count must be a whole number from 1 to 10000 (found a string)",
        ),
        (
            "/v1/sixfab/faults",
            json!({"fault": "status", "status": 600}),
            "status must be a whole number from 100 to 599 (found 600)",
        ),
        (
            "/v1/sixfab/faults",
            json!({"fault": "status", "status": 65_939}),
            "status must be a whole number from 100 to 599 (found 65939)",
        ),
        (
            "/v1/sixfab/faults",
            json!({"fault": "status", "status": 503, "body": "x".repeat(65_537)}),
            "body must be at most 65536 bytes (found 65537)",
        ),
        (
            "/v1/edgeiq/faults",
            json!({"fault": "delay", "ms": 600_001}),
            "ms must be a whole number from 0 to 600000 (found 600001)",
        ),
        (
            "/v1/edgeiq/faults",
            json!({"fault": "delay", "ms": 1e300}),
            "ms must be a whole number from 0 to 600000 (found 1e+300)",
        ),
        (
            "/v1/supersim/limits",
            json!({"rate_limit": {"per_second": 1e9}}),
            "rate_limit: per_second must be a number above 0 and at most 1000000",
        ),
        (
            "/v1/supersim/limits",
            json!({"rate_limit": {"per_second": 5, "burst": 4_294_967_296u64}}),
            "rate_limit: burst must be a whole number from 1 to 1000000",
        ),
        (
            "/v1/emnify/limits",
            json!({"list_rate_limit": {"per_second": -1}}),
            "list_rate_limit: per_second must be a number above 0 and at most 1000000",
        ),
        (
            "/v1/emnify/limits",
            json!({"authenticate_limit": {"calls": 4_294_967_296u64, "per_seconds": 300}}),
            "authenticate_limit: calls must be a whole number from 1 to 1000000 (found 4294967296)",
        ),
        (
            "/v1/emnify/limits",
            json!({"authenticate_limit": {"calls": 100, "per_seconds": 18_446_744_073_709_551_615u64}}),
            "authenticate_limit: per_seconds must be a whole number from 1 to 31536000 (found 18446744073709551615)",
        ),
        (
            "/v1/supersim/sims/pump-01/usage",
            json!({"data_kb": 18_446_744_073_709_551_615u64}),
            "data_kb must be a whole number from 0 to 1000000000 (found 18446744073709551615)",
        ),
        (
            "/v1/emnify/sims/1004/usage",
            json!({"sms": 4_294_967_296u64}),
            "sms must be a whole number from 0 to 1000000 (found 4294967296)",
        ),
        (
            "/v1/emnify/sims/1004/usage",
            json!({"sms": -5}),
            "sms must be a whole number from 0 to 1000000 (found -5)",
        ),
        (
            "/v1/clock/advance",
            json!({"seconds": 1e300}),
            "seconds: one move of a sandbox clock goes at most 1200 months ahead (to 2126-01-15 09:00:00 UTC); move again for more",
        ),
        (
            "/v1/clock/advance",
            json!({"seconds": 3_155_760_001u64}),
            "seconds: one move of a sandbox clock goes at most 1200 months ahead (to 2126-01-15 09:00:00 UTC); move again for more",
        ),
        (
            "/v1/clock/advance",
            json!({"seconds": -0.5}),
            "seconds must be a number of 0 or more, at most 1200 months ahead",
        ),
        (
            "/v1/clock/advance",
            json!({"seconds": "NaN"}),
            "seconds must be a number of 0 or more, at most 1200 months ahead",
        ),
        (
            "/v1/clock/advance",
            json!({"to": "2126-01-15T09:00:01Z"}),
            "to: one move of a sandbox clock goes at most 1200 months ahead (to 2126-01-15 09:00:00 UTC); move again for more",
        ),
        (
            "/v1/clock/advance",
            json!({"months": 1_201}),
            "months must be a whole number from 0 to 1200 (found 1201)",
        ),
        (
            "/v1/clock/advance",
            json!({"months": 4_294_967_296u64}),
            "months must be a whole number from 0 to 1200 (found 4294967296)",
        ),
    ];
    for (path, body, message) in cases {
        let (status, answer) = admin_post(&sb, path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer, json!({"error": {"message": message}}), "{path}");
    }
    // Nothing was queued, set or moved by a refusal.
    for p in ["supersim", "emnify", "sixfab", "edgeiq"] {
        let faults = &admin_get(&sb, &format!("/v1/{p}/requests")).await["faults"];
        assert_eq!(faults["drop_next"], 0, "{p}");
        assert_eq!(faults["fail_next"], json!([]), "{p}");
        assert_eq!(faults["delay_next"], 0, "{p}");
        assert_eq!(faults["delay_all_ms"], Value::Null, "{p}");
    }
    let state = admin_get(&sb, "/v1/state").await;
    assert_eq!(state["clock"]["now"], "2026-01-15T09:00:00Z");

    // The bounds themselves are accepted, and a queue fills to its bound and no further.
    for (path, body) in [
        (
            "/v1/supersim/faults",
            json!({"fault": "drop", "count": 10_000}),
        ),
        (
            "/v1/sixfab/faults",
            json!({"fault": "status", "status": 599, "count": 10_000, "body": "x".repeat(65_536)}),
        ),
        (
            "/v1/edgeiq/faults",
            json!({"fault": "delay", "ms": 600_000, "count": 10_000}),
        ),
        (
            "/v1/emnify/limits",
            json!({"authenticate_limit": {"calls": 1_000_000, "per_seconds": 31_536_000}}),
        ),
        (
            "/v1/emnify/sims/1004/usage",
            json!({"data_kb": 1_000_000_000u64, "sms": 1_000_000}),
        ),
        ("/v1/clock/advance", json!({"months": 1_200})),
        // A century of seconds: the 36,524 days from 2126-01-15 to 2226-01-15.
        ("/v1/clock/advance", json!({"seconds": 3_155_673_600u64})),
        ("/v1/clock/advance", json!({"to": "2326-01-15T09:00:00Z"})),
    ] {
        let (status, answer) = admin_post(&sb, path, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let (status, answer) = admin_post(
        &sb,
        "/v1/supersim/faults",
        json!({"fault": "drop", "count": 1}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"]["message"],
        "count: the drop queue covers at most 10000 requests: 10000 wait, so at most 0 more"
    );
    let faults = &admin_get(&sb, "/v1/supersim/requests").await["faults"];
    assert_eq!(faults["drop_next"], 10_000);
    let faults = &admin_get(&sb, "/v1/sixfab/requests").await["faults"];
    assert_eq!(faults["fail_next"].as_array().unwrap().len(), 10_000);
    assert_eq!(faults["fail_body_bytes"], 65_536);
    let faults = &admin_get(&sb, "/v1/edgeiq/requests").await["faults"];
    assert_eq!(
        (faults["delay_next"].clone(), faults["delay_ms"].clone()),
        (json!(10_000), json!(600_000))
    );
    assert_eq!(sb.stop().code(), Some(0));

    // The file's numbers: refused by field and bound, exit 2, before anything listens.
    let dir = TempDir::new("bounds");
    for (file, words) in [
        (
            "[sixfab]\ngenerate = 1000001\n",
            "sixfab.generate is 1000001: at most 1000000",
        ),
        (
            "[supersim]\nschedule_delay_ms = 600001\n",
            "supersim.schedule_delay_ms is 600001: at most 600000",
        ),
        (
            "[emnify]\nsims = [{ id = 9007199254740992 }]\n",
            "it must be from 1 to 9007199254740991",
        ),
        (
            "[edgeiq]\nrate_limit = { per_second = 5.0, burst = 1000001 }\n",
            "edgeiq.rate_limit: burst must be a whole number from 1 to 1000000",
        ),
    ] {
        let config = dir.path("bounds.toml");
        std::fs::write(&config, file).unwrap();
        let out = simctl(&["sandbox", "--config", config.to_str().unwrap()]);
        assert_eq!(code(&out), 2, "{file}");
        assert!(stderr(&out).contains(words), "{file}: {}", stderr(&out));
    }
    let out = simctl(&["sandbox", "--port-base", "65532"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("at most 65531"), "{}", stderr(&out));
}

#[tokio::test]
async fn sigterm_or_ctrl_c_stops_the_sandbox_within_seconds_whatever_its_connections_do() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for signal in ["-TERM", "-INT"] {
        let mut sb = Sandbox::start();
        let mut addrs = vec![host_port(&sb.admin())];
        for p in ["supersim", "emnify", "sixfab", "edgeiq"] {
            addrs.push(host_port(sb.provider(p)["base_url"].as_str().unwrap()));
        }
        let mut held = Vec::new();
        for addr in &addrs {
            // Headers sent, the body not: the server waits for the other 95 bytes.
            let mut half_body = tokio::net::TcpStream::connect(addr).await.unwrap();
            half_body
                .write_all(b"POST /v1/clock/advance HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"mon")
                .await
                .unwrap();
            // Half a request line.
            let mut half_head = tokio::net::TcpStream::connect(addr).await.unwrap();
            half_head.write_all(b"GET /v1/cl").await.unwrap();
            // Connected, nothing sent.
            let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
            // A request answered, the connection kept alive.
            let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
            kept.write_all(b"GET /v1/clock HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 16];
            let n = kept.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 "), "{addr}");
            held.extend([half_body, half_head, silent, kept]);
        }
        // A provider request held by an injected delay of ten minutes.
        let (status, _) = admin_post(
            &sb,
            "/v1/emnify/faults",
            json!({"fault": "delay", "ms": 600_000}),
        )
        .await;
        assert_eq!(status, 200);
        let mut delayed = tokio::net::TcpStream::connect(&addrs[2]).await.unwrap();
        delayed
            .write_all(b"GET /api/v1/sim HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        held.push(delayed);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;

        let started = std::time::Instant::now();
        let sent = Command::new("kill")
            .args([signal, &sb.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        // A liveness bound, not a performance figure: the grace period is 2 s.
        let status = loop {
            if let Some(status) = sb.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "{signal}: still running 5 s after the signal, its connections held open"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(status.code(), Some(0), "{signal}");
        // Every connection it held is closed.
        for mut stream in held {
            let mut rest = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                stream.read_to_end(&mut rest),
            )
            .await;
            assert!(read.is_ok(), "{signal}: a connection is still open");
        }
    }
}
