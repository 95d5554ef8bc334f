#!/usr/bin/env bash
# Fuzzes simcore's id-to-path building and its error-body parsing and redaction for a short,
# fixed time per target (the targets are in fuzz/, a cargo-fuzz crate outside the workspace).
# Needs a nightly toolchain; without one it says so and exits 0. cargo-fuzz is installed when
# missing. FUZZ_SECONDS sets the time per target (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: skipped (no nightly toolchain; cargo fuzz needs one)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
    echo "==> fuzz: $target for ${seconds}s"
    mkdir -p "fuzz/corpus/$target"
    cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1
done
echo "fuzz: done"
