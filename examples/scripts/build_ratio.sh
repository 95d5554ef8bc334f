#!/usr/bin/env bash
# B1: what a user pays at build time for one client crate. A clean debug build of
# `emnify-client` with its default features, against a clean debug build of a crate that depends
# only on what a hand-written client would: reqwest (the same features), serde, serde_json and
# tokio. Both resolve their dependencies from this workspace's Cargo.lock, so the versions are the
# same. Rounds alternate which build goes first; the figure is the median ratio.
#
# Usage: bash examples/scripts/build_ratio.sh [ROUNDS]   (default 3; each round is two clean builds)
# Prints one line: B1_build_emnify_vs_raw RATIO <=1.05
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The baseline crate, with the workspace's own versions of each dependency.
mkdir -p "$work/raw/src"
cat > "$work/raw/Cargo.toml" <<TOML
[package]
name = "raw-client"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
reqwest = { version = "0.13", default-features = false, features = ["rustls", "system-proxy"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
tokio = { version = "1", default-features = false, features = ["sync", "time"] }

[workspace]
TOML
cat > "$work/raw/src/lib.rs" <<'RS'
//! A hand-written client's dependencies, used once each.
#[derive(serde::Deserialize)]
pub struct Sim { pub id: u64 }
pub async fn get(c: &reqwest::Client, url: &str) -> Result<Sim, Box<dyn std::error::Error>> {
    let body = c.get(url).send().await?.bytes().await?;
    let _ = tokio::time::Instant::now();
    Ok(serde_json::from_slice(&body)?)
}
RS
cp Cargo.lock "$work/raw/Cargo.lock"

seconds() { # runs a command, prints its wall time in seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}
build_sdk() {
    rm -rf "$work/target-sdk"
    CARGO_TARGET_DIR="$work/target-sdk" seconds cargo build --offline -q -p emnify-client
}
build_raw() {
    rm -rf "$work/target-raw"
    (cd "$work/raw" && CARGO_TARGET_DIR="$work/target-raw" seconds cargo build --offline -q)
}

# Fetch once, so no round times a download.
cargo fetch -q
(cd "$work/raw" && cargo fetch -q)

ratios=()
for i in $(seq 1 "$rounds"); do
    if [ $((i % 2)) -eq 1 ]; then
        sdk=$(build_sdk); raw=$(build_raw)
    else
        raw=$(build_raw); sdk=$(build_sdk)
    fi
    ratio=$(awk -v a="$sdk" -v b="$raw" 'BEGIN { print a / b }')
    printf 'round %d: emnify-client %.1f s, raw %.1f s, ratio %.3f\n' "$i" "$sdk" "$raw" "$ratio" >&2
    ratios+=("$ratio")
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
printf 'B1_build_emnify_vs_raw %.3f <=1.05\n' "$median"
