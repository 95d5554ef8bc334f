//! The sandbox's configuration file (`simctl sandbox --config FILE`), TOML or JSON by its
//! extension, and the default fleet when no file (or no section for a provider) is given.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::exit::Failure;

/// The whole file. Every section is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The shared clock.
    #[serde(default)]
    pub clock: ClockConfig,
    /// The Super SIM sandbox.
    #[serde(default)]
    pub supersim: SuperSimConfig,
    /// The emnify sandbox.
    #[serde(default)]
    pub emnify: EmnifyConfig,
    /// The Sixfab sandbox.
    #[serde(default)]
    pub sixfab: SixfabConfig,
    /// The EdgeIQ sandbox.
    #[serde(default)]
    pub edgeiq: EdgeiqConfig,
}

/// How the shared clock runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// Where it starts (RFC 3339); the real time by default.
    pub start: Option<DateTime<Utc>>,
    /// `virtual` (the default: runs at real speed, can be moved forward), `frozen` (stands
    /// still between moves) or `real` (cannot be moved).
    #[serde(default)]
    pub mode: ClockMode,
}

/// See [`ClockConfig::mode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// Runs at real speed from its start; moved forward by the admin API.
    #[default]
    Virtual,
    /// Stands still between moves.
    Frozen,
    /// The real time: cannot be moved.
    Real,
}

/// A rate limit as the file gives it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Burst size (default: the per-second figure, at least 1).
    pub burst: Option<u32>,
    /// Whether the 429 carries `Retry-After` (where the provider sends one).
    #[serde(default)]
    pub retry_after: bool,
}

impl RateLimitConfig {
    /// As simcore's rate limit.
    pub fn limit(&self) -> simcore::sandbox::RateLimit {
        simcore::sandbox::RateLimit {
            per_second: self.per_second,
            burst: self
                .burst
                .unwrap_or_else(|| self.per_second.ceil().max(1.0) as u32),
            retry_after: self.retry_after,
        }
    }
}

/// The Super SIM sandbox.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperSimConfig {
    /// `kore` (the default, as the SDK's default) or `twilio`.
    pub dialect: Option<String>,
    /// How long a scheduled change takes to land, in milliseconds (50 by default).
    pub schedule_delay_ms: Option<u64>,
    /// A rate limit from the start.
    pub rate_limit: Option<RateLimitConfig>,
    /// The SIMs to seed (the default fleet when absent).
    pub sims: Option<Vec<SuperSimSeed>>,
    /// How many more SIMs to seed, in turn `new`, `ready`, `active`, `inactive`.
    #[serde(default)]
    pub generate: u32,
}

/// A Super SIM to seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuperSimSeed {
    /// Its unique name.
    pub unique_name: Option<String>,
    /// Its SID (`HS` + 32 hex digits; made up when absent).
    pub sid: Option<String>,
    /// Its ICCID (made up when absent).
    pub iccid: Option<String>,
    /// `new` (the default), `ready`, `active` or `inactive`.
    pub status: Option<String>,
}

/// The emnify sandbox.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmnifyConfig {
    /// A rate limit from the start, over every path.
    pub rate_limit: Option<RateLimitConfig>,
    /// The SIMs to seed (the default fleet when absent).
    pub sims: Option<Vec<EmnifySeed>>,
    /// How many more SIMs to seed, in turn Issued, Activated, Suspended, Factory Test.
    #[serde(default)]
    pub generate: u32,
}

/// An emnify SIM to seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmnifySeed {
    /// Its id (the next free one when absent).
    pub id: Option<u64>,
    /// Its ICCID (made up when absent).
    pub iccid: Option<String>,
    /// `issued` (the default), `activated`, `suspended`, `factory_test`, or the canonical
    /// `new`, `active`, `inactive`, `ready`.
    pub status: Option<String>,
}

/// The Sixfab sandbox.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SixfabConfig {
    /// A rate limit from the start.
    pub rate_limit: Option<RateLimitConfig>,
    /// The assets to seed (the default fleet when absent).
    pub assets: Option<Vec<SixfabSeed>>,
    /// How many more assets to seed, in turn inactive and active.
    #[serde(default)]
    pub generate: u32,
}

/// A Sixfab asset to seed: an ALPON device with a Super SIM and a PRO SIM.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SixfabSeed {
    /// Its serial number (made up when absent).
    pub serial_number: Option<String>,
    /// Its name (made up when absent).
    pub name: Option<String>,
    /// `inactive` (the default) or `active`.
    pub status: Option<String>,
}

/// The EdgeIQ sandbox.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeiqConfig {
    /// A rate limit from the start.
    pub rate_limit: Option<RateLimitConfig>,
    /// The SIM records to seed (the default fleet when absent).
    pub sims: Option<Vec<EdgeiqSeed>>,
    /// How many more records to seed, in turn `active` and `inactive`.
    #[serde(default)]
    pub generate: u32,
}

/// An EdgeIQ SIM record to seed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeiqSeed {
    /// Its id (24 hex digits; made up when absent).
    pub id: Option<String>,
    /// Its ICCID (made up when absent).
    pub iccid: Option<String>,
    /// Its status, any carrier word (`inactive` by default).
    pub status: Option<String>,
}

impl Config {
    /// Reads a file: `.toml` as TOML, anything else as JSON.
    pub fn load(path: &Path) -> Result<Config, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        let toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let parsed = if toml {
            toml::from_str(&text).map_err(|e| e.to_string())
        } else {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        };
        parsed.map_err(|e| {
            Failure::usage(format!(
                "the config file {} is not valid: {e}",
                path.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_file_reads_and_an_unknown_key_is_refused() {
        let c: Config = toml::from_str(
            r#"
            [clock]
            start = "2026-01-15T09:00:00Z"
            mode = "frozen"
            [supersim]
            dialect = "twilio"
            sims = [{ unique_name = "pump-1", status = "ready" }]
            [emnify]
            generate = 3
            rate_limit = { per_second = 5.0 }
            "#,
        )
        .unwrap();
        assert_eq!(c.clock.mode, ClockMode::Frozen);
        assert_eq!(c.supersim.sims.as_ref().unwrap().len(), 1);
        assert_eq!(c.emnify.generate, 3);
        assert_eq!(c.emnify.rate_limit.unwrap().limit().burst, 5);
        assert!(c.sixfab.assets.is_none());
        let err = toml::from_str::<Config>("[emnify]\nsimz = []\n").unwrap_err();
        assert!(err.to_string().contains("simz"), "{err}");
    }
}
