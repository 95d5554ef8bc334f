//! The macro that gives a provider sandbox the shared admin view.

/// Implements [`SandboxAdmin`](crate::SandboxAdmin) for a provider crate's sandbox type by its
/// inherent methods of the same names (`base_url`, `clock`, `server`, `state_json`), with the
/// provider's name given (`sandbox_admin!(Sandbox, crate::PROVIDER)`): every provider sandbox
/// shows the same admin view the same way.
///
/// ```
/// use axum::Router;
/// use simsandbox::{Clock, SandboxAdmin, SandboxServer};
///
/// /// A sandbox with no state of its own.
/// pub struct Empty {
///     server: SandboxServer,
///     clock: Clock,
/// }
///
/// impl Empty {
///     fn base_url(&self) -> String { self.server.base_url() }
///     fn clock(&self) -> &Clock { &self.clock }
///     fn server(&self) -> &SandboxServer { &self.server }
///     fn state_json(&self) -> serde_json::Value { serde_json::json!({"sims": []}) }
/// }
///
/// simsandbox::sandbox_admin!(Empty, "empty");
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let empty = Empty { server: SandboxServer::start(Router::new()).await?, clock: Clock::real() };
/// let admin: &dyn SandboxAdmin = &empty;
/// assert_eq!(admin.provider(), "empty");
/// assert_eq!(admin.state_json(), serde_json::json!({"sims": []}));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[macro_export]
macro_rules! sandbox_admin {
    ($ty:ty, $provider:expr) => {
        /// The admin view's shape, the same for every provider sandbox.
        impl $crate::SandboxAdmin for $ty {
            fn provider(&self) -> &'static str {
                $provider
            }

            fn base_url(&self) -> String {
                <$ty>::base_url(self)
            }

            fn clock(&self) -> &$crate::Clock {
                <$ty>::clock(self)
            }

            fn server(&self) -> &$crate::SandboxServer {
                <$ty>::server(self)
            }

            fn state_json(&self) -> $crate::__private::serde_json::Value {
                <$ty>::state_json(self)
            }
        }
    };
}
