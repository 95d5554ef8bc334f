//! Macros the provider crates share.

/// Declares a status-like enum read from a provider's string, tolerant of values this SDK does
/// not know: each listed variant maps to one wire string, anything else becomes
/// `Unknown(String)` with the provider's word kept.
///
/// The enum gets `as_str`, `is_unknown`, `Display`, `From<&str>`, and serde as a string. It is
/// `#[non_exhaustive]`: the provider may add values, and a later version of this SDK may name
/// one that was `Unknown` before, so a `match` outside the crate keeps a `_` arm.
///
/// ```
/// simcore::open_enum! {
///     /// A door's state.
///     pub enum Door {
///         /// Open.
///         Open = "open",
///         /// Closed.
///         Closed = "closed",
///     }
/// }
/// assert_eq!(Door::from("open"), Door::Open);
/// assert_eq!(Door::from("ajar"), Door::Unknown("ajar".into()));
/// assert_eq!(serde_json::to_string(&Door::Closed).unwrap(), "\"closed\"");
/// let d: Door = serde_json::from_str("\"jammed\"").unwrap();
/// assert_eq!(d.as_str(), "jammed");
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this SDK does not know, as the provider sent it.
            Unknown(::std::string::String),
        }

        impl $name {
            /// Every known variant, in declaration order.
            pub const KNOWN: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// The provider's wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(s) => s,
                }
            }

            /// Whether this is a value this SDK does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as $crate::__private::serde::Deserialize>::deserialize(d)?;
                Ok($name::from(&*s))
            }
        }
    };
}

/// Adds the transport settings every provider `ClientBuilder` offers, forwarding to a field
/// `transport: simcore::http::TransportBuilder`: `base_url`, `timeout`, `connect_timeout`,
/// `deadline`, `retry`, `body_limit`, `proxy`, `no_proxy`, `rate_budget` and `http_client`.
///
/// ```
/// use simcore::http::{Transport, TransportBuilder};
///
/// /// A provider's client builder.
/// pub struct ClientBuilder {
///     transport: TransportBuilder,
/// }
///
/// impl ClientBuilder {
///     simcore::transport_builder_methods!();
/// }
///
/// let b = ClientBuilder { transport: Transport::builder("demo", "https://api.example.com") }
///     .base_url("http://127.0.0.1:9")
///     .timeout(std::time::Duration::from_secs(3))
///     .deadline(std::time::Duration::from_secs(10));
/// assert_eq!(b.transport.build()?.deadline(), std::time::Duration::from_secs(10));
/// # Ok::<(), simcore::Error>(())
/// ```
#[cfg(feature = "http")]
#[macro_export]
macro_rules! transport_builder_methods {
    () => {
        /// Sends to another base URL (a sandbox, a mock server, a proxy). `https` is required
        /// unless the host is loopback; checked by `build()`.
        pub fn base_url(mut self, url: impl ::std::convert::Into<::std::string::String>) -> Self {
            self.transport = self.transport.base_url(url);
            self
        }

        /// The total time one attempt may take: connect, send, read the whole answer
        /// (default 30 s).
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.transport = self.transport.timeout(timeout);
            self
        }

        /// The time a connection may take to open (default 5 s).
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.transport = self.transport.connect_timeout(timeout);
            self
        }

        /// The longest one call may take, across all its attempts, the waits between them and
        /// a session login it needs (default 60 s): whatever the server does (a `Retry-After`
        /// longer than the time left, a body that stalls), the call ends by then, with the
        /// provider's last answer or `Error::Deadline`. Must be more than zero; checked by
        /// `build()`.
        pub fn deadline(mut self, deadline: ::std::time::Duration) -> Self {
            self.transport = self.transport.deadline(deadline);
            self
        }

        /// How often and how patiently to retry 429, 502, 503, 504, timeouts and failed
        /// connections (default: 4 attempts, full-jitter backoff from 200 ms to 10 s).
        pub fn retry(mut self, policy: $crate::retry::RetryPolicy) -> Self {
            self.transport = self.transport.retry(policy);
            self
        }

        /// The largest response body read, in bytes (default 1 MiB).
        pub fn body_limit(mut self, bytes: usize) -> Self {
            self.transport = self.transport.body_limit(bytes);
            self
        }

        /// Sends every request through this proxy instead of the one the environment names
        /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, honoured by default with `NO_PROXY`).
        pub fn proxy(mut self, proxy: $crate::http::Proxy) -> Self {
            self.transport = self.transport.proxy(proxy);
            self
        }

        /// Ignores the proxy environment variables.
        pub fn no_proxy(mut self) -> Self {
            self.transport = self.transport.no_proxy();
            self
        }

        /// Takes a place in a rate budget before every request (logins included): a budget
        /// shared by the clients and processes that draw on the same provider account or egress
        /// IP, such as `simcore_redis::RedisRateBudget` or a `simcore::budget::LocalBudget`.
        /// Not together with the same budget on a bulk run over this client: each request would
        /// take two places.
        pub fn rate_budget(
            mut self,
            budget: ::std::sync::Arc<dyn $crate::budget::RateBudget>,
        ) -> Self {
            self.transport = self.transport.rate_budget(budget);
            self
        }

        /// Sends with your own `reqwest::Client` (a shared pool, custom roots, mTLS); see
        /// `simcore::http::TransportBuilder::http_client` for which guarantees then rest on its
        /// settings.
        pub fn http_client(mut self, client: $crate::http::reqwest::Client) -> Self {
            self.transport = self.transport.http_client(client);
            self
        }
    };
}

/// Defines a provider's `errors::Code`: its error codes with names, one way in every provider
/// crate. `from code` reads the provider's own code ([`ApiError::code`](crate::ApiError::code));
/// `from status` names the HTTP statuses of a provider that documents no codes. Any other value
/// is `Other(n)`, so a code round-trips. The enum is `#[non_exhaustive]`: a provider may name
/// more.
///
/// ```
/// simcore::error_codes! {
///     /// A provider's codes.
///     from code;
///     /// 20404: not found.
///     NotFound = 20404,
///     /// 20429: too many requests.
///     TooManyRequests = 20429,
/// }
/// use simcore::{ApiError, Error};
/// let err = Error::from(ApiError::new("p", 404).with_code(20404));
/// assert_eq!(Code::of(&err), Some(Code::NotFound));
/// assert_eq!(Code::from_value(7), Code::Other(7));
/// assert_eq!(Code::TooManyRequests.value(), 20429);
/// assert_eq!(Code::of(&Error::Config("x".into())), None);
/// ```
#[macro_export]
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        from $source:ident;
        $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$vmeta])* $variant, )+
            /// Any other value.
            Other(i64),
        }

        impl Code {
            /// Names a value.
            pub fn from_value(value: i64) -> Self {
                match value {
                    $( $value => Code::$variant, )+
                    other => Code::Other(other),
                }
            }

            /// The value (the provider's code, or the HTTP status for a provider without codes).
            pub fn value(self) -> i64 {
                match self {
                    $( Code::$variant => $value, )+
                    Code::Other(v) => v,
                }
            }

            /// The code of a provider's error answer, if `err` is one and it carries one.
            pub fn of(err: &$crate::Error) -> Option<Self> {
                $crate::error_codes!(@value $source, err).map(Self::from_value)
            }
        }

        impl ::std::fmt::Display for Code {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}", self.value())
            }
        }
    };
    (@value code, $err:ident) => { $err.api().and_then(|a| a.code) };
    (@value status, $err:ident) => { $err.api().map(|a| i64::from(a.status)) };
}

/// Adds the per-call settings every request builder offers, `deadline` and `attempts`, to a
/// builder with a field `options: simcore::CallOptions` (see [`CallOptions`](crate::CallOptions)).
///
/// ```
/// /// A request builder.
/// pub struct GetThing {
///     options: simcore::CallOptions,
/// }
/// impl GetThing {
///     simcore::call_options_methods!();
/// }
/// let b = GetThing { options: Default::default() }.attempts(1);
/// assert_eq!(b.options.attempts, Some(1));
/// ```
#[macro_export]
macro_rules! call_options_methods {
    () => {
        /// This call's deadline, across all its attempts and waits, in place of the client's.
        /// Must be more than zero; checked before anything is sent.
        pub fn deadline(mut self, deadline: ::std::time::Duration) -> Self {
            self.options.deadline = ::std::option::Option::Some(deadline);
            self
        }

        /// At most this many attempts for this call (1: no retry); it never raises the client's
        /// retry policy. Must be at least 1; checked before anything is sent.
        pub fn attempts(mut self, attempts: u32) -> Self {
            self.options.attempts = ::std::option::Option::Some(attempts);
            self
        }

        /// This call's options, replacing any set before.
        pub fn options(mut self, options: $crate::CallOptions) -> Self {
            self.options = options;
            self
        }
    };
}
