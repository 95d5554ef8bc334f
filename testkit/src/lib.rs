//! Test helpers of the SIM SDK family's workspace, never published and used only as a
//! dev-dependency: hostile servers, a `redis-server` launcher, a loopback forward proxy and
//! lifecycle table checks.
//!
//! ```
//! use simsandbox::SandboxServer;
//! use testkit::LocalProxy;
//! use testkit::hostile::{Shape, echo_router};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // A server that quotes every credential back, reached through a proxy that logs each request.
//! let server = SandboxServer::start(echo_router(401, Shape::Json)).await?;
//! let proxy = LocalProxy::start().await?;
//! let client = reqwest::Client::builder()
//!     .proxy(reqwest::Proxy::http(proxy.url()).unwrap())
//!     .build()
//!     .unwrap();
//! let answer = client
//!     .get(format!("{}/sims/1", server.base_url()))
//!     .header("authorization", "Bearer s3cret")
//!     .send()
//!     .await
//!     .unwrap();
//! assert_eq!(answer.status(), 401);
//! assert!(answer.text().await.unwrap().contains("s3cret"));
//! assert_eq!(proxy.requests().len(), 1);
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! - [`hostile`]: the answers of a hostile or broken server (an echo of the request in every
//!   encoding, a body that stalls, a `429` storm), as routers for a
//!   [`SandboxServer`](simsandbox::SandboxServer).
//! - [`RedisServer`]: a real `redis-server` of a test's own on an ephemeral loopback port.
//! - [`LocalProxy`]: a forward proxy on loopback that records what went through it.
//! - [`assert_lifecycle_exact`]: a provider's lifecycle table against its documented pairs.
//!
//! # Feature flags
//! None.

pub mod hostile;

mod lifecycle;
mod proxy;
mod redis_server;

pub use lifecycle::assert_lifecycle_exact;
pub use proxy::LocalProxy;
pub use redis_server::RedisServer;

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
