//! Telemetry (feature `tracing`): the events of the shared state, under the target `simcore` like
//! the rest of the family's telemetry, so that one filter (`simcore=info`) shows them all.

/// Emits an INFO event with target `simcore` when the `tracing` feature is on:
/// `event!("message"; a.b = value, c = value)`. Without the feature the values are never
/// evaluated and nothing is emitted.
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
pub(crate) use event;
