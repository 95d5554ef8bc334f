//! Serving the admin API: an accept loop over hyper's HTTP/1.1 connections that stops within
//! a bounded grace period whatever its clients do, and that answers even the requests hyper
//! refuses before any router sees them in the admin API's JSON error shape.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use simsandbox::SHUTDOWN_GRACE;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `router` on `listener` until `stop` turns true (or its sender is dropped). Then it
/// takes no new connection, closes the idle ones, gives the requests in flight
/// [`SHUTDOWN_GRACE`] to be answered, and drops every connection still open (a client that
/// sent half a request and waits, say): it returns within the grace period whatever the
/// clients do.
pub async fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: wait a moment instead of spinning.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            router.clone().oneshot(req.map(Body::new))
        });
        let mut stop = stop.clone();
        connections.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(JsonParseErrors::new(stream)), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stopped(&mut stop) => {
                    // Idle connections close now; one with a request in flight after it.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    // Past the grace: whatever is left is dropped, its socket closed.
    connections.shutdown().await;
}

/// Resolves once `stop` is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A connection's socket that turns hyper's own answers into the admin API's JSON errors.
///
/// Hyper answers a request it cannot parse (a path that is not UTF-8, a malformed request
/// line or header) by itself, before any service is called: an empty `400` (`414` for a URI
/// too long, `431` for headers too large), then it closes the connection. No router or
/// middleware sees that request, so the answer is rewritten where it is written: a response
/// head with a 4xx status and no `content-type` can only be hyper's own (every answer the
/// admin router gives has a `content-type`, [`crate::admin::json_errors`] sees to it), and it is
/// replaced by the same status with a JSON body.
struct JsonParseErrors<S> {
    inner: S,
    /// The JSON answer written in place of hyper's, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonParseErrors<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

/// If `buf` starts with a whole response head that is hyper's own refusal (`400`, `414` or
/// `431`, without a `content-type`): its status and the head's length.
fn automatic_answer(buf: &[u8]) -> Option<(u16, usize)> {
    if !buf.starts_with(b"HTTP/1.") || buf.len() < 12 {
        return None;
    }
    let status: u16 = std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()?;
    // The statuses hyper answers a request it cannot parse with.
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    if head.contains("\r\ncontent-type:") {
        return None;
    }
    Some((status, end))
}

/// The admin API's JSON error in place of hyper's answer with `status`.
fn json_answer(status: u16) -> Vec<u8> {
    let message = match status {
        414 => "the request's URI is too long for the admin API".to_owned(),
        431 => "the request's headers are too large for the admin API".to_owned(),
        _ => "the request could not be read as HTTP/1.1: its request line or a header is \
              malformed (a path must be valid UTF-8)"
            .to_owned(),
    };
    let body = serde_json::json!({"error": {"message": message}}).to_string();
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Bad Request");
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<S: AsyncWrite + Unpin> JsonParseErrors<S> {
    /// Writes what is left of the JSON answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, at)) = &mut self.pending {
            if *at >= bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *at += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some((status, head)) = automatic_answer(buf) {
            this.pending = Some((json_answer(status), 0));
            // Hyper's head is taken whole, unwritten; the JSON answer goes out now or at the
            // next flush.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(head));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each head whole at the start of one buffer, where
    // `automatic_answer` finds it.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_4xx_head_without_a_content_type_is_hyper_s_own() {
        let hyper_s = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(automatic_answer(hyper_s), Some((400, hyper_s.len())));
        let with_more = [&hyper_s[..], b"trailing"].concat();
        assert_eq!(automatic_answer(&with_more), Some((400, hyper_s.len())));
        for not_it in [
            &b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{}"[..],
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{}",
            b"HTTP/1.1 405 Method Not Allowed\r\nallow: GET\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-len",
            b"{\"error\": 1}",
            b"HTTP/1.1 4",
        ] {
            assert_eq!(automatic_answer(not_it), None, "{not_it:?}");
        }
        let answer = String::from_utf8(json_answer(431)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains("headers"));
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));
    }
}
