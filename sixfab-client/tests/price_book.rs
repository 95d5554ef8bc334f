//! Price books read from files change the figures and collapse the ranges that Sixfab's
//! published prices leave open; an asset answer this SDK does not recognise cannot be priced.

use chrono::NaiveDate;
use serde_json::Value;
use simcore::charge::{ChargeRange, Estimate, Money, PriceBook, Pricing, UnpricedReason};
use sixfab_client::pricing::estimate_asset;
use sixfab_client::{Asset, SettableStatus};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn asset(name: &str) -> Asset {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    Asset::from_json(serde_json::from_str::<Value>(&text).unwrap()).unwrap()
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 14).unwrap()
}

fn r(low: u64, high: u64) -> ChargeRange {
    ChargeRange::between(Money::from_cents(low), Money::from_cents(high))
}

fn activate(book: &PriceBook) -> Estimate {
    estimate_asset(
        &asset("asset_alpon.json"),
        Some(SettableStatus::Active),
        book,
        day(),
    )
}

#[test]
fn published_prices_alone_give_a_range_that_names_its_questions() {
    let e = activate(&PriceBook::default());
    let c = e.charge().unwrap();
    assert_eq!((c.now, c.monthly), (r(600, 1000), r(0, 1000)), "{c}");
    let open: Vec<&str> = c
        .assumptions()
        .iter()
        .filter(|a| a.is_open())
        .map(|a| &*a.id)
        .collect();
    assert_eq!(
        open,
        [
            "book.volume-count",
            "sixfab.asset-fee.replaces-sim-fees",
            "sixfab.pro-sim.activation-month",
            "sixfab.asset-fee.recurs-monthly"
        ]
    );
}

#[test]
fn a_json_price_book_collapses_the_range_to_the_fee_instead_of_the_sim_fees() {
    let book = PriceBook::load(fixture("sixfab_prices.json")).unwrap();
    assert_eq!(book.active_sims, Some(14));
    let e = activate(&book);
    let c = e.charge().unwrap();
    // The invoice says the $6 fee stands instead of the SIM fees, every month.
    assert_eq!((c.now, c.monthly), (r(600, 600), r(600, 600)), "{c}");
    assert!(c.is_exact());
    let text = c.to_string();
    assert!(text.contains("(exact by the rules below)"), "{text}");
    assert!(
        text.contains("replaced by the asset fee, as your price book says"),
        "{text}"
    );
    assert!(
        text.contains("active SIMs on the account before the change: 14"),
        "{text}"
    );
}

#[test]
fn a_toml_price_book_changes_the_figures() {
    let book = PriceBook::load(fixture("sixfab_prices.toml")).unwrap();
    let e = activate(&book);
    let c = e.charge().unwrap();
    // $1.80 (the contract's Super SIM price; 3 + 2 active SIMs is below the volume tier) + $2
    // + the $6 fee on top, charged on activation only.
    assert_eq!((c.now, c.monthly), (r(980, 980), r(380, 380)), "{c}");
    assert!(c.is_exact());
    // The same book through the provider interface: the day and the book travel in a Pricing.
    let pricing = Pricing::new(book, day());
    assert_eq!(pricing.book_for("sixfab").unwrap().active_sims, Some(3));
    assert!(pricing.book_for("emnify").is_err());
}

#[test]
fn a_file_that_says_what_a_book_cannot_mean_is_refused_with_its_name() {
    let e = PriceBook::load(fixture("bad_prices.toml")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("bad_prices.toml"), "{text}");
    assert!(text.contains("as text"), "{text}");
}

#[test]
fn an_unrecognised_asset_cannot_be_priced_whatever_the_book() {
    for book in [
        PriceBook::default(),
        PriceBook::load(fixture("sixfab_prices.json")).unwrap(),
    ] {
        let e = estimate_asset(
            &asset("asset_unrecognised.json"),
            Some(SettableStatus::Active),
            &book,
            day(),
        );
        assert!(
            matches!(e.reason(), Some(UnpricedReason::UnrecognisedShape { .. })),
            "{e}"
        );
        assert!(!e.to_string().contains('$'), "{e}");
    }
}
