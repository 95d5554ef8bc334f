//! Each published crate documents its feature flags twice, in its crate docs (`# Feature flags`
//! in `src/lib.rs`) and in its README (`## Features`): both lists must name exactly the features
//! its `Cargo.toml` declares, so that neither can drift (a feature added, renamed or removed
//! without its docs fails here).

use std::collections::BTreeSet;
use std::path::Path;

const CRATES: [&str; 8] = [
    "simcore",
    "simfleet",
    "simcore-redis",
    "simsandbox",
    "supersim-client",
    "emnify-client",
    "sixfab-client",
    "edgeiq-client",
];

/// The features a manifest declares (its `[features]` table, `default` aside).
fn declared(manifest: &str) -> BTreeSet<String> {
    let mut in_features = false;
    let mut out = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if in_features {
            if let Some((name, _)) = line.split_once('=') {
                let name = name.trim();
                if !name.starts_with('#') && name != "default" && !name.is_empty() {
                    out.insert(name.to_owned());
                }
            }
        }
    }
    out
}

/// The features a list documents: the backticked word that opens each `- ` item of the section
/// that starts with `heading`, up to the next heading.
fn documented(text: &str, heading: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_section = false;
    for line in text.lines() {
        let Some(line) = line.strip_prefix(prefix) else {
            in_section = false;
            continue;
        };
        let line = line.trim_start();
        if line.starts_with('#') {
            in_section = line.trim_start_matches('#').trim() == heading;
            continue;
        }
        if in_section {
            if let Some(rest) = line.strip_prefix("- `") {
                if let Some((name, _)) = rest.split_once('`') {
                    out.insert(name.to_owned());
                }
            }
        }
    }
    out
}

#[test]
fn every_crate_documents_exactly_the_features_it_declares() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in CRATES {
        let dir = root.join(krate);
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{krate}/{file}: {e}"))
        };
        let features = declared(&read("Cargo.toml"));
        let docs = documented(&read("src/lib.rs"), "Feature flags", "//!");
        let readme = documented(&read("README.md"), "Features", "");
        assert_eq!(docs, features, "{krate}: the crate docs' # Feature flags");
        assert_eq!(readme, features, "{krate}: the README's ## Features");
    }
}

#[test]
fn the_check_reads_both_lists() {
    let manifest = "[package]\nname = \"x\"\n[features]\ndefault = [\"a\"]\na = []\nb-c = [\"dep:y\"]\n[dependencies]\nz = \"1\"\n";
    assert_eq!(
        declared(manifest),
        BTreeSet::from(["a".into(), "b-c".into()])
    );
    let docs = "//! # Feature flags\n//! - `a` (default): one.\n//! - `b-c`: two\n//!   more.\n//! # Next\n//! - `no`\n";
    assert_eq!(
        documented(docs, "Feature flags", "//!"),
        BTreeSet::from(["a".into(), "b-c".into()])
    );
}
