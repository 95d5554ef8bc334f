//! The sandbox's configuration file (`simctl sandbox --config FILE`), TOML or JSON by its
//! extension, and the default fleet when no file (or no section for a provider) is given.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::bounds::{MAX_EMNIFY_ID, MAX_GENERATE, MAX_SCHEDULE_DELAY_MS, check_rate_limit};
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
    /// As the sandbox kit's rate limit (the file was checked when it was read).
    pub fn limit(&self) -> simsandbox::RateLimit {
        let burst = self
            .burst
            .unwrap_or_else(|| self.per_second.ceil().max(1.0) as u32);
        simsandbox::RateLimit {
            per_second: self.per_second,
            burst,
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
        let config: Config = parsed.map_err(|e| {
            Failure::usage(format!(
                "the config file {} is not valid: {e}",
                path.display()
            ))
        })?;
        config.check().map_err(|e| {
            Failure::usage(format!(
                "the config file {} is not valid: {e}",
                path.display()
            ))
        })?;
        Ok(config)
    }

    /// Checks what serde cannot, by the bounds of [`crate::bounds`]: each section's `generate`
    /// is at most [`MAX_GENERATE`] and its `rate_limit` keeps [`check_rate_limit`], Super SIM's
    /// `schedule_delay_ms` is at most [`MAX_SCHEDULE_DELAY_MS`] and an emnify SIM's `id` from 1
    /// to [`MAX_EMNIFY_ID`]; the error names the field and the bound.
    pub fn check(&self) -> Result<(), String> {
        if let Some(ms) = self.supersim.schedule_delay_ms {
            if ms > MAX_SCHEDULE_DELAY_MS {
                return Err(format!(
                    "supersim.schedule_delay_ms is {ms}: at most {MAX_SCHEDULE_DELAY_MS}"
                ));
            }
        }
        for sim in self.emnify.sims.iter().flatten() {
            if let Some(id) = sim.id {
                if !(1..=MAX_EMNIFY_ID).contains(&id) {
                    return Err(format!(
                        "emnify.sims: an id is {id}: it must be from 1 to {MAX_EMNIFY_ID}"
                    ));
                }
            }
        }
        let sections = [
            (
                "supersim",
                self.supersim.generate,
                &self.supersim.rate_limit,
            ),
            ("emnify", self.emnify.generate, &self.emnify.rate_limit),
            ("sixfab", self.sixfab.generate, &self.sixfab.rate_limit),
            ("edgeiq", self.edgeiq.generate, &self.edgeiq.rate_limit),
        ];
        for (name, generate, rate_limit) in sections {
            if generate > MAX_GENERATE {
                return Err(format!(
                    "{name}.generate is {generate}: at most {MAX_GENERATE}"
                ));
            }
            if let Some(r) = rate_limit {
                check_rate_limit(r.per_second, r.burst.map(u64::from))
                    .map_err(|e| format!("{name}.rate_limit: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounds::MAX_BURST;

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
        assert_eq!(c.check(), Ok(()));
        assert!(c.sixfab.assets.is_none());
        let err = toml::from_str::<Config>("[emnify]\nsimz = []\n").unwrap_err();
        assert!(err.to_string().contains("simz"), "{err}");
    }

    #[test]
    fn a_limit_that_could_never_be_kept_and_an_endless_fleet_are_refused_by_name() {
        let read = |t: &str| toml::from_str::<Config>(t).unwrap().check();
        assert_eq!(
            read("[sixfab]\ngenerate = 4000000000"),
            Err("sixfab.generate is 4000000000: at most 1000000".into())
        );
        assert_eq!(read("[edgeiq]\ngenerate = 1000000"), Ok(()));
        for (limit, rule) in [
            ("{ per_second = 0.0 }", "per_second"),
            ("{ per_second = -1.0 }", "per_second"),
            ("{ per_second = nan }", "per_second"),
            ("{ per_second = inf }", "per_second"),
            ("{ per_second = 2e6 }", "per_second"),
            ("{ per_second = 5.0, burst = 0 }", "burst"),
            ("{ per_second = 5.0, burst = 2000000 }", "burst"),
        ] {
            let err = read(&format!("[emnify]\nrate_limit = {limit}")).unwrap_err();
            assert!(
                err.starts_with(&format!("emnify.rate_limit: {rule} must be")),
                "{limit}: {err}"
            );
        }
        assert_eq!(
            read("[supersim]\nrate_limit = { per_second = 0.5 }"),
            Ok(())
        );
        assert_eq!(
            read("[supersim]\nschedule_delay_ms = 600001"),
            Err("supersim.schedule_delay_ms is 600001: at most 600000".into())
        );
        assert_eq!(read("[supersim]\nschedule_delay_ms = 600000"), Ok(()));
        assert_eq!(
            read("[emnify]\nsims = [{ id = 0 }]"),
            Err("emnify.sims: an id is 0: it must be from 1 to 9007199254740991".into())
        );
        assert_eq!(
            read("[emnify]\nsims = [{ id = 9007199254740992 }]"),
            Err(
                "emnify.sims: an id is 9007199254740992: it must be from 1 to 9007199254740991"
                    .into()
            )
        );
        assert_eq!(read("[emnify]\nsims = [{ id = 9007199254740991 }]"), Ok(()));
        // What serde refuses (a negative or fractional count) names the field too.
        let err = toml::from_str::<Config>("[edgeiq]\ngenerate = -1").unwrap_err();
        assert!(err.to_string().contains("generate"), "{err}");
    }

    proptest::proptest! {
        /// A limit the rule lets through makes a bucket that lets a first request through and
        /// then a steady rate: its burst is at least 1 and its rate is positive and finite.
        #[test]
        fn every_limit_the_rule_accepts_can_be_kept(per_second in proptest::num::f64::ANY, burst in proptest::option::of(0u64..5_000_000)) {
            if let Ok((rate, burst)) = check_rate_limit(per_second, burst) {
                proptest::prop_assert!(rate.is_finite() && rate > 0.0);
                proptest::prop_assert!((1..=MAX_BURST).contains(&burst));
                let mut bucket = simsandbox::TokenBucket::new(simsandbox::RateLimit {
                    per_second: rate,
                    burst,
                    retry_after: false,
                });
                proptest::prop_assert!(bucket.take().is_ok());
            }
        }
    }
}
