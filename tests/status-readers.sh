#!/usr/bin/env bash
# The status document (src/status.rs, src/ha/status.rs) is read by two readers: the `status`
# text view (src/cli/status.rs) and the Prometheus exporter (src/metrics.rs). This proves that
# a field renamed or added in the type is a compile error in both of them, not a silent
# "unknown"/0 in `status` or `/metrics`: each change below is applied to a copy of the crate,
# which must then fail `cargo check` with errors in both readers. The unchanged copy must pass
# (so the errors come from the change). Uses the checkout's target/ (dependencies are already
# checked there by the clippy step); takes a few seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CARGO_TARGET_DIR=$repo/target

copy() {
    rm -rf "$tmp/crate"
    mkdir -p "$tmp/crate"
    cp -r Cargo.toml Cargo.lock src benches "$tmp/crate/"
}
check() {
    (cd "$tmp/crate" && cargo check --lib --offline --quiet --message-format short 2>&1)
}

failed=0
copy
if ! out=$(check); then
    echo "FAIL: the unchanged copy does not compile:"
    echo "$out" | head -n 20
    exit 1
fi
echo "ok: the unchanged copy compiles"

# FILE | the line as it is | the line after the change | what the change is
cases=(
    "src/ha/status.rs|    pub healthy: bool,|    pub is_healthy: bool,|HaStatus.healthy renamed"
    "src/status.rs|    pub msgs_in: u64,|    pub messages_in: u64,|NeighborStatus.msgs_in renamed"
    "src/ha/status.rs|    pub interval_ms: u64,|    pub interval_ms: u64,\n    pub timeout_ms: u64,|CheckStatus.timeout_ms added"
    "src/status.rs|    pub refused_busy: u64,|    pub refused_queue_full: u64,|InboundStatus.refused_busy renamed"
    "src/status.rs|    pub tx_suppressed: u64,|    pub tx_withheld: u64,|BfdStatus.tx_suppressed renamed"
)
for c in "${cases[@]}"; do
    IFS='|' read -r file from to what <<<"$c"
    copy
    # Change the first occurrence only (the first struct of the file with that field).
    python3 - "$tmp/crate/$file" "$from" "$to" <<'EOF' || { echo "FAIL: $what: line not found in $file"; failed=1; continue; }
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3].replace("\\n", "\n")
s = open(path).read()
if old not in s:
    sys.exit(1)
open(path, "w").write(s.replace(old, new, 1))
EOF
    out=$(check)
    for reader in src/cli/status.rs src/metrics.rs; do
        if grep -q "^$reader:[0-9]*:[0-9]*: error" <<<"$out"; then
            echo "ok: $what: $reader does not compile ($(grep -c "^$reader:.*error" <<<"$out") errors)"
        else
            echo "FAIL: $what: $reader still compiles"
            failed=1
        fi
    done
done
[ "$failed" -eq 0 ] && echo "status readers: every change caught at compile time by both readers"
exit "$failed"
