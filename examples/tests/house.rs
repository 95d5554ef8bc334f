//! The rooms of each provider crate depend one way: models ← requests ← client ← provider. The
//! one edge back is a request builder's `send()` calling its client. A room that reaches up to a
//! later one (a model using the provider adapter, a request reading a table from `provider.rs`)
//! fails this test.

use std::path::Path;

const ROOMS: [&str; 4] = ["models", "requests", "client", "provider"];
const CRATES: [&str; 4] = [
    "supersim-client",
    "emnify-client",
    "sixfab-client",
    "edgeiq-client",
];

/// The rooms `crate::…` paths name in the code of `text` (comments and doc comments aside).
fn rooms_used(text: &str) -> Vec<&'static str> {
    let mut used = Vec::new();
    for line in text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("//"))
    {
        for room in ROOMS {
            if line.contains(&format!("crate::{room}")) && !used.contains(&room) {
                used.push(room);
            }
        }
    }
    used
}

#[test]
fn each_provider_crate_s_rooms_depend_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for krate in CRATES {
        for (rank, room) in ROOMS.iter().enumerate() {
            let path = root.join(krate).join("src").join(format!("{room}.rs"));
            let text = std::fs::read_to_string(&path).expect("each room exists");
            for used in rooms_used(&text) {
                let used_rank = ROOMS.iter().position(|r| *r == used).unwrap();
                let expected_back_edge = *room == "requests" && used == "client";
                assert!(
                    used_rank <= rank || expected_back_edge,
                    "{krate}: {room}.rs uses crate::{used}, a later room"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
}

#[test]
fn the_check_sees_an_edge_back() {
    assert_eq!(rooms_used("use crate::provider::LIFECYCLE;"), ["provider"]);
    assert!(rooms_used("/// see [`crate::provider`]").is_empty());
}
