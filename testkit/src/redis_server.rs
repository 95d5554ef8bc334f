//! A real `redis-server` for tests, on an ephemeral loopback port, stopped when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a `redis-server` may take to answer its first `PING`.
const STARTUP_LIMIT: Duration = Duration::from_secs(10);

/// A `redis-server` process of its own, for tests and benchmarks: bound to `127.0.0.1` on a free
/// ephemeral port, with persistence off (`--save ""`, `--appendonly no`), killed when dropped
/// (also when a test panics).
///
/// It runs the `redis-server` found on `PATH` (Debian's package `redis-server`; `.ci/run`
/// installs it). [`RedisServer::start_or_skip`] is what a test calls: without the binary it says
/// so and returns `None`, unless the environment has `CI=true`, where it panics.
///
/// ```no_run
/// use testkit::RedisServer;
/// let Some(redis) = RedisServer::start_or_skip("my test") else { return };
/// assert!(redis.url().starts_with("redis://127.0.0.1:"));
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`. An [`std::io::ErrorKind::NotFound`] error
    /// means there is no `redis-server` on `PATH`.
    pub fn start() -> std::io::Result<RedisServer> {
        let mut last = None;
        // A free port can be taken by someone else between the probe and the start: a few tries.
        for _ in 0..5 {
            let port = free_port()?;
            match Self::start_on(port) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("redis-server did not start")))
    }

    /// Starts one on `port` (for a restart on the same port after [`stop`](Self::stop)).
    pub fn start_on(port: u16) -> std::io::Result<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = RedisServer {
            child: Some(child),
            port,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// [`start`](Self::start), or `None` after saying why on stderr when there is no
    /// `redis-server` binary. With `CI=true` in the environment a missing binary (or one that
    /// does not start) panics instead: CI must run what needs Redis.
    pub fn start_or_skip(what: &str) -> Option<RedisServer> {
        match Self::start() {
            Ok(s) => Some(s),
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "no redis-server on PATH (Debian: apt-get install redis-server; .ci/run installs it)"
                        .to_owned()
                } else {
                    format!("redis-server did not start: {e}")
                };
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("CI=true and {what} cannot run: {why}");
                }
                eprintln!("{what} skipped: {why}");
                None
            }
        }
    }

    fn wait_until_ready(&mut self) -> std::io::Result<()> {
        let started = Instant::now();
        loop {
            if ping(self.port) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    return Err(std::io::Error::other(format!(
                        "redis-server exited at start ({status}); is port {} taken?",
                        self.port
                    )));
                }
            }
            if started.elapsed() > STARTUP_LIMIT {
                self.stop();
                return Err(std::io::Error::other(format!(
                    "redis-server did not answer PING within {STARTUP_LIMIT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Whether it answers `PING` now.
    pub fn is_up(&self) -> bool {
        ping(self.port)
    }

    /// Kills it (SIGKILL: no goodbye to clients) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Whether a Redis on `port` answers `PING` with `+PONG` (in the inline protocol).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
