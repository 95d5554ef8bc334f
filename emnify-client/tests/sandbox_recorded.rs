//! The sandbox's SIM answers against emnify's recorded ones (`tests/specs/emnify_sim_fixtures.json`,
//! see `tests/specs/SOURCES.md`), key by key: for every recorded SIM, a sandbox SIM seeded in the
//! same state answers `GET /api/v1/sim/{id}` and `GET /api/v1/sim` with every key the recording
//! has, at every level, with the same JSON type; and leaves out the keys emnify leaves out when
//! empty exactly where the recording does.

use emnify_client::sandbox::{ENTERPRISE_ORG, RESELLER_ORG, Sandbox, SandboxEndpoint, SimSeed};
use serde_json::Value;

/// The keys emnify omits when they are empty.
const OMITTED_WHEN_EMPTY: &[&str] = &[
    "activation_date",
    "reseller_org",
    "customer_org",
    "endpoint",
    "eid",
];

/// Every SIM of a recorded 200 answer to `GET /api/v1/sim…`, and the recorded list headers.
fn recorded() -> (Vec<Value>, Vec<String>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/specs/emnify_sim_fixtures.json"
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut sims = Vec::new();
    let mut headers = Vec::new();
    for case in all["cases"].as_array().unwrap() {
        let uri = case["request"]["uri"].as_str().unwrap();
        if case["request"]["method"] != "GET"
            || !uri.contains("/api/v1/sim")
            || case["response"]["status"] != 200
        {
            continue;
        }
        match &case["response"]["body"] {
            Value::Array(items) => {
                sims.extend(items.iter().cloned());
                if let Some(h) = case["response"]["headers"].as_object() {
                    headers.extend(h.keys().cloned());
                }
            }
            one => sims.push(one.clone()),
        }
    }
    assert!(sims.len() >= 13 && !headers.is_empty());
    (sims, headers)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `real` is in `ours` with the same JSON type, recursively; what differs, by path.
fn missing(real: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    if kind(real) != kind(ours) {
        out.push(format!(
            "{path}: {} in the recording, {} here",
            kind(real),
            kind(ours)
        ));
        return;
    }
    match (real, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, rv) in r {
                match o.get(k) {
                    Some(ov) => missing(rv, ov, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: missing ({})", kind(rv))),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(rv), Some(ov)) = (r.first(), o.first()) {
                missing(rv, ov, &format!("{path}[0]"), out);
            }
        }
        _ => {}
    }
}

/// A seed in the state of a recorded SIM.
fn seed_like(real: &Value) -> SimSeed {
    let mut seed = SimSeed::new()
        .id(real["id"].as_u64().unwrap())
        .status(real["status"]["id"].as_i64().unwrap());
    if let Some(iccid) = real["iccid"].as_str() {
        seed = seed.iccid(iccid);
    }
    if let Some(eid) = real["eid"].as_str() {
        seed = seed.eid(eid);
    }
    if real.get("customer_org").is_some() {
        seed = seed.customer_org(ENTERPRISE_ORG);
    }
    if real.get("reseller_org").is_some() {
        seed = seed.reseller_org(RESELLER_ORG);
    }
    if let Some(e) = real.get("endpoint") {
        let mut endpoint =
            SandboxEndpoint::new(e["id"].as_u64().unwrap(), e["name"].as_str().unwrap());
        if let Some(tags) = e["tags"].as_str() {
            endpoint = endpoint.tags(tags);
        }
        if let Some(imei) = e["imei"].as_str() {
            endpoint = endpoint.imei(imei);
        }
        seed = seed.with_endpoint(endpoint);
    }
    seed
}

async fn token(sandbox: &Sandbox, http: &reqwest::Client) -> String {
    let body = serde_json::json!({"application_token": sandbox.application_token()}).to_string();
    let resp = http
        .post(format!("{}/api/v1/authenticate", sandbox.base_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    v["auth_token"].as_str().unwrap().to_owned()
}

async fn get(
    http: &reqwest::Client,
    url: String,
    token: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let resp = http
        .get(url)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let headers = resp.headers().clone();
    (
        headers,
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn the_sandbox_answers_every_key_a_recorded_sim_has() {
    let (sims, list_headers) = recorded();
    // One SIM is recorded in two states (suspended, then activated with an endpoint): each
    // round seeds a fresh sandbox with SIMs of distinct ids.
    let mut rounds: Vec<Vec<&Value>> = Vec::new();
    for real in &sims {
        let id = &real["id"];
        match rounds.iter_mut().find(|r| r.iter().all(|s| &s["id"] != id)) {
            Some(round) => round.push(real),
            None => rounds.push(vec![real]),
        }
    }
    let http = reqwest::Client::new();
    let mut problems = Vec::new();
    for round in rounds {
        let sandbox = Sandbox::start().await.unwrap();
        let token = token(&sandbox, &http).await;
        for real in &round {
            sandbox.seed_sim(seed_like(real));
        }
        let (headers, list) =
            get(&http, format!("{}/api/v1/sim", sandbox.base_url()), &token).await;
        for h in &list_headers {
            assert!(headers.contains_key(h.as_str()), "list header {h} missing");
        }
        let list = list.as_array().unwrap().clone();
        for real in round {
            let id = real["id"].as_u64().unwrap();
            let url = format!("{}/api/v1/sim/{id}", sandbox.base_url());
            let (_, one) = get(&http, url, &token).await;
            let listed = list
                .iter()
                .find(|s| s["id"].as_u64() == Some(id))
                .unwrap_or_else(|| panic!("SIM {id} is not listed"));
            for (what, ours) in [("GET /sim/{id}", &one), ("GET /sim", listed)] {
                missing(real, ours, &format!("{what} {id}"), &mut problems);
                for key in OMITTED_WHEN_EMPTY {
                    let (theirs, here) = (real.get(*key).is_some(), ours.get(*key).is_some());
                    if theirs != here {
                        let word = |b: bool| if b { "present" } else { "left out" };
                        problems.push(format!(
                            "{what} {id}: {key} is {} in the recording, {} here",
                            word(theirs),
                            word(here)
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn the_list_pages_by_id() {
    let sandbox = Sandbox::start().await.unwrap();
    let http = reqwest::Client::new();
    let token = token(&sandbox, &http).await;
    for id in [30, 10, 20] {
        sandbox.seed_sim(SimSeed::new().id(id));
    }
    let base = sandbox.base_url();
    let (h, page) = get(
        &http,
        format!("{base}/api/v1/sim?page=2&per_page=2"),
        &token,
    )
    .await;
    let ids: Vec<u64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [30]);
    let header = |name: &str| h[name].to_str().unwrap().to_owned();
    assert_eq!(header("x-total-count"), "3");
    assert_eq!(header("x-total-pages"), "2");
    assert_eq!(header("x-current-page"), "2");
    assert_eq!(header("x-count-per-page"), "2");
    let resp = http
        .get(format!("{base}/api/v1/sim?per_page=0"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = http.get(format!("{base}/api/v1/sim")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}
