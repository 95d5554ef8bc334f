//! Requests and answers as the transport sends and reads them.

use std::fmt;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::Transport;
use crate::error::{Error, Result};

/// A request body, already serialized. Its `Debug` shows the kind and size only.
#[derive(Clone, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A JSON document.
    Json(Bytes),
    /// An `application/x-www-form-urlencoded` body.
    Form(Bytes),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Json(b) => write!(f, "Json({} bytes)", b.len()),
            Body::Form(b) => write!(f, "Form({} bytes)", b.len()),
        }
    }
}

/// One request, built once and sent (possibly several times) by [`Transport::send`].
///
/// Its `Debug` shows the method, the URL, the names of any extra headers and the body's kind and
/// size, never a header value or the body itself (a login body carries a password).
///
/// A request may also say what it is for telemetry ([`Request::operation`]): the operation's
/// name, the path as a template (`/v1/Sims/{Sid}`), and the SIM it concerns, which a span only
/// ever shows as a pseudonym (ICCIDs and MSISDNs are personal data).
#[derive(Clone)]
pub struct Request {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) body: Body,
    pub(super) operation: &'static str,
    pub(super) template: &'static str,
    /// The id the operation is about, for its span (kept only where spans are compiled in).
    #[cfg(feature = "tracing")]
    pub(super) subject: Option<String>,
    pub(super) body_limit: Option<usize>,
    pub(super) options: crate::CallOptions,
}

impl Request {
    /// A request with no body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
            operation: "request",
            template: "",
            #[cfg(feature = "tracing")]
            subject: None,
            body_limit: None,
            options: crate::CallOptions::new(),
        }
    }

    /// Sets this call's deadline and attempts cap ([`CallOptions`](crate::CallOptions)); unset
    /// options keep the transport's. The transport refuses options no call can honour before
    /// sending.
    pub fn options(mut self, options: crate::CallOptions) -> Self {
        self.options = options;
        self
    }

    /// Caps this request's answer at `bytes` in place of the transport's cap
    /// ([`TransportBuilder::body_limit`](super::TransportBuilder::body_limit)): a page of a list
    /// carries hundreds of resources and may need more room than one resource does.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// Says what the request is for: the operation's name (`"update_sim"`), the path as a
    /// template (`"/v1/Sims/{Sid}"`), and the id of the SIM it concerns, if any. Telemetry uses
    /// them (feature `tracing`); the id is never shown as it is.
    pub fn operation(
        mut self,
        name: &'static str,
        template: &'static str,
        subject: Option<&str>,
    ) -> Self {
        self.operation = name;
        self.template = template;
        #[cfg(feature = "tracing")]
        {
            self.subject = subject.map(str::to_owned);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = subject;
        self
    }

    /// Adds a header of the request's own (a signature, an idempotency key), sent on every
    /// attempt. The transport's own headers win: `Authorization` comes from the transport's
    /// [`Auth`](super::Auth) and `Content-Type` from the body, whatever is set here.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The headers added with [`header`](Self::header).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::Config(format!("request body could not be serialized: {e}")))?;
        self.body = Body::Json(Bytes::from(bytes));
        Ok(self)
    }

    /// Sets a form body from name/value pairs, in order, each percent-encoded.
    pub fn form<'a, I>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        self.body = Body::Form(Bytes::from(s.finish()));
        self
    }

    /// Appends query pairs, each percent-encoded.
    pub fn query<'a, I>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut pairs = pairs.into_iter().peekable();
        if pairs.peek().is_some() {
            let mut q = self.url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
        }
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The operation's name (`"request"` unless [`Request::operation`] said otherwise).
    pub fn operation_name(&self) -> &'static str {
        self.operation
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field(
                "headers",
                &self.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            )
            .field("body", &self.body)
            .field("operation", &self.operation)
            .finish()
    }
}

/// A provider resource as an answer carries it (always a JSON object), with a check that it is
/// one.
///
/// Models are read tolerantly (unknown fields ignored, every field optional), so almost any JSON
/// object deserializes into one. `missing` says what every real answer of the provider carries
/// that this one lacks (the resource's identity, its status): an answer missing it is not the
/// provider's, and [`Response::resource`] refuses it as an [`Error::Decode`] rather than let it
/// pass as success.
pub trait Resource: DeserializeOwned {
    /// The name of what is missing (`"sid"`), or `None` when the value carries what a real answer
    /// carries.
    fn missing(&self) -> Option<&'static str>;
}

/// A success answer: status, headers and the whole body (within the cap).
///
/// Its `Debug` shows the status and the body's size, never the body (an authenticate answer
/// carries tokens).
#[derive(Clone)]
pub struct Response {
    pub(super) transport: Transport,
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) request_id: Option<String>,
    /// The credential the request was sent with: cut out of a decode error's snippet even if
    /// the client has replaced it since.
    pub(super) sent_auth: Option<super::AuthHeader>,
}

impl Response {
    /// The HTTP status (2xx).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The provider's request id, from the first request-id header the transport knows that the
    /// answer carries.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Whether the body is empty (a `204`), whitespace aside.
    pub fn is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// Reads the body as JSON; a body that does not fit is an [`Error::Decode`] with a snippet.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.decode_error(e.to_string()))
    }

    /// Reads the body as a provider resource and checks that it is one ([`Resource`]): a JSON
    /// object (serde would also read a struct from an array of its fields in order, which no
    /// provider sends) carrying what [`Resource::missing`] asks for.
    pub fn resource<T: Resource>(&self) -> Result<T> {
        let first = self.body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(self.decode_error(format!(
                "not a {} answer: expected a JSON object",
                self.transport.provider()
            )));
        }
        let value: T = self.json()?;
        match value.missing() {
            None => Ok(value),
            Some(what) => Err(self.decode_error(format!(
                "not a {} answer: it has no {what}",
                self.transport.provider()
            ))),
        }
    }

    /// Checks an answer where the provider sends no body (a `204`): an empty body, or JSON of any
    /// shape, is fine; anything else (an HTML page from a proxy, plain text) is an
    /// [`Error::Decode`], since it is not the provider's answer.
    pub fn no_content(&self) -> Result<()> {
        if self.is_empty() || serde_json::from_slice::<serde::de::IgnoredAny>(&self.body).is_ok() {
            return Ok(());
        }
        Err(self.decode_error("expected no body or JSON, found something else"))
    }

    /// An [`Error::Decode`] for this answer: its status, request id, `message` and the start of
    /// the body, with the client's secrets cut out of both.
    pub fn decode_error(&self, message: impl Into<String>) -> Error {
        // The secrets go before the body is folded and cut into a snippet, so none is cut in
        // half, or has its spaces folded, and kept.
        let mut redactor = self.transport.redactor();
        if let Some(h) = &self.sent_auth {
            h.redact(&mut redactor);
        }
        let body = String::from_utf8_lossy(&self.body);
        let body = redactor.scrub(&body);
        let mut e = Error::decode(
            self.transport.provider(),
            self.status,
            message,
            body.as_bytes(),
        );
        if let Error::Decode { request_id, .. } = &mut e {
            request_id.clone_from(&self.request_id);
        }
        redactor.scrub_error(e)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("provider", &self.transport.provider())
            .field("status", &self.status)
            .field("request_id", &self.request_id)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_queries_are_encoded() {
        let url = Url::parse("https://a.example/p").unwrap();
        let r = Request::new(Method::POST, url.clone()).form([("Name", "a b&c=d"), ("X", "é")]);
        match r.body() {
            Body::Form(b) => assert_eq!(&b[..], b"Name=a+b%26c%3Dd&X=%C3%A9"),
            other => panic!("{other:?}"),
        }
        let r = Request::new(Method::GET, url).query([("Iccid", "1&2"), ("PageSize", "50")]);
        assert_eq!(r.url().query(), Some("Iccid=1%262&PageSize=50"));
        let r = Request::new(Method::GET, r.url().clone()).query([]);
        assert_eq!(r.url().query(), Some("Iccid=1%262&PageSize=50"));
        let bare = Url::parse("https://a.example/p").unwrap();
        let r = Request::new(Method::GET, bare).query(std::iter::empty());
        assert_eq!(r.url().as_str(), "https://a.example/p");
    }
}
