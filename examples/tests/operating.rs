//! Every client builder takes a proxy and your own `reqwest::Client`: against each provider's
//! sandbox, every request (token and login calls included) goes where the builder says.

use simcore::SimProvider;
use simcore::http::Proxy;
use simsandbox::RecordedRequest;
use testkit::LocalProxy;

/// A `reqwest::Client` that marks its requests, to show it is the one sending.
fn own_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-own-client", "1".parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn all_marked(requests: &[RecordedRequest]) -> bool {
    !requests.is_empty()
        && requests
            .iter()
            .all(|r| r.header("x-own-client") == Some("1"))
}

#[tokio::test]
async fn each_client_goes_through_a_proxy_and_through_your_client() {
    let proxy = LocalProxy::start().await.unwrap();
    let through = || Proxy::new(proxy.url()).unwrap();

    // Super SIM on KORE: the token request and the API request both go through.
    let kore = supersim_client::sandbox::Sandbox::start_with(
        supersim_client::sandbox::SandboxOptions::kore(),
    )
    .await
    .unwrap();
    let sid = kore.seed_sim(supersim_client::sandbox::SimSeed::new());
    let before = proxy.requests().len();
    let c = kore.client_builder().proxy(through()).build().unwrap();
    c.fetch(&sid).await.unwrap();
    let lines: Vec<String> = proxy.requests()[before..]
        .iter()
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(
        lines,
        [
            format!(
                "POST {}/api-services/v1/auth/token HTTP/1.1",
                kore.base_url()
            ),
            format!("GET {}/v1/Sims/{sid} HTTP/1.1", kore.base_url()),
        ]
    );
    kore.server().clear_requests();
    let c = kore
        .client_builder()
        .http_client(own_client())
        .build()
        .unwrap();
    c.fetch(&sid).await.unwrap();
    assert!(all_marked(&kore.requests()));

    // emnify: authenticate and the SIM read both go through.
    let emnify = emnify_client::sandbox::Sandbox::start().await.unwrap();
    let id = emnify
        .seed_sim(emnify_client::sandbox::SimSeed::new())
        .to_string();
    let before = proxy.requests().len();
    let c = emnify.client_builder().proxy(through()).build().unwrap();
    c.fetch(&id).await.unwrap();
    let lines: Vec<String> = proxy.requests()[before..]
        .iter()
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(
        lines,
        [
            format!("POST {}/api/v1/authenticate HTTP/1.1", emnify.base_url()),
            format!("GET {}/api/v1/sim/{id} HTTP/1.1", emnify.base_url()),
        ]
    );
    let c = emnify
        .client_builder()
        .http_client(own_client())
        .build()
        .unwrap();
    emnify.server().clear_requests();
    c.fetch(&id).await.unwrap();
    assert!(all_marked(&emnify.requests()));

    // Sixfab.
    let sixfab = sixfab_client::sandbox::Sandbox::start().await.unwrap();
    let asset = sixfab.seed_asset(sixfab_client::sandbox::AssetSeed::new());
    let before = proxy.requests().len();
    let c = sixfab.client_builder().proxy(through()).build().unwrap();
    c.fetch(&asset).await.unwrap();
    assert_eq!(proxy.requests().len(), before + 1);
    let c = sixfab
        .client_builder()
        .http_client(own_client())
        .build()
        .unwrap();
    sixfab.server().clear_requests();
    c.fetch(&asset).await.unwrap();
    assert!(all_marked(&sixfab.requests()));

    // EdgeIQ, with a session login.
    let edgeiq = edgeiq_client::sandbox::Sandbox::start().await.unwrap();
    let sim = edgeiq.seed_sim(edgeiq_client::sandbox::SimSeed::new());
    let user = edgeiq.seed_user("ops@example.com", "correct horse");
    let before = proxy.requests().len();
    let c = edgeiq
        .builder_without_credentials()
        .proxy(through())
        .login(&user.email, user.password.clone(), None)
        .await
        .unwrap();
    c.fetch(&sim).await.unwrap();
    let lines: Vec<String> = proxy.requests()[before..]
        .iter()
        .map(|r| r.0.clone())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("POST ") && lines[0].ends_with("/user/authenticate HTTP/1.1"));
    let c = edgeiq
        .client_builder()
        .http_client(own_client())
        .build()
        .unwrap();
    edgeiq.server().clear_requests();
    c.fetch(&sim).await.unwrap();
    assert!(all_marked(&edgeiq.requests()));
}
