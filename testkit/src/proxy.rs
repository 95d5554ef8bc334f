//! A forward proxy on loopback for tests of proxy settings.

use std::sync::{Arc, Mutex};

use simsandbox::lock;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What a [`LocalProxy`] saw: each request line and its `Proxy-Authorization` value.
type ProxyLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A forward proxy on loopback for tests: absolute-form HTTP requests are forwarded, `CONNECT` is
/// tunnelled. It records each request line and its `Proxy-Authorization` header, so a test can
/// show that requests went through it.
pub struct LocalProxy {
    url: String,
    seen: ProxyLog,
}

impl LocalProxy {
    /// Starts a proxy on `127.0.0.1` with an ephemeral port.
    pub async fn start() -> std::io::Result<LocalProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen: ProxyLog = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = relay(stream, log).await;
                });
            }
        });
        Ok(LocalProxy { url, seen })
    }

    /// `http://127.0.0.1:PORT`, to give as a proxy URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request line received, with its `Proxy-Authorization` value.
    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        lock(&self.seen).clone()
    }
}

async fn relay(stream: TcpStream, log: ProxyLog) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut head = Vec::new();
    let mut auth = None;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).await?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if h.to_ascii_lowercase().starts_with("proxy-authorization:") {
            auth = Some(h["proxy-authorization:".len()..].trim().to_owned());
            continue;
        }
        head.push(h);
    }
    let request_line = line.trim_end().to_owned();
    lock(&log).push((request_line.clone(), auth));
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    if method == "CONNECT" {
        let mut upstream = TcpStream::connect(&target).await?;
        upstream.write_all(reader.buffer()).await?;
        let mut client = reader.into_inner();
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Absolute form: http://host:port/path -> connect, send the origin form.
    let rest = target.strip_prefix("http://").unwrap_or(&target);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut upstream = TcpStream::connect(authority).await?;
    let mut out = format!(
        "{method} {} HTTP/1.1\r\n",
        if path.is_empty() { "/" } else { path }
    );
    // One request per connection, so each one is seen (and logged) here.
    for h in head.iter().filter(|h| {
        let l = h.to_ascii_lowercase();
        !l.starts_with("connection:") && !l.starts_with("proxy-connection:")
    }) {
        out.push_str(h);
    }
    out.push_str("connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes()).await?;
    // What the reader already holds past the head is the start of the body.
    upstream.write_all(reader.buffer()).await?;
    let mut client = reader.into_inner();
    // Whatever body follows, and the answer, flow both ways until either side closes.
    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.split();
    let up = async {
        let mut buf = [0u8; 8192];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            uw.write_all(&buf[..n]).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let down = tokio::io::copy(&mut ur, &mut cw);
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
    Ok(())
}
