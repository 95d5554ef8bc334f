//! The four provider sandboxes, started together on one shared clock and seeded from the
//! configuration (or the default fleet).

use std::collections::HashSet;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use simsandbox::{Clock, RecordedRequest, SandboxAdmin, SandboxServer};

use crate::config::{ClockMode, Config};
use crate::exit::Failure;

/// The providers, in port order: provider `i` listens on `--port-base` + `i`.
pub const PROVIDERS: [&str; 4] = ["supersim", "emnify", "sixfab", "edgeiq"];

/// The admin API's offset from `--port-base`.
pub const ADMIN_OFFSET: u16 = 4;

/// The paths whose request bodies carry credentials: the admin API shows them redacted.
const CREDENTIAL_PATHS: [&str; 3] = [
    supersim_client::sandbox::TOKEN_PATH,
    "/api/v1/authenticate",
    "/api/v1/platform/user/authenticate",
];

/// The four running sandboxes. They stop when this is dropped.
pub struct Sandboxes {
    /// The clock every sandbox keeps time by.
    pub clock: Clock,
    /// Super SIM, in KORE's or Twilio's dialect.
    pub supersim: supersim_client::sandbox::Sandbox,
    /// emnify.
    pub emnify: emnify_client::sandbox::Sandbox,
    /// Sixfab Connect.
    pub sixfab: sixfab_client::sandbox::Sandbox,
    /// EdgeIQ.
    pub edgeiq: edgeiq_client::sandbox::Sandbox,
}

impl Sandboxes {
    /// Starts the four sandboxes: on `port_base + i` when a base is given (not 0), else on
    /// ephemeral ports; seeded from `config`.
    pub async fn start(config: &Config, port_base: Option<u16>) -> Result<Sandboxes, Failure> {
        let port = |i: u16| -> Result<u16, Failure> {
            match port_base {
                None | Some(0) => Ok(0),
                Some(base) => base.checked_add(i).ok_or_else(|| {
                    Failure::usage(format!(
                        "--port-base {base} leaves no room for five ports (at most {})",
                        crate::bounds::MAX_PORT_BASE
                    ))
                }),
            }
        };
        // Check the admin port fits before binding anything.
        port(ADMIN_OFFSET)?;
        let clock = match config.clock.mode {
            ClockMode::Real => Clock::real(),
            ClockMode::Virtual => config
                .clock
                .start
                .map_or_else(Clock::virtual_now, Clock::virtual_at),
            ClockMode::Frozen => {
                Clock::frozen_at(config.clock.start.unwrap_or_else(chrono::Utc::now))
            }
        };
        let bind = |name: &'static str, p: u16| {
            move |e: std::io::Error| {
                Failure::error(format!(
                    "the {name} sandbox could not listen on 127.0.0.1:{p}: {e}"
                ))
            }
        };

        let s = &config.supersim;
        let mut options = match s.dialect.as_deref().unwrap_or("kore") {
            "kore" => supersim_client::sandbox::SandboxOptions::kore(),
            "twilio" => supersim_client::sandbox::SandboxOptions::new(),
            other => {
                return Err(Failure::usage(format!(
                    "invalid supersim.dialect: must be kore or twilio (found {other:?})"
                )));
            }
        };
        options = options
            .clock(clock.clone())
            .port(port(0)?)
            .schedule_delay(Duration::from_millis(s.schedule_delay_ms.unwrap_or(50)));
        if let Some(r) = s.rate_limit {
            options = options.rate_limit(r.per_second, r.limit().burst);
        }
        let supersim = supersim_client::sandbox::Sandbox::start_with(options)
            .await
            .map_err(bind("supersim", port(0)?))?;
        seed_supersim(&supersim, config)?;

        let emnify =
            emnify_client::sandbox::Sandbox::start_with(emnify_client::sandbox::SandboxOptions {
                rate_limit: config.emnify.rate_limit.map(|r| r.limit()),
                clock: clock.clone(),
                port: port(1)?,
                ..Default::default()
            })
            .await
            .map_err(bind("emnify", port(1)?))?;
        seed_emnify(&emnify, config)?;

        let sixfab =
            sixfab_client::sandbox::Sandbox::start_with(sixfab_client::sandbox::SandboxOptions {
                rate_limit: config.sixfab.rate_limit.map(|r| r.limit()),
                clock: clock.clone(),
                port: port(2)?,
                ..Default::default()
            })
            .await
            .map_err(bind("sixfab", port(2)?))?;
        seed_sixfab(&sixfab, config)?;

        let edgeiq =
            edgeiq_client::sandbox::Sandbox::start_with(edgeiq_client::sandbox::SandboxOptions {
                rate_limit: config.edgeiq.rate_limit.map(|r| r.limit()),
                clock: clock.clone(),
                port: port(3)?,
                ..Default::default()
            })
            .await
            .map_err(bind("edgeiq", port(3)?))?;
        seed_edgeiq(&edgeiq, config)?;

        Ok(Sandboxes {
            clock,
            supersim,
            emnify,
            sixfab,
            edgeiq,
        })
    }

    /// Stops the four sandboxes' servers at once and waits until they have: each gives the
    /// requests in flight [`simsandbox::SHUTDOWN_GRACE`], then closes every connection still
    /// open.
    pub async fn shutdown(&self) {
        tokio::join!(
            self.supersim.server().shutdown(),
            self.emnify.server().shutdown(),
            self.sixfab.server().shutdown(),
            self.edgeiq.server().shutdown(),
        );
    }

    /// The Super SIM sandbox's dialect, as the SDK names the provider (`kore`, `twilio`).
    pub fn supersim_dialect(&self) -> &'static str {
        match self.supersim.dialect() {
            supersim_client::sandbox::Dialect::Twilio => "twilio",
            _ => "kore",
        }
    }

    /// Each provider's base URL, throwaway credentials and the environment a client would
    /// set, as the startup line and `GET /v1/providers` show them.
    pub fn describe(&self) -> Value {
        let s = &self.supersim;
        let supersim = if self.supersim_dialect() == "kore" {
            json!({
                "dialect": "kore",
                "base_url": s.base_url(),
                "token_url": s.token_url(),
                "client_id": s.client_id(),
                "client_secret": s.client_secret().expose_secret(),
                "env": {
                    "KORE_CLIENT_ID": s.client_id(),
                    "KORE_CLIENT_SECRET": s.client_secret().expose_secret(),
                    "SUPERSIM_BASE_URL": s.base_url(),
                    "KORE_TOKEN_URL": s.token_url(),
                },
            })
        } else {
            json!({
                "dialect": "twilio",
                "base_url": s.base_url(),
                "account_sid": s.account_sid(),
                "auth_token": s.auth_token().expose_secret(),
                "env": {
                    "TWILIO_ACCOUNT_SID": s.account_sid(),
                    "TWILIO_AUTH_TOKEN": s.auth_token().expose_secret(),
                    "SUPERSIM_BASE_URL": s.base_url(),
                },
            })
        };
        json!({
            "supersim": supersim,
            "emnify": {
                "base_url": self.emnify.base_url(),
                "application_token": self.emnify.application_token(),
                "env": {
                    "EMNIFY_APPLICATION_TOKEN": self.emnify.application_token(),
                    "EMNIFY_BASE_URL": self.emnify.base_url(),
                },
            },
            "sixfab": {
                "base_url": self.sixfab.base_url(),
                "api_key": self.sixfab.api_key(),
                "env": {
                    "SIXFAB_API_KEY": self.sixfab.api_key(),
                    "SIXFAB_BASE_URL": self.sixfab.base_url(),
                },
            },
            "edgeiq": {
                "base_url": self.edgeiq.base_url(),
                "api_token": self.edgeiq.api_token(),
                "env": {
                    "EDGEIQ_API_TOKEN": self.edgeiq.api_token(),
                    "EDGEIQ_BASE_URL": self.edgeiq.base_url(),
                },
            },
        })
    }

    /// A provider's sandbox, as every sandbox shows itself to an admin view.
    pub fn admin(&self, provider: &str) -> Option<&dyn SandboxAdmin> {
        Some(match provider {
            "supersim" => &self.supersim,
            "emnify" => &self.emnify,
            "sixfab" => &self.sixfab,
            "edgeiq" => &self.edgeiq,
            _ => return None,
        })
    }

    /// The server under a provider's sandbox (request log, faults, rate limit).
    pub fn server(&self, provider: &str) -> Option<&SandboxServer> {
        self.admin(provider).map(SandboxAdmin::server)
    }

    /// A provider's SIMs (Sixfab: assets and its ledger) and the state its rules keep, as the
    /// sandbox holds them now (its own admin snapshot).
    pub fn state(&self, provider: &str) -> Option<Value> {
        self.admin(provider).map(SandboxAdmin::state_json)
    }
}

/// A recorded request as the admin API shows it: secret headers left out, bodies of the
/// credential paths redacted.
pub fn request_json(r: &RecordedRequest) -> Value {
    let mut json = r.redacted_json();
    // What a service sent is what a test wants to see; only a credential path's body is kept
    // back (an authenticate call carries the token or secret).
    json["body"] = if r.body.is_empty() {
        Value::Null
    } else if CREDENTIAL_PATHS.contains(&r.path.as_str()) {
        Value::from("[redacted]")
    } else {
        Value::from(r.body_text())
    };
    json
}

fn supersim_status(word: &str) -> Result<supersim_client::sandbox::SimStatus, Failure> {
    use supersim_client::sandbox::SimStatus;
    match SimStatus::parse(word) {
        Some(SimStatus::Scheduled) | None => Err(Failure::usage(format!(
            "invalid supersim status in the config: must be new, ready, active or inactive (found {word:?})"
        ))),
        Some(s) => Ok(s),
    }
}

fn seed_supersim(
    sandbox: &supersim_client::sandbox::Sandbox,
    config: &Config,
) -> Result<(), Failure> {
    use supersim_client::sandbox::{SimSeed, SimStatus};
    let s = &config.supersim;
    let mut seeds = Vec::new();
    match &s.sims {
        Some(sims) => {
            let mut names = HashSet::new();
            for sim in sims {
                let mut seed = SimSeed::new();
                if let Some(n) = &sim.unique_name {
                    if !names.insert(n.clone()) {
                        return Err(Failure::usage(format!(
                            "supersim.sims: the unique name {n:?} is given twice"
                        )));
                    }
                    seed = seed.unique_name(n);
                }
                if let Some(sid) = &sim.sid {
                    let ok = sid.len() == 34
                        && sid.starts_with("HS")
                        && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
                    if !ok {
                        return Err(Failure::usage(format!(
                            "supersim.sims: a sid must be HS and 32 hex digits (found {sid:?})"
                        )));
                    }
                    seed = seed.sid(sid);
                }
                if let Some(i) = &sim.iccid {
                    seed = seed.iccid(i);
                }
                if let Some(st) = &sim.status {
                    seed = seed.status(supersim_status(st)?);
                }
                seeds.push(seed);
            }
        }
        None => {
            // The default fleet: one SIM in each state a Super SIM can be seeded in.
            for (name, status) in [
                ("pump-01", SimStatus::Ready),
                ("pump-02", SimStatus::Active),
                ("pump-03", SimStatus::Inactive),
                ("pump-04", SimStatus::New),
            ] {
                seeds.push(SimSeed::new().unique_name(name).status(status));
            }
        }
    }
    let cycle = [
        SimStatus::New,
        SimStatus::Ready,
        SimStatus::Active,
        SimStatus::Inactive,
    ];
    for i in 0..s.generate as usize {
        seeds.push(SimSeed::new().status(cycle[i % cycle.len()]));
    }
    guard("supersim", || {
        sandbox.seed_sims(seeds);
    })
}

fn emnify_status(word: &str) -> Result<i64, Failure> {
    Ok(match word.to_ascii_lowercase().as_str() {
        "issued" | "new" => 0,
        "activated" | "active" => 1,
        "suspended" | "inactive" => 2,
        "factory_test" | "factory test" | "ready" => 4,
        _ => {
            return Err(Failure::usage(format!(
                "invalid emnify status in the config: must be issued, activated, suspended or factory_test (found {word:?})"
            )));
        }
    })
}

fn seed_emnify(sandbox: &emnify_client::sandbox::Sandbox, config: &Config) -> Result<(), Failure> {
    use emnify_client::sandbox::SimSeed;
    let e = &config.emnify;
    let mut seeds = Vec::new();
    match &e.sims {
        Some(sims) => {
            for sim in sims {
                let mut seed = SimSeed::new();
                if let Some(id) = sim.id {
                    seed = seed.id(id);
                }
                if let Some(i) = &sim.iccid {
                    seed = seed.iccid(i);
                }
                if let Some(st) = &sim.status {
                    seed = seed.status(emnify_status(st)?);
                }
                seeds.push(seed);
            }
        }
        None => {
            // Issued, Activated, Suspended and Factory Test.
            for (id, status) in [(1001, 0), (1002, 1), (1003, 2), (1004, 4)] {
                seeds.push(SimSeed::new().id(id).status(status));
            }
        }
    }
    for i in 0..e.generate as usize {
        seeds.push(SimSeed::new().status([0, 1, 2, 4][i % 4]));
    }
    guard("emnify", || {
        sandbox.seed_sims(seeds);
    })
}

fn seed_sixfab(sandbox: &sixfab_client::sandbox::Sandbox, config: &Config) -> Result<(), Failure> {
    use sixfab_client::sandbox::{AssetSeed, SandboxStatus};
    let status = |word: &str| match word {
        "active" => Ok(SandboxStatus::Active),
        "inactive" => Ok(SandboxStatus::Inactive),
        other => Err(Failure::usage(format!(
            "invalid sixfab status in the config: must be active or inactive (found {other:?})"
        ))),
    };
    let f = &config.sixfab;
    let mut seeds = Vec::new();
    match &f.assets {
        Some(assets) => {
            let mut serials = HashSet::new();
            for a in assets {
                let mut seed = AssetSeed::new();
                if let Some(sn) = &a.serial_number {
                    if !serials.insert(sn.clone()) {
                        return Err(Failure::usage(format!(
                            "sixfab.assets: the serial number {sn:?} is given twice"
                        )));
                    }
                    seed = seed.serial_number(sn);
                }
                if let Some(n) = &a.name {
                    seed = seed.name(n);
                }
                if let Some(st) = &a.status {
                    seed = seed.status(status(st)?);
                }
                seeds.push(seed);
            }
        }
        None => {
            for (sn, st) in [
                ("SN-ALPON-001", SandboxStatus::Inactive),
                ("SN-ALPON-002", SandboxStatus::Active),
                ("SN-ALPON-003", SandboxStatus::Inactive),
            ] {
                seeds.push(AssetSeed::new().serial_number(sn).status(st));
            }
        }
    }
    for i in 0..f.generate as usize {
        let st = if i % 2 == 0 {
            SandboxStatus::Inactive
        } else {
            SandboxStatus::Active
        };
        seeds.push(AssetSeed::new().status(st));
    }
    guard("sixfab", || {
        sandbox.seed_assets(seeds);
    })
}

fn seed_edgeiq(sandbox: &edgeiq_client::sandbox::Sandbox, config: &Config) -> Result<(), Failure> {
    use edgeiq_client::sandbox::SimSeed;
    let q = &config.edgeiq;
    let mut seeds = Vec::new();
    match &q.sims {
        Some(sims) => {
            for sim in sims {
                let mut seed = SimSeed::new();
                if let Some(id) = &sim.id {
                    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(Failure::usage(format!(
                            "edgeiq.sims: an id must be 24 hex digits (found {id:?})"
                        )));
                    }
                    seed = seed.id(id);
                }
                if let Some(i) = &sim.iccid {
                    seed = seed.iccid(i.clone());
                }
                if let Some(st) = &sim.status {
                    seed = seed.status(st.clone());
                }
                seeds.push(seed);
            }
        }
        None => {
            for (id, st) in [
                ("65a1f0c2e4b0000000000001", "active"),
                ("65a1f0c2e4b0000000000002", "inactive"),
                ("65a1f0c2e4b0000000000003", "suspended"),
            ] {
                seeds.push(SimSeed::new().id(id).status(st));
            }
        }
    }
    for i in 0..q.generate as usize {
        seeds.push(SimSeed::new().status(if i % 2 == 0 { "active" } else { "inactive" }));
    }
    guard("edgeiq", || {
        sandbox.seed_sims(seeds);
    })
}

/// Runs a seeding step; a seed the sandbox refuses (it panics on ids it cannot hold) is a
/// configuration error rather than a crash.
fn guard(provider: &str, f: impl FnOnce()) -> Result<(), Failure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a seed it cannot hold".to_owned());
        Failure::usage(format!(
            "the {provider} sandbox refused the config's SIMs: {why}"
        ))
    })
}
