//! Quickstart: the shared vocabulary of the SIM SDK family, with no account and no network.
//!
//! Run: `cargo run --example quickstart` (needs nothing else).
//!
//! It shows validation at the edge (ICCIDs, display names, metadata), each provider's status
//! lifecycle as data, and a SIM walked through its life on the Twilio Super SIM lifecycle, with the
//! refusals a real API would send back, given before any request. The provider clients and their
//! local sandboxes join this example as they land.

use serde_json::json;
use sim_examples::heading;
use simcore::{DisplayName, Iccid, Lifecycle, Metadata, SimState};

fn main() {
    heading("Validation at the edge");
    for input in ["89882806660004909182", "8988 2806 6600 0490 918", "123"] {
        match Iccid::parse(input) {
            Ok(iccid) => println!(
                "ICCID {iccid}: valid (Luhn check digit {})",
                if iccid.luhn_ok() { "ok" } else { "off" }
            ),
            Err(e) => println!("ICCID {input:?}: {e}"),
        }
    }
    for input in ["pump station 7", "x", " padded name"] {
        match DisplayName::parse(input) {
            Ok(name) => println!("name \"{name}\": valid"),
            Err(e) => println!("name {input:?}: {e}"),
        }
    }
    let many: serde_json::Map<_, _> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    match Metadata::try_from(serde_json::Value::Object(many)) {
        Ok(_) => println!("metadata with 51 keys: accepted"),
        Err(e) => println!("metadata with 51 keys: {e}"),
    }

    heading("Lifecycles as data");
    show(
        "Twilio Super SIM",
        &supersim_client::LIFECYCLE.map(supersim_client::provider::canonical),
    );
    show(
        "emnify",
        &emnify_client::LIFECYCLE.map(emnify_client::provider::canonical),
    );
    show(
        "Sixfab asset",
        &sixfab_client::LIFECYCLE.map(sixfab_client::provider::canonical),
    );
    println!("EdgeIQ: open carrier status (any value of 1 to 30 characters may follow any other)");

    heading("A Super SIM through its life (checked locally, nothing sent)");
    use supersim_client::Status;
    let lifecycle = &supersim_client::LIFECYCLE;
    let mut current = Status::New;
    for target in [
        Status::Ready,
        Status::Active,
        Status::Ready,
        Status::Inactive,
        Status::New,
        Status::Active,
    ] {
        match lifecycle.check(&current, &target) {
            Ok(()) => {
                println!("{current} -> {target}: allowed");
                current = target;
            }
            Err(e) => println!("{current} -> {target}: refused: {e}"),
        }
    }
    println!("final status: {current}");
    assert_eq!(current, Status::Active);
}

fn show(name: &str, lifecycle: &Lifecycle<SimState>) {
    let pairs = lifecycle.pairs().unwrap_or_default();
    let text: Vec<String> = pairs.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
    println!("{name}: {}", text.join(", "));
}
