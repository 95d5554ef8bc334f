//! A credential a sandbox issued never leaves loopback: whatever the credential around the mark,
//! however it is sent (Basic, Bearer, a raw `Authorization`, an API-key header, a login body, a
//! token fetched later), and whatever host that is not loopback the client points at.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use simcore::Error;
use simcore::http::{
    Auth, AuthHeader, Authenticator, Method, Proxy, Redactor, Request, SANDBOX_CREDENTIAL_MARK,
    Transport, header::AUTHORIZATION, sandbox_credential,
};

/// The ways a credential travels: the auth header in each form, or a body (a login's).
fn with_credential(kind: u8, secret: &str, base: &str) -> simcore::Result<Transport> {
    let secret = SecretString::from(secret.to_owned());
    let builder = Transport::builder("test", base);
    match kind % 5 {
        0 => builder.auth(Auth::basic("AC0123", &secret)?),
        1 => builder.auth(Auth::bearer(&secret)?),
        2 => builder.auth(Auth::raw_authorization(&secret)?),
        3 => builder.auth(Auth::header("x-api-key", &secret)?),
        _ => builder.redact(&secret),
    }
    .build()
}

/// Hosts that are not loopback: names (some that only look local), IPv4 outside 127.0.0.0/8,
/// IPv6 other than `::1`.
fn remote_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,6}){1,2}",
        Just("localhost.example.com".to_owned()),
        Just("127.0.0.1.nip.io".to_owned()),
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255)
            .prop_filter("not loopback", |(a, ..)| *a != 127)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>()
            .prop_filter("not ::1", |s| *s != [0, 0, 0, 0, 0, 0, 0, 1])
            .prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

/// A credential with the mark anywhere in it.
fn marked() -> impl Strategy<Value = String> {
    ("[A-Za-z0-9._~+/=-]{0,40}", "[A-Za-z0-9._~+/=-]{0,40}")
        .prop_map(|(a, b)| format!("{a}{SANDBOX_CREDENTIAL_MARK}{b}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_sandbox_credential_is_refused_for_any_host_that_is_not_loopback(
        secret in marked(), host in remote_host(), kind in any::<u8>(),
    ) {
        let err = with_credential(kind, &secret, &format!("https://{host}")).unwrap_err();
        let text = format!("{err} {err:?}");
        prop_assert!(matches!(err, Error::Config(_)), "{text}");
        prop_assert!(text.contains("issued by a local sandbox"), "{text}");
        prop_assert!(!text.contains(&secret), "the refusal quoted the credential");
    }

    #[test]
    fn a_sandbox_credential_goes_to_loopback_hosts(
        secret in marked(), kind in any::<u8>(),
        host in prop_oneof![
            (0u8..=255, 0u8..=255, 0u8..=255).prop_map(|(b, c, d)| format!("127.{b}.{c}.{d}")),
            Just("[::1]".to_owned()),
            Just("localhost".to_owned()),
            Just("LocalHost".to_owned()),
        ],
    ) {
        let built = with_credential(kind, &secret, &format!("http://{host}:4010"));
        prop_assert!(built.is_ok(), "{:?}", built.err());
    }

    #[test]
    fn other_credentials_go_anywhere(
        secret in "[A-Za-z0-9._~+/=-]{1,60}", host in remote_host(), kind in any::<u8>(),
    ) {
        prop_assume!(!secret.contains(SANDBOX_CREDENTIAL_MARK));
        let built = with_credential(kind, &secret, &format!("https://{host}"));
        prop_assert!(built.is_ok(), "{:?}", built.err());
    }
}

/// A token handed out later (fetched, or read from a store shared with a sandbox run).
#[derive(Debug)]
struct Fixed(String);

#[simcore::async_trait]
impl Authenticator for Fixed {
    async fn header(&self) -> simcore::Result<AuthHeader> {
        AuthHeader::new(AUTHORIZATION, &format!("Bearer {}", self.0))
    }
    async fn rejected(&self, _used: &AuthHeader) -> bool {
        false
    }
    fn redact(&self, into: &mut Redactor) {
        into.add(&SecretString::from(self.0.clone()));
    }
}

/// A loopback listener that counts the connections opened to it.
async fn counting_listener() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (url, seen)
}

async fn send_with_token(token: &str, proxy: &str) -> simcore::Result<()> {
    let transport = Transport::builder("test", "https://sims.provider.example")
        .auth(Auth::dynamic(Arc::new(Fixed(token.to_owned()))))
        .proxy(Proxy::new(proxy)?)
        .retry(simcore::retry::RetryPolicy::none())
        .build()?;
    let request = Request::new(Method::GET, transport.url(&["sims", "1"])?);
    transport.send(&request).await.map(drop)
}

#[tokio::test]
async fn a_sandbox_token_handed_out_later_is_never_sent_to_a_remote_host() {
    let (proxy, seen) = counting_listener().await;
    let token = sandbox_credential("0123456789abcdef");
    let err = send_with_token(&token, &proxy).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        err.to_string().contains("issued by a local sandbox"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains(&token));
    assert_eq!(seen.load(Ordering::SeqCst), 0, "a connection was opened");

    // The same call with any other token goes out (through the proxy, which drops it): the
    // listener is where a request would have gone.
    let err = send_with_token("a-real-token", &proxy).await.unwrap_err();
    assert!(!matches!(err, Error::Config(_)), "{err:?}");
    assert!(seen.load(Ordering::SeqCst) >= 1);
}

#[test]
fn the_mark_is_what_sandbox_credentials_carry() {
    let c = sandbox_credential("x");
    assert!(c.starts_with(SANDBOX_CREDENTIAL_MARK));
    assert!(simcore::http::is_sandbox_credential(&c));
    let secret = SecretString::from(c);
    assert!(!secret.expose_secret().is_empty());
}
