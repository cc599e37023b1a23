#!/usr/bin/env bash
# The status document (src/status.rs, src/ha/status.rs) is read by two readers: the `status`
# text view (src/cli/status.rs) and the Prometheus exporter (src/metrics.rs). This proves that
# a field renamed or added in the type is a compile error in both of them, not a silent
# "unknown"/0 in `status` or `/metrics`: the changes below are applied to a copy of the crate,
# which must then fail `cargo check` with errors in both readers. The unchanged copy must pass
# (so the errors come from the change). Uses the checkout's target/ (dependencies are already
# checked there by the clippy step); two checks of the crate, ~30 s.
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
# All the changes in one copy, checked once (one `cargo check` instead of one per change: each
# takes ~15 s); each change must then show in both readers as an error that names its field
# (the old name or the new one: "no field `healthy`", "pattern does not mention field
# `timeout_ms`" …), so that one change cannot hide behind another's errors.
copy
for c in "${cases[@]}"; do
    IFS='|' read -r file from to what <<<"$c"
    # Change the first occurrence only (the first struct of the file with that field).
    python3 - "$tmp/crate/$file" "$from" "$to" <<'EOF' || { echo "FAIL: $what: line not found in $file"; failed=1; }
import sys
path, old, new = sys.argv[1], sys.argv[2], sys.argv[3].replace("\\n", "\n")
s = open(path).read()
if old not in s:
    sys.exit(1)
open(path, "w").write(s.replace(old, new, 1))
EOF
done
out=$(check)
for c in "${cases[@]}"; do
    IFS='|' read -r file from to what <<<"$c"
    # the field names the change removes or adds
    names=$(python3 -c 'import re, sys; a, b = (set(re.findall(r"pub (\w+):", x)) for x in sys.argv[1:]); print("|".join(sorted(a ^ b)))' "$from" "$to")
    for reader in src/cli/status.rs src/metrics.rs; do
        n=$(grep -cE "^$reader:[0-9]+:[0-9]+: error.*\`($names)\`" <<<"$out")
        if [ "$n" -gt 0 ]; then
            echo "ok: $what: $reader does not compile ($n errors naming $names)"
        else
            echo "FAIL: $what: no error naming $names in $reader"
            failed=1
        fi
    done
done
[ "$failed" -eq 0 ] && echo "status readers: every change caught at compile time by both readers"
exit "$failed"
