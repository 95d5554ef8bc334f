//! A request read once, and the router that hands it to a sandbox's routing function.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, Response, header};
use bytes::Bytes;
use serde_json::{Map, Value};

/// A request as a sandbox's routes read it: the body collected, the caller's address known.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The raw path, percent-encoding kept.
    pub path: String,
    /// The raw query (empty when there is none).
    pub query: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The caller's IP address (`127.0.0.1` when the server did not say).
    pub peer: IpAddr,
}

/// Why a body is not the JSON object a route wants; its `Display` names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The `Content-Type` is not `application/json`.
    #[error("Content-Type must be application/json")]
    NotDeclaredJson,
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotAnObject,
    /// The body is not JSON at all.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
}

impl Call {
    /// Reads a request: its body in full, the caller's address from the
    /// [`ConnectInfo`] the [`SandboxServer`](crate::SandboxServer) attaches.
    pub async fn read(req: Request<Body>) -> Call {
        let (parts, body) = req.into_parts();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
        Call {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: parts.headers,
            body: to_bytes(body, usize::MAX).await.unwrap_or_default(),
            peer,
        }
    }

    /// The path's segments after `prefix` and a `/` (`None` when the path is not under it):
    /// `"/api/sims/7"` under `"/api"` is `["sims", "7"]`.
    pub fn segments(&self, prefix: &str) -> Option<Vec<&str>> {
        let rest = self.path.strip_prefix(prefix)?.strip_prefix('/')?;
        Some(rest.split('/').collect())
    }

    /// A header's value as text, if it is present and text.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The query's pairs, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Whether the `Content-Type` is `mime` (parameters such as `charset` aside, any case).
    pub fn declares(&self, mime: &str) -> bool {
        self.header(header::CONTENT_TYPE)
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
    }

    /// The body as a JSON object, whatever the `Content-Type` says.
    pub fn json_body(&self) -> Result<Map<String, Value>, BodyError> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(BodyError::NotAnObject),
            Err(e) => Err(BodyError::NotJson(e.to_string())),
        }
    }

    /// The body as a JSON object declared `application/json`.
    pub fn json_object(&self) -> Result<Map<String, Value>, BodyError> {
        if !self.declares("application/json") {
            return Err(BodyError::NotDeclaredJson);
        }
        self.json_body()
    }
}

/// A router that reads every request as a [`Call`] and answers it with `route(&state, call)`:
/// a provider sandbox's one routing function, matched on [`Call::segments`].
pub fn router<S, F, Fut>(state: Arc<S>, route: F) -> Router
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Call) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    Router::new().fallback(move |req: Request<Body>| {
        let (state, route) = (state.clone(), route.clone());
        async move { route(state, Call::read(req).await).await }
    })
}

/// What a route answers: the answer, or a [`Refusal`] that ended it early (so that `?` can end
/// a route at the first rule broken). `into_response()` gives the answer either way.
pub type Answer = Result<Response<Body>, Refusal>;

/// An answer that ends a route early (boxed: an answer is large, a `Result` of it should not be).
#[derive(Debug)]
pub struct Refusal(pub Box<Response<Body>>);

impl From<Response<Body>> for Refusal {
    fn from(answer: Response<Body>) -> Self {
        Refusal(Box::new(answer))
    }
}

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> Response<Body> {
        *self.0
    }
}
