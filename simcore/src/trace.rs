//! Telemetry (feature `tracing`): spans and events that never carry a secret, a header, a body or
//! a SIM's id as it is.
//!
//! With the feature off, nothing here exists and nothing is emitted: the macros below expand to
//! nothing, so the transport's hot path carries no telemetry code at all.
//!
//! With it on:
//! - one span per operation, `sim.operation`, with `sim.provider`, `sim.operation.name` and
//!   `sim.id`, a pseudonym of the SIM's id ([`pseudonym`]: a keyed hash, stable within the
//!   process, meaningless outside it);
//! - one span per HTTP attempt, `http.client.attempt`, with OpenTelemetry's HTTP-client field
//!   names: `http.request.method`, `server.address`, `server.port`, `url.template`,
//!   `http.request.resend_count`, `http.response.status_code`, `error.type`;
//! - events (target `simcore`): each retry decision (`retry.reason`, `retry.wait_ms`) and each
//!   token refresh (`auth.reason`). The family's other crates emit theirs under the same target
//!   with their own `tracing` feature: each change of a bulk run's pace (`bulk.rate`,
//!   `bulk.reason`; simfleet) and a shared store falling back to local state (simcore-redis).

#[cfg(feature = "tracing")]
use std::hash::BuildHasher;
#[cfg(feature = "tracing")]
use std::sync::OnceLock;

/// A pseudonym for a SIM's id in telemetry: 16 hex digits of a hash keyed with a random key drawn
/// once per process. The same id gives the same pseudonym within one process (so the spans of
/// one SIM can be followed); without the key, which never leaves the process, it says nothing of
/// the id.
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub fn pseudonym(id: &str) -> String {
    static KEY: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let key = KEY.get_or_init(std::collections::hash_map::RandomState::new);
    format!("{:016x}", key.hash_one(id))
}

/// Emits an INFO event with target `simcore` when the `tracing` feature is on:
/// `event!("message"; a.b = value, c = value)`. Without the feature the values are never
/// evaluated and nothing is emitted. Used by the transport (feature `http`).
#[cfg_attr(not(feature = "http"), allow(unused_macros))]
macro_rules! event {
    ($msg:literal; $($($k:ident).+ = $v:expr),* $(,)?) => {
        #[cfg(feature = "tracing")]
        {
            ::tracing::event!(
                target: "simcore",
                ::tracing::Level::INFO,
                { $($($k).+ = $v),* },
                $msg
            );
        }
    };
}
#[cfg_attr(not(feature = "http"), allow(unused_imports))]
pub(crate) use event;

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use super::pseudonym;
    use proptest::prelude::*;

    proptest! {
        /// Stable within the process, 16 hex digits whatever the id, never the id itself, and
        /// two ids give two pseudonyms.
        #[test]
        fn a_pseudonym_is_stable_opaque_and_tells_ids_apart(a in ".{0,40}", b in ".{0,40}") {
            let pa = pseudonym(&a);
            prop_assert_eq!(&pa, &pseudonym(&a));
            prop_assert_eq!(pa.len(), 16);
            prop_assert!(pa.bytes().all(|c| c.is_ascii_hexdigit()));
            if a.len() >= 4 {
                prop_assert!(!pa.contains(a.as_str()));
            }
            if a != b {
                prop_assert_ne!(pa, pseudonym(&b));
            }
        }
    }
}
