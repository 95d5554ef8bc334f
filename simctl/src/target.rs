//! Where a verb sends its requests: the real providers (credentials from the environment), a
//! running `simctl sandbox` (its admin URL), or a sandbox started in this process for one
//! command.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use simcore::SimProvider;
use simfleet::rows::ProviderId;

use crate::config::Config;
use crate::exit::Failure;
use crate::sandbox::Sandboxes;

/// The environment variable that points every verb at a running sandbox, as `--sandbox` does.
pub const SANDBOX_ENV: &str = "SIMCTL_SANDBOX";

/// Where the requests go.
pub enum Target {
    /// The real providers.
    Real,
    /// A running `simctl sandbox`: its providers as its admin API describes them.
    Remote {
        /// `GET /v1/providers`' `providers` object.
        providers: Value,
    },
    /// Sandboxes started in this process, stopped when the command ends.
    Local(Box<Sandboxes>),
}

impl Target {
    /// Resolves `--sandbox` (or [`SANDBOX_ENV`]): absent is the real providers, `auto` starts
    /// sandboxes here, anything else is the admin URL of a running one.
    pub async fn resolve(sandbox: Option<&str>) -> Result<Target, Failure> {
        let env = std::env::var(SANDBOX_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let Some(given) = sandbox.map(str::to_owned).or(env) else {
            return Ok(Target::Real);
        };
        if given == "auto" {
            let sandboxes = Sandboxes::start(&Config::default(), None).await?;
            return Ok(Target::Local(Box::new(sandboxes)));
        }
        let admin = given.trim_end_matches('/').to_owned();
        let url = url_on_loopback(&admin)?;
        let providers = fetch_providers(&url).await?;
        Ok(Target::Remote { providers })
    }

    /// Whether the requests go to the real providers (writes then ask for confirmation).
    pub fn is_real(&self) -> bool {
        matches!(self, Target::Real)
    }

    /// The provider `name` names (`supersim`, `kore`, `twilio`, `emnify`, `sixfab`, `edgeiq`).
    pub fn provider(&self, name: &str) -> Result<Arc<dyn SimProvider>, Failure> {
        let name = name.to_ascii_lowercase();
        match self {
            Target::Real => real(&name),
            Target::Remote { providers, .. } => remote(providers, &name),
            Target::Local(s) => {
                let p = canonical(&name)?;
                let dialect = s.supersim_dialect();
                check_dialect(&name, dialect)?;
                Ok(match p {
                    "supersim" => Arc::new(s.supersim.client()),
                    "emnify" => Arc::new(s.emnify.client()),
                    "sixfab" => Arc::new(s.sixfab.client()),
                    _ => Arc::new(s.edgeiq.client()),
                })
            }
        }
    }

    /// A provider for each name that names one, keyed by the name the provider gives itself
    /// (what plan rows carry). A name that is no provider is left out, so the plan refuses
    /// its rows; a known provider that cannot be reached (no credentials) is an error.
    pub fn providers<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeMap<String, Arc<dyn SimProvider>>, Failure> {
        let mut out = BTreeMap::new();
        for name in names {
            if canonical(name).is_err() {
                continue;
            }
            let p = self.provider(name)?;
            out.insert(p.name().to_owned(), p);
        }
        Ok(out)
    }
}

/// The sandbox a provider name stands for, by the library's one rule for provider ids
/// ([`ProviderId::parse`]: any case, with aliases such as `super-sim`).
fn canonical(name: &str) -> Result<&'static str, Failure> {
    match ProviderId::parse(name) {
        Some(ProviderId::SuperSim) => Ok("supersim"),
        Some(ProviderId::Emnify) => Ok("emnify"),
        Some(ProviderId::Sixfab) => Ok("sixfab"),
        Some(ProviderId::EdgeIq) => Ok("edgeiq"),
        _ => Err(Failure::usage(format!(
            "unknown provider {name:?}: one of supersim (kore or twilio), emnify, sixfab, edgeiq"
        ))),
    }
}

/// A sandbox speaks one Super SIM dialect: asking it for the other is a usage error.
fn check_dialect(asked: &str, dialect: &str) -> Result<(), Failure> {
    // The dialect names are aliases of `supersim`; a name that is one of them asks for it.
    let folded: String = asked
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect();
    let asked = if folded.starts_with("kore") {
        "kore"
    } else if folded.starts_with("twilio") {
        "twilio"
    } else {
        return Ok(());
    };
    if asked != dialect {
        return Err(Failure::usage(format!(
            "the sandbox serves Super SIM as {dialect}, not {asked}: name the provider {dialect} or supersim"
        )));
    }
    Ok(())
}

fn url_on_loopback(admin: &str) -> Result<String, Failure> {
    let parsed = url::Url::parse(admin)
        .map_err(|e| Failure::usage(format!("--sandbox {admin:?} is not a URL: {e}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if parsed.scheme() != "http" || !loopback {
        return Err(Failure::usage(format!(
            "--sandbox must be the http:// loopback admin URL `simctl sandbox` printed (found {admin:?})"
        )));
    }
    Ok(format!("{admin}/v1/providers"))
}

async fn fetch_providers(url: &str) -> Result<Value, Failure> {
    let unreachable = |e: &dyn std::fmt::Display| {
        Failure::error(format!(
            "no sandbox answers at {url}: {e} (start one with `simctl sandbox`)"
        ))
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| unreachable(&e))?;
    let resp = client.get(url).send().await.map_err(|e| unreachable(&e))?;
    if !resp.status().is_success() {
        return Err(unreachable(&format!("HTTP {}", resp.status().as_u16())));
    }
    let bytes = resp.bytes().await.map_err(|e| unreachable(&e))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| unreachable(&e))?;
    v.get("providers")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| unreachable(&"the answer has no providers"))
}

fn text<'a>(v: &'a Value, provider: &str, key: &str) -> Result<&'a str, Failure> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::error(format!("the sandbox did not describe {provider}'s {key}")))
}

fn remote(providers: &Value, name: &str) -> Result<Arc<dyn SimProvider>, Failure> {
    let p = canonical(name)?;
    let v = &providers[p];
    let base = text(v, p, "base_url")?;
    Ok(match p {
        "supersim" => {
            let dialect = text(v, p, "dialect")?;
            check_dialect(name, dialect)?;
            let builder = supersim_client::Client::builder().base_url(base);
            let builder = if dialect == "kore" {
                builder
                    .kore(
                        text(v, p, "client_id")?.to_owned(),
                        text(v, p, "client_secret")?.to_owned(),
                    )
                    .kore_token_url(text(v, p, "token_url")?)
            } else {
                builder.account(
                    text(v, p, "account_sid")?.to_owned(),
                    text(v, p, "auth_token")?.to_owned(),
                )
            };
            Arc::new(builder.build()?)
        }
        "emnify" => Arc::new(
            emnify_client::Client::builder()
                .base_url(base)
                .application_token(text(v, p, "application_token")?.to_owned())
                .build()?,
        ),
        "sixfab" => Arc::new(
            sixfab_client::Client::builder()
                .base_url(base)
                .api_key(text(v, p, "api_key")?.to_owned())
                .build()?,
        ),
        _ => Arc::new(
            edgeiq_client::ClientBuilder::new()
                .base_url(base)
                .api_token(text(v, p, "api_token")?.to_owned())
                .build()?,
        ),
    })
}

/// A real provider, from the environment exactly as its client's `from_env()` reads it: the
/// credentials, and the base URL from `SUPERSIM_BASE_URL`, `EMNIFY_BASE_URL`, `SIXFAB_BASE_URL`
/// or `EDGEIQ_BASE_URL` (and `KORE_TOKEN_URL`) when set. A sandbox's credential with no loopback
/// base URL beside it is refused by the client, before anything is sent.
fn real(name: &str) -> Result<Arc<dyn SimProvider>, Failure> {
    let p = canonical(name)?;
    Ok(match p {
        "supersim" => {
            let client = supersim_client::Client::from_env()?;
            check_dialect(name, client.dialect().as_str())?;
            Arc::new(client)
        }
        "emnify" => Arc::new(emnify_client::Client::from_env()?),
        "sixfab" => Arc::new(sixfab_client::Client::from_env()?),
        _ => Arc::new(edgeiq_client::Client::from_env()?),
    })
}
