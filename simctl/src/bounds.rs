//! Every number `simctl sandbox` accepts, from the admin API or the configuration file, and its
//! bound, in one place. A number outside its bound is refused with a message that names the
//! field and the bound (the admin API answers `400`, a file exits 2); none is clamped or
//! wrapped. The admin API's module docs and the README's admin API section list the same.
//!
//! | number | where | bound |
//! |---|---|---|
//! | fault `count` | `POST /v1/{provider}/faults` | 1 to [`MAX_FAULT_COUNT`] (10,000), and a queue covers at most that many requests in all |
//! | fault `status` | `POST /v1/{provider}/faults` | [`MIN_STATUS`] to [`MAX_STATUS`] (100 to 599) |
//! | fault `body` | `POST /v1/{provider}/faults` | at most [`MAX_FAULT_BODY_BYTES`] (65,536 bytes); the bodies waiting at most [`simsandbox::MAX_QUEUED_FAULT_BODY_BYTES`] (1 MiB) |
//! | fault `ms` | `POST /v1/{provider}/faults` | 0 to [`MAX_DELAY_MS`] (600,000: ten minutes) |
//! | `per_second` | rate limits, admin API and file | above 0, at most [`MAX_BURST`] (1,000,000) |
//! | `burst` | rate limits, admin API and file | 1 to [`MAX_BURST`] (1,000,000) |
//! | `calls` | emnify's `authenticate_limit` | 1 to [`MAX_WINDOW_CALLS`] (1,000,000) |
//! | `per_seconds` | emnify's `authenticate_limit` | 1 to [`MAX_WINDOW_SECONDS`] (31,536,000: 365 days) |
//! | `data_kb` | `POST /v1/{provider}/sims/{id}/usage` | 0 to [`MAX_USAGE_DATA_KB`] (1,000,000,000: a terabyte) per call |
//! | `sms` | `POST /v1/{provider}/sims/{id}/usage` | 0 to [`MAX_USAGE_SMS`] (1,000,000) per call |
//! | `seconds` | `POST /v1/clock/advance` | 0 or more, fractions allowed, at most a century ahead: [`MAX_ADVANCE_MONTHS`] (1,200) months from the clock's time, the clock's own bound |
//! | `months` | `POST /v1/clock/advance` | 0 to [`MAX_ADVANCE_MONTHS`] (1,200: a century) |
//! | `to` | `POST /v1/clock/advance` | at most a century ahead, as `seconds` |
//! | a request body | the admin API | at most [`MAX_REQUEST_BYTES`] (1 MiB): `413` past it |
//! | `generate` | each provider's section of the file | 0 to [`MAX_GENERATE`] (1,000,000) |
//! | `schedule_delay_ms` | `[supersim]` in the file | 0 to [`MAX_SCHEDULE_DELAY_MS`] (600,000) |
//! | `id` | `[emnify]` `sims` in the file | 1 to [`MAX_EMNIFY_ID`] (2^53 − 1) |
//! | `--port-base` | the command line | 0 to [`MAX_PORT_BASE`] (65,531), so that all five ports fit |

use serde_json::Value;

/// The most requests one fault injection covers, and the most each fault queue covers in all:
/// the sandbox kit's own bound.
pub const MAX_FAULT_COUNT: usize = simsandbox::MAX_QUEUED_FAULTS;

/// The lowest status a fault may answer with.
pub const MIN_STATUS: u64 = 100;

/// The highest status a fault may answer with.
pub const MAX_STATUS: u64 = 599;

/// The longest body an injected status may answer with: the sandbox kit's own bound.
pub const MAX_FAULT_BODY_BYTES: usize = simsandbox::MAX_FAULT_BODY_BYTES;

/// The longest injected delay, in milliseconds (ten minutes).
pub const MAX_DELAY_MS: u64 = 600_000;

/// The most a rate limit's `burst` may be (and the most requests per second it may allow).
pub const MAX_BURST: u32 = 1_000_000;

/// The most calls a rolling-window limit (emnify's `authenticate_limit`) may allow.
pub const MAX_WINDOW_CALLS: u64 = 1_000_000;

/// The longest window of a rolling-window limit, in seconds (365 days).
pub const MAX_WINDOW_SECONDS: u64 = 365 * 86_400;

/// The most data one usage report may add, in kilobytes (a terabyte).
pub const MAX_USAGE_DATA_KB: u64 = 1_000_000_000;

/// The most SMS one usage report may add.
pub const MAX_USAGE_SMS: u64 = 1_000_000;

/// The furthest one clock move goes, in months: the clock's own bound, a century. A move by
/// `seconds` or `to` goes at most as far from the clock's time.
pub const MAX_ADVANCE_MONTHS: u64 = simsandbox::Clock::MAX_MOVE_MONTHS as u64;

/// The largest request body the admin API reads, in bytes; a larger one is answered `413`.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The most SIMs (or assets) one provider's `generate` may seed: a sandbox holds them all in
/// memory, and a million is already far past any test's need.
pub const MAX_GENERATE: u32 = 1_000_000;

/// The longest a scheduled Super SIM change may take to land, in milliseconds (ten minutes).
pub const MAX_SCHEDULE_DELAY_MS: u64 = 600_000;

/// The largest emnify SIM id a file may seed: the largest integer every JSON reader holds
/// exactly (2^53 − 1), as the sandbox answers ids in JSON.
pub const MAX_EMNIFY_ID: u64 = (1 << 53) - 1;

/// The largest `--port-base`: the admin API listens on the base + 4.
pub const MAX_PORT_BASE: u16 = u16::MAX - crate::sandbox::ADMIN_OFFSET;

/// A short form of a JSON value for a message: numbers as written, anything else by its type
/// (a refused string may be long).
fn shown(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// `v` as a whole number from `min` to `max`, or a message that names `field` and the bound.
pub fn whole(v: &Value, field: &str, min: u64, max: u64) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            format!(
                "{field} must be a whole number from {min} to {max} (found {})",
                shown(v)
            )
        })
}

/// The whole number under `key` in `body`: `default` when it is absent or `null`, else as
/// [`whole`].
pub fn whole_or(body: &Value, key: &str, default: u64, min: u64, max: u64) -> Result<u64, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => whole(v, key, min, max),
    }
}

/// The rule every rate limit keeps, from a file or the admin API: a finite rate above 0 (at
/// most [`MAX_BURST`] a second) and a burst from 1 to [`MAX_BURST`] (by default the rate,
/// rounded up). A limit outside it could never let a request through, or never limit one.
pub fn check_rate_limit(per_second: f64, burst: Option<u64>) -> Result<(f64, u32), String> {
    if !(per_second.is_finite() && per_second > 0.0 && per_second <= f64::from(MAX_BURST)) {
        return Err(format!(
            "per_second must be a number above 0 and at most {MAX_BURST}"
        ));
    }
    let burst = match burst {
        None => per_second.ceil().max(1.0) as u32,
        Some(b) => u32::try_from(b)
            .ok()
            .filter(|b| (1..=MAX_BURST).contains(b))
            .ok_or_else(|| format!("burst must be a whole number from 1 to {MAX_BURST}"))?,
    };
    Ok((per_second, burst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_number_outside_its_bound_is_refused_by_field_and_bound() {
        assert_eq!(whole(&json!(5), "count", 1, 10), Ok(5));
        for (v, found) in [
            (json!(0), "0"),
            (json!(11), "11"),
            (json!(-1), "-1"),
            (json!(2.5), "2.5"),
            (json!(1e300), "1e+300"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!("5"), "a string"),
            (json!(true), "true"),
            (json!([1]), "an array"),
        ] {
            assert_eq!(
                whole(&v, "count", 1, 10),
                Err(format!(
                    "count must be a whole number from 1 to 10 (found {found})"
                ))
            );
        }
        assert_eq!(whole_or(&json!({}), "sms", 0, 0, 9), Ok(0));
        assert_eq!(whole_or(&json!({"sms": null}), "sms", 0, 0, 9), Ok(0));
        assert!(whole_or(&json!({"sms": 10}), "sms", 0, 0, 9).is_err());
    }
}
