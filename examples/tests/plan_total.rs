//! A plan over four providers totals its charges per provider and overall, as ranges, in each
//! currency apart, with the rows of the providers that cannot be priced counted and named.

use std::sync::Arc;

use simcore::charge::{ChargeRange, Currency, Money, PriceBooks, Pricing};
use simcore::{SimChange, SimProvider, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater};
use simfleet::charge::ChargeTotal;

fn r(low: u64, high: u64) -> ChargeRange {
    ChargeRange::between(Money::from_cents(low), Money::from_cents(high))
}

#[tokio::test]
async fn a_multi_provider_plan_totals_what_it_can_and_names_the_rest() {
    let books = PriceBooks::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prices.toml"),
    )
    .unwrap();

    let sixfab = sixfab_client::sandbox::Sandbox::start().await.unwrap();
    let alpons: Vec<String> = (1..=2)
        .map(|i| {
            sixfab.seed_asset(
                sixfab_client::sandbox::AssetSeed::new().serial_number(format!("SN-ALPON-{i}")),
            )
        })
        .collect();
    let emnify = emnify_client::sandbox::Sandbox::start().await.unwrap();
    let issued: Vec<String> = (0..2)
        .map(|_| {
            emnify
                .seed_sim(emnify_client::sandbox::SimSeed::new().status(0))
                .to_string()
        })
        .collect();
    let active = emnify
        .seed_sim(emnify_client::sandbox::SimSeed::new().status(1))
        .to_string();
    let twilio = supersim_client::sandbox::Sandbox::start().await.unwrap();
    let sid = twilio.seed_sim(supersim_client::sandbox::SimSeed::new().unique_name("pump-1"));
    let edgeiq = edgeiq_client::sandbox::Sandbox::start().await.unwrap();
    let record = edgeiq.seed_sim(edgeiq_client::sandbox::SimSeed::new());

    let on = || SimChange::new().state(SimState::Active);
    let plan: Vec<(Arc<dyn SimProvider>, Vec<BulkItem>)> = vec![
        (
            Arc::new(sixfab.client()),
            alpons.iter().map(|id| BulkItem::new(id, on())).collect(),
        ),
        (
            Arc::new(emnify.client()),
            issued
                .iter()
                .map(|id| BulkItem::new(id, on()))
                .chain([BulkItem::new(
                    &active,
                    SimChange::new().state(SimState::Inactive),
                )])
                .collect(),
        ),
        (Arc::new(twilio.client()), vec![BulkItem::new(&sid, on())]),
        (
            Arc::new(edgeiq.client()),
            vec![BulkItem::new(&record, on())],
        ),
    ];
    let mut total = ChargeTotal::new();
    for (provider, items) in plan {
        let pricing = Pricing::today().with_book(books.for_provider(provider.name()));
        let report = BulkUpdater::new(provider)
            .dry_run(true)
            .fetch_current(true)
            .pricing(pricing)
            .run(items)
            .await;
        assert_eq!(report.refused + report.failed, 0, "{:?}", report.failures);
        total.merge(&report.charges);
    }

    // Sixfab: 14 active SIMs (the volume price), the ALPON fee on top, monthly: $9.60 each.
    let s = total.provider("sixfab").unwrap();
    assert_eq!(s.priced, 2);
    assert_eq!(s.sums[&Currency::USD].now, r(1920, 1920));
    assert_eq!(s.sums[&Currency::USD].monthly, r(1920, 1920));
    // emnify in euros: two first activations bill this month; the suspension costs nothing.
    let e = total.provider("emnify").unwrap();
    assert_eq!(e.priced, 3);
    assert_eq!(e.sums[&Currency::EUR].now, r(300, 300));
    assert_eq!(e.sums[&Currency::EUR].monthly, r(300, 300));
    // Twilio and EdgeIQ publish no prices and have no book: counted and named, never $0.
    let mut unpriced: Vec<(&str, &str)> = total
        .unpriced()
        .map(|(p, row)| (p, row.id.as_str()))
        .collect();
    unpriced.sort();
    assert_eq!(
        unpriced,
        [("edgeiq", record.as_str()), ("supersim", sid.as_str())]
    );
    for (_, row) in total.unpriced() {
        assert_eq!(row.reason.label(), "no published price");
    }
    assert!(total.provider("supersim").unwrap().sums.is_empty());

    // Overall: each currency apart; the unpriced rows are outside the figures and say so.
    let overall = total.overall();
    assert_eq!(overall.len(), 2);
    assert_eq!(overall[&Currency::USD].now, r(1920, 1920));
    assert_eq!(overall[&Currency::EUR].now, r(300, 300));
    assert_eq!((total.priced(), total.unpriced_count()), (5, 2));
    assert!(!total.is_exact());
    let text = total.to_string();
    assert!(
        text.contains("overall: €3.00 now, €3.00 a month after; and $19.20 now, $19.20 a month after (5 rows priced; 2 rows cannot be priced (not in these figures): "),
        "{text}"
    );
    assert!(text.contains(&format!("supersim {sid}")), "{text}");
    assert!(
        text.contains("supersim: nothing priced (1 row cannot be priced"),
        "{text}"
    );
}
