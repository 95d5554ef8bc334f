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

/// The key pseudonyms are made with: one the user gave ([`set_pseudonym_key`]), or one drawn at
/// random when the first pseudonym is made.
#[cfg(feature = "tracing")]
enum PseudonymKey {
    Given(hmac::Hmac<sha2::Sha256>),
    Random(std::collections::hash_map::RandomState),
}

#[cfg(feature = "tracing")]
static PSEUDONYM_KEY: OnceLock<PseudonymKey> = OnceLock::new();

/// The shortest key [`set_pseudonym_key`] takes: 16 bytes.
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub const MIN_PSEUDONYM_KEY: usize = 16;

/// Makes SIM pseudonyms with `key` (an HMAC-SHA-256 of the id under it), so that every replica
/// of a service given the same key names a SIM alike in its telemetry, and spans from several
/// processes can be joined. Call it once, at start-up, before any request: it is refused (an
/// [`Error::Config`](crate::Error::Config)) when a pseudonym has been made already, with the
/// random key or another, and for a key shorter than [`MIN_PSEUDONYM_KEY`] bytes. Keep the key as
/// secret as the ids: with it, anyone can test which id a pseudonym stands for.
///
/// ```
/// simcore::trace::set_pseudonym_key(b"0123456789abcdef-shared-by-replicas")?;
/// let p = simcore::trace::pseudonym("89882806660004909182");
/// assert_eq!(p, simcore::trace::pseudonym("89882806660004909182"));
/// assert_eq!(p.len(), 16);
/// assert!(simcore::trace::set_pseudonym_key(b"another key, too late").is_err());
/// # Ok::<(), simcore::Error>(())
/// ```
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub fn set_pseudonym_key(key: &[u8]) -> crate::Result<()> {
    use hmac::Mac as _;
    if key.len() < MIN_PSEUDONYM_KEY {
        return Err(crate::Error::Config(format!(
            "a pseudonym key must be at least {MIN_PSEUDONYM_KEY} bytes (found {})",
            key.len()
        )));
    }
    let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .map_err(|_| crate::Error::Config("the pseudonym key cannot key an HMAC".to_owned()))?;
    PSEUDONYM_KEY.set(PseudonymKey::Given(mac)).map_err(|_| {
        crate::Error::Config(
            "the pseudonym key is already set, or a pseudonym was made before it: set it once, \
             at start-up"
                .to_owned(),
        )
    })
}

/// A pseudonym for a SIM's id in telemetry: 16 hex digits of a keyed hash. With a key given to
/// [`set_pseudonym_key`], the same in every process that has it; otherwise keyed with a random
/// key drawn once per process, so stable within the process only. The same id gives the same
/// pseudonym (so the spans of one SIM can be followed); without the key, which never leaves the
/// process, it says nothing of the id.
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub fn pseudonym(id: &str) -> String {
    use hmac::Mac as _;
    let key = PSEUDONYM_KEY
        .get_or_init(|| PseudonymKey::Random(std::collections::hash_map::RandomState::new()));
    match key {
        PseudonymKey::Given(mac) => {
            let mut mac = mac.clone();
            mac.update(id.as_bytes());
            let digest = mac.finalize().into_bytes();
            digest[..8].iter().map(|b| format!("{b:02x}")).collect()
        }
        PseudonymKey::Random(state) => format!("{:016x}", state.hash_one(id)),
    }
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
