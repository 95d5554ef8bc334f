//! One vocabulary across every client: the same update, list, error match and builder setting
//! driven through all four clients with the same names. The macro below is written once; if a
//! client named a builder, a setter, a list verb, a result or a constant differently, this test
//! would not compile. Each client runs against its own sandbox, and each step asserts what was
//! sent.

use std::time::Duration;

use futures_util::StreamExt;
use simcore::error::Sent;
use simcore::paging::Page;

/// Drives one client through the shared vocabulary. The names are written here, once: `sims:`
/// for a provider whose resource is a SIM, `assets:` where it is an asset (Sixfab); everything
/// else is spelt the same for every client.
macro_rules! one_vocabulary {
    (sims: $krate:ident, $($rest:tt)*) => {
        one_vocabulary!(@run $krate, update_sim, list_sims, get_sim,
            UpdateSimBuilder, UpdateSimRequest, ListSims, $($rest)*)
    };
    (assets: $krate:ident, $($rest:tt)*) => {
        one_vocabulary!(@run $krate, update_asset, list_assets, get_asset,
            UpdateAssetBuilder, UpdateAssetRequest, ListAssets, $($rest)*)
    };
    (
        @run $krate:ident,
        $update:ident,
        $list:ident,
        $get:ident,
        $Builder:ident,
        $Request:ident,
        $List:ident,
        sandbox: $sandbox:expr,
        seed: $seed:expr,
        target: $target:expr,
        already: $already:expr,
        missing: $missing:expr,
        ids_of: $ids_of:expr $(,)?
    ) => {{
        use $krate::client::ENV_BASE_URL;
        use $krate::{Client, Updated, errors};

        let sandbox = $sandbox;
        // Each provider's own id type (emnify's are numbers).
        let seeded: Vec<_> = (0..3).map(|_| $seed(&sandbox)).collect();
        let id = seeded[0].clone();
        let provider = stringify!($krate);
        assert!(
            ENV_BASE_URL.ends_with("_BASE_URL"),
            "{provider}: {ENV_BASE_URL}"
        );
        // The same builder setting, through every client's builder.
        let client: Client = sandbox
            .client_builder()
            .deadline(Duration::from_secs(20))
            .build()
            .unwrap();

        // Read one, by the same verb.
        let got = client.$get(id.clone()).await.unwrap();
        assert!($ids_of(&got).contains(&id.to_string()), "{provider}");

        // A status the SIM is known to have already: nothing is sent.
        let before = sandbox.requests().len();
        let builder: $krate::$Builder = client.$update(id.clone());
        let unchanged = builder
            .status($target)
            .known_status($already)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(unchanged, Updated::Unchanged),
            "{provider}: {unchanged:?}"
        );
        assert_eq!(sandbox.requests().len(), before, "{provider}: nothing sent");

        // The request as data, sent by the client, with this call's own options.
        let request: $krate::$Request = client
            .$update(id.clone())
            .status($target)
            .attempts(2)
            .deadline(Duration::from_secs(10))
            .into_request()
            .unwrap();
        let options: simcore::CallOptions = request.options;
        assert_eq!(options.attempts, Some(2), "{provider}: the request keeps its options");
        let sent = match client.send(&request).await.unwrap() {
            Updated::Done(_) | Updated::Pending(_) => true,
            Updated::Unchanged => false,
        };
        assert!(sent, "{provider}: a change is sent");
        assert!(
            sandbox.requests().len() > before,
            "{provider}: the sandbox saw it"
        );

        // Bad per-call options are refused, naming the field, with nothing sent: as data too.
        let refused = client
            .$update(id.clone())
            .status($target)
            .attempts(0)
            .into_request()
            .unwrap_err();
        assert!(
            matches!(&refused, simcore::Error::Invalid(v) if v.field() == "attempts"),
            "{provider}: {refused}"
        );
        let before = sandbox.requests().len();
        let err = client
            .$update(id.clone())
            .status($target)
            .attempts(0)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.sent(), Sent::No, "{provider}: {err}");
        assert_eq!(sandbox.requests().len(), before, "{provider}: nothing sent");

        // The list verbs: one page, resuming from its `next`, every page, every item.
        assert!($krate::$List::MAX_PAGE_SIZE >= 100, "{provider}");
        let list: $krate::$List = client.$list();
        let first: Page<_> = list
            .page_size(1)
            .attempts(1)
            .first_page()
            .await
            .unwrap();
        assert_eq!(first.items.len(), 1, "{provider}");
        let next = first.next.clone().expect("more than one page of one");
        let second = client
            .$list()
            .page_size(1)
            .resume_from(next)
            .first_page()
            .await
            .unwrap();
        assert_eq!(second.items.len(), 1, "{provider}");
        assert_ne!(
            $ids_of(&first.items[0]),
            $ids_of(&second.items[0]),
            "{provider}: resuming reads the next page"
        );
        let all = client.$list().page_size(2).collect_all().await.unwrap();
        let streamed: Vec<_> = client.$list().page_size(2).stream().collect().await;
        let pages: Vec<_> = client.$list().page_size(2).pages().collect().await;
        assert_eq!(all.len(), streamed.len(), "{provider}");
        assert_eq!(
            all.len(),
            pages
                .iter()
                .map(|p| p.as_ref().unwrap().items.len())
                .sum::<usize>(),
            "{provider}"
        );
        for id in &seeded {
            let id = id.to_string();
            assert!(
                all.iter().any(|item| $ids_of(item).contains(&id)),
                "{provider}: {id} is listed"
            );
        }

        // The same error match: a SIM the provider does not know.
        let err = client
            .$update($missing)
            .status($target)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(404), "{provider}: {err}");
        assert_eq!(err.sent(), Sent::Yes, "{provider}: {err}");
        assert!(!err.is_retryable(), "{provider}: {err}");
        assert!(
            err.to_string().ends_with("; retrying will not help"),
            "{provider}: {err}"
        );
        // Every crate names its provider's codes the same way (a 404 may carry none).
        let _code: Option<errors::Code> = errors::Code::of(&err);
    }};
}

#[tokio::test]
async fn every_client_speaks_the_same_names() {
    use supersim_client::sandbox::{Sandbox, SimSeed};
    one_vocabulary!(
        sims: supersim_client,
        sandbox: Sandbox::start().await.unwrap(),
        seed: |s: &Sandbox| s.seed_sim(SimSeed::new()),
        target: supersim_client::SettableStatus::Inactive,
        already: supersim_client::Status::Inactive,
        missing: "HS00000000000000000000000000000fff",
        ids_of: |s: &supersim_client::Sim| s.sid.iter().cloned().collect::<Vec<_>>(),
    );

    use emnify_client::sandbox::{Sandbox as Emnify, SimSeed as EmnifySeed};
    one_vocabulary!(
        sims: emnify_client,
        sandbox: Emnify::start().await.unwrap(),
        seed: |s: &Emnify| s.seed_sim(EmnifySeed::new()),
        target: emnify_client::SettableStatus::Activated,
        already: emnify_client::SimStatus::Activated,
        missing: 999_999,
        ids_of: |s: &emnify_client::Sim| vec![s.id.to_string()],
    );

    use sixfab_client::sandbox::{AssetSeed, Sandbox as Sixfab};
    one_vocabulary!(
        assets: sixfab_client,
        sandbox: Sixfab::start().await.unwrap(),
        seed: |s: &Sixfab| s.seed_asset(AssetSeed::new()),
        target: sixfab_client::SettableStatus::Active,
        already: sixfab_client::AssetStatus::Active,
        missing: "SN-NOT-THERE",
        ids_of: |a: &sixfab_client::Asset| {
            [&a.id, &a.uuid, &a.serial_number]
                .into_iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
        },
    );

    use edgeiq_client::sandbox::{Sandbox as EdgeIq, SimSeed as EdgeIqSeed};
    one_vocabulary!(
        sims: edgeiq_client,
        sandbox: EdgeIq::start().await.unwrap(),
        seed: |s: &EdgeIq| s.seed_sim(EdgeIqSeed::new()),
        target: "active",
        already: "active",
        missing: "0123456789abcdef01234567",
        ids_of: |r: &edgeiq_client::SimRecord| r.id.iter().cloned().collect::<Vec<_>>(),
    );
}
