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

/// Gives a provider crate's sandbox type what every sandbox has the same way: `start` (with its
/// default options), `requests`, `server` and `clock` as inherent methods read from its fields,
/// and the admin view ([`SandboxAdmin`](crate::SandboxAdmin), as [`sandbox_admin!`] does). The
/// type keeps its own `start_with(options)`, `base_url` and `state_json`.
///
/// `sandbox_basics!(Sandbox, crate::PROVIDER, server, state.clock)`: the type, the provider's
/// name, and the paths from `self` to its [`SandboxServer`](crate::SandboxServer) and its
/// [`Clock`](crate::Clock).
#[macro_export]
macro_rules! sandbox_basics {
    ($ty:ident, $provider:expr, $($server:ident).+, $($clock:ident).+) => {
        impl $ty {
            /// Starts a sandbox with the default options.
            pub async fn start() -> ::std::io::Result<$ty> {
                Self::start_with(Default::default()).await
            }

            /// Every request received so far, in order.
            pub fn requests(&self) -> ::std::vec::Vec<$crate::RecordedRequest> {
                self.$($server).+.requests()
            }

            /// The server: request log, statistics, rate limit and fault injection.
            pub fn server(&self) -> &$crate::SandboxServer {
                &self.$($server).+
            }

            /// The clock the sandbox keeps time by.
            pub fn clock(&self) -> &$crate::Clock {
                &self.$($clock).+
            }
        }

        $crate::sandbox_admin!($ty, $provider);
    };
}

/// Setters of a seed that keeps its fields as JSON (`fn field(self, key, value) -> Self`): each
/// `name` becomes `pub fn name(self, value: impl Into<String>) -> Self`, which sets the string
/// field of that name, with the doc comment written before it.
///
/// ```
/// #[derive(Default)]
/// pub struct Seed(serde_json::Map<String, serde_json::Value>);
///
/// impl Seed {
///     /// Any field.
///     pub fn field(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
///         self.0.insert(key.into(), value.into());
///         self
///     }
/// }
///
/// simsandbox::seed_setters!(Seed {
///     /// The status.
///     status,
/// });
///
/// assert_eq!(Seed::default().status("active").0["status"], "active");
/// ```
#[macro_export]
macro_rules! seed_setters {
    ($ty:ident { $($(#[$doc:meta])* $name:ident,)+ }) => {
        impl $ty {
            $(
                $(#[$doc])*
                pub fn $name(self, value: impl ::std::convert::Into<::std::string::String>) -> Self {
                    self.field(::std::stringify!($name), value.into())
                }
            )+
        }
    };
}

/// Builder setters of a struct's fields (a seed, options): each `field: Arg` becomes
/// `pub fn field(mut self, value: Arg) -> Self`, which sets the field to `value.into()`, or
/// with `=> Some` to `Some(value.into())`, with the doc comment written before it.
///
/// ```
/// #[derive(Default)]
/// pub struct Seed { name: Option<String>, port: u16 }
///
/// simsandbox::setters!(Seed {
///     /// The name (none by default).
///     name: impl Into<String> => Some,
///     /// The port.
///     port: u16,
/// });
///
/// let seed = Seed::default().name("pump 7").port(8080);
/// assert_eq!((seed.name.as_deref(), seed.port), (Some("pump 7"), 8080));
/// ```
#[macro_export]
macro_rules! setters {
    ($ty:ident { $($(#[$doc:meta])* $name:ident: $arg:ty $(=> $wrap:ident)?,)+ }) => {
        impl $ty {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $arg) -> Self {
                    self.$name = $($wrap)?(::std::convert::Into::into(value));
                    self
                }
            )+
        }
    };
}
