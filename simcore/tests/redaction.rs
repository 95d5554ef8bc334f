//! Every secret a client ever sent is cut out of what it keeps of an answer: the credential sent
//! on that attempt even when the client has replaced it since, and every credential in encodings
//! the client never sends itself (base64 inside a `Basic` pair or a JWT).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use secrecy::SecretString;
use simcore::http::{
    Auth, AuthHeader, Authenticator, Method, REDACTED, Redactor, Request, Transport,
    header::AUTHORIZATION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every way `text` may hold `secret` in base64: each run between markers, read from each of
/// its first four characters, in either alphabet.
fn base64_readings(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for piece in text.split(REDACTED) {
        let piece: String = piece
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        for run in piece.split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/')) {
            for shift in 0..4.min(run.len()) {
                let usable = (run.len() - shift) / 4 * 4;
                if let Ok(bytes) = STANDARD.decode(&run[shift..shift + usable]) {
                    out.push(bytes);
                }
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A secret inside any base64 text (any bytes before and after it, either alphabet, padded
    /// or not) never survives a scrub.
    #[test]
    fn a_secret_inside_base64_never_survives(
        secret in "[ -~]{6,40}",
        before in proptest::collection::vec(any::<u8>(), 0..20),
        after in proptest::collection::vec(any::<u8>(), 0..20),
        url_safe in any::<bool>(),
    ) {
        let mut r = Redactor::new();
        r.add(&SecretString::from(secret.clone()));
        let mut bytes = before.clone();
        bytes.extend_from_slice(secret.as_bytes());
        bytes.extend_from_slice(&after);
        let encoded = if url_safe { URL_SAFE_NO_PAD.encode(&bytes) } else { STANDARD.encode(&bytes) };
        let text = format!("{{\"echo\": \"{encoded}\"}}");
        let clean = r.scrub(&text);
        for reading in base64_readings(&clean) {
            prop_assert!(!contains(&reading, secret.as_bytes()), "{clean}");
        }
    }
}

#[test]
fn a_basic_pair_this_client_never_sends_is_cut_out() {
    // KORE's client secret travels in a form body; a server may echo it as client_secret_basic.
    let mut r = Redactor::new();
    r.add(&SecretString::from("kore-client-SECRET-42"));
    let echoed = format!(
        "invalid client: Basic {}",
        STANDARD.encode("client-1:kore-client-SECRET-42")
    );
    let clean = r.scrub(&echoed);
    assert!(clean.contains(REDACTED), "{clean}");
    for reading in base64_readings(&clean) {
        assert!(!contains(&reading, b"kore-client-SECRET-42"), "{clean}");
    }
}

/// Hands out `token-<n>`, and has moved on to the next one by the time anything asks what it
/// holds: the cache refreshed between a request and its answer.
#[derive(Debug, Default)]
struct Rotating(AtomicU32);

impl Rotating {
    fn token(n: u32) -> String {
        format!("rotating-token-{n:04}")
    }
}

#[simcore::async_trait]
impl Authenticator for Rotating {
    async fn header(&self) -> simcore::Result<AuthHeader> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        AuthHeader::new(AUTHORIZATION, &format!("Bearer {}", Rotating::token(n)))
    }
    async fn rejected(&self, _used: &AuthHeader) -> bool {
        false
    }
    fn redact(&self, into: &mut Redactor) {
        into.add_str(&Rotating::token(self.0.load(Ordering::SeqCst)));
    }
}

/// A server that answers every request with `status` and a body quoting the Authorization
/// header it got, as it came and in base64.
async fn echo_server(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = 0;
                while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..got]).to_string();
                let auth = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .unwrap_or_default()
                    .to_owned();
                let body = serde_json::json!({
                    "message": format!("bad token {auth}"),
                    "debug": STANDARD.encode(&auth),
                })
                .to_string();
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn the_token_sent_on_an_attempt_is_cut_out_even_after_it_was_replaced() {
    for status in [400, 401, 500, 200] {
        let url = echo_server(status).await;
        let transport = Transport::builder("test", url)
            .auth(Auth::dynamic(Arc::new(Rotating::default())))
            .retry(simcore::retry::RetryPolicy::none())
            .build()
            .unwrap();
        let request = Request::new(Method::GET, transport.url(&["sims", "1"]).unwrap());
        let err = match transport.send(&request).await {
            Err(e) => e,
            // A 2xx whose body is not the provider's answer: the decode error's snippet.
            Ok(response) => response.no_content().err().unwrap_or_else(|| {
                response
                    .json::<Vec<u8>>()
                    .expect_err("an object is not a list")
            }),
        };
        let text = format!("{err} {err:?}");
        assert!(!text.contains("rotating-token-0000"), "{status}: {text}");
        for reading in base64_readings(&text) {
            assert!(
                !contains(&reading, b"rotating-token-0000"),
                "{status}: {text}"
            );
        }
        assert!(text.contains(REDACTED), "{status}: {text}");
    }
}
