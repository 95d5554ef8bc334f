//! The shape in which every provider sandbox shows an admin view.

use super::{Clock, SandboxServer};

/// A provider sandbox as an admin view (a test, or a program that serves sandboxes and lets an
/// operator look inside) sees it: the same shape for every provider.
///
/// Everything else an admin view may want is already uniform, on the [`SandboxServer`] each
/// sandbox runs: the request log ([`SandboxServer::requests`], each request shown with
/// [`RecordedRequest::redacted_json`](super::RecordedRequest::redacted_json)), the counters
/// ([`SandboxServer::stats`]), fault injection ([`SandboxServer::drop_next`],
/// [`SandboxServer::fail_next`], [`SandboxServer::fail_next_with`],
/// [`SandboxServer::delay_next`], [`SandboxServer::set_delay`], [`SandboxServer::clear_faults`]),
/// the rate limit ([`SandboxServer::set_rate_limit`]) and a summary of all that
/// ([`SandboxServer::state_json`]). The answers of a hostile server, for a router of one's own,
/// are in the repository's test kit (`testkit::hostile`, not published).
///
/// Moving time needs nothing more than [`Clock::advance`] (or [`Clock::advance_months`],
/// [`Clock::advance_to`]) on the clock the sandboxes were started with: one virtual clock given
/// to several sandboxes moves them all, and each applies its own time rules as it moves.
///
/// ```
/// use simsandbox::{Clock, SandboxAdmin, SandboxServer};
/// use axum::Router;
///
/// /// A sandbox with no state of its own.
/// struct Empty { server: SandboxServer, clock: Clock }
///
/// impl SandboxAdmin for Empty {
///     fn provider(&self) -> &'static str { "empty" }
///     fn base_url(&self) -> String { self.server.base_url() }
///     fn clock(&self) -> &Clock { &self.clock }
///     fn server(&self) -> &SandboxServer { &self.server }
///     fn state_json(&self) -> serde_json::Value { serde_json::json!({}) }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sandbox = Empty { server: SandboxServer::start(Router::new()).await?, clock: Clock::real() };
/// let all: Vec<Box<dyn SandboxAdmin>> = vec![Box::new(sandbox)];
/// assert_eq!(all[0].provider(), "empty");
/// assert!(!all[0].clock().is_virtual());
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub trait SandboxAdmin: Send + Sync {
    /// The provider's name, as its client crate names it (its `PROVIDER`: `"twilio"` for the
    /// Super SIM sandbox, `"emnify"`, `"sixfab"`, `"edgeiq"`).
    fn provider(&self) -> &'static str;

    /// The base URL to give the provider's client (the server's, with the provider's path
    /// prefix where it has one).
    fn base_url(&self) -> String;

    /// The clock the sandbox keeps time by: move it ([`Clock::advance`]) to apply the time rules.
    fn clock(&self) -> &Clock;

    /// The server in front of the sandbox: request log, counters, faults, rate limit.
    fn server(&self) -> &SandboxServer;

    /// Everything the sandbox holds, as JSON: its records and the state its rules keep (what a
    /// time rule or a limit will decide next). Credentials are never in it.
    fn state_json(&self) -> serde_json::Value;
}
