#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/property/fixture/integration tests, then the
# network-namespace labs against real daemons (root only). Prints "N passed, M failed" last
# and exits non-zero if anything failed.
#
#   tests/all.sh (as root)       # everything
#   tests/all.sh                 # without root: cargo steps only, labs reported as skipped
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0; failed=0; skipped=0; failures=()
# Without root the root-only cargo tests skip (saying so) instead of failing; as root (CI)
# they must run. See src/test_env.rs.
[ "$(id -u)" = 0 ] || export ANYCASTD_TEST_UNPRIVILEGED=1
step() {
    local name=$1; shift
    local t0=$SECONDS
    echo "=== $name"
    if "$@"; then
        passed=$((passed + 1)); echo "--- ok: $name ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1)); failures+=("$name"); echo "--- FAILED: $name ($((SECONDS - t0)) s)"
    fi
}

step "cargo fmt --check" cargo fmt --all -- --check

# Jobs in the background, each awaited (its output shown) by a step of its own further down.
declare -A bg_pid bg_log bg_t0
background() {
    local name=$1; shift
    bg_log[$name]=$(mktemp); bg_t0[$name]=$SECONDS
    "$@" >"${bg_log[$name]}" 2>&1 &
    bg_pid[$name]=$!
}
await() {
    local name=$1 rc=0
    wait "${bg_pid[$name]}" || rc=$?
    unset "bg_pid[$name]"
    cat "${bg_log[$name]}"
    rm -f "${bg_log[$name]}"
    echo "(the $name job took $((SECONDS - bg_t0[$name])) s from its start, beside the steps above)"
    return "$rc"
}
# the script ended early: stop what still runs in the background
trap 'for pid in "${bg_pid[@]}"; do kill "$pid" 2>/dev/null; done' EXIT

# The labs' release binary is the static musl one the packages ship (packaging/build.sh): one
# release build serves the labs and the .deb. It is built beside clippy and cargo test rather
# than after them: cargo locks the release and debug directories apart, and the release build
# spends minutes on one core (the crate itself: one codegen unit, thin LTO) while the other
# would idle. It runs at a lower priority (nice 10), so the cargo test steps, some of which time
# real sockets and timers, come first whenever both want a core. (.ci/run builds it without LTO.)
musl=x86_64-unknown-linux-musl
export ANYCASTD_BIN=$PWD/target/$musl/release/anycastd  # the labs and the python tools' binary
background release nice -n 10 cargo build --release --locked --bin anycastd --target "$musl"

# The Debian roots, built once per machine from Debian's package registry (mostly download and
# unpack) beside the cargo steps rather than when first needed: the Debian 12 root of the .deb
# check (packaging/test-deb.sh, ~100 s) and the labs' Debian 13 roots with today's routers
# (BIRD 2.17 and 3.1, FRR 10, GoBGP 3.36: interop/lab/roots.py, ~80 s each).
[ "$(id -u)" != 0 ] || background roots nice -n 10 bash -c \
    'bash packaging/test-deb.sh --prepare && cd interop && exec /usr/bin/python3 -m lab roots'
# cargo-deb for the package check, built (~100 s of CPU, once per machine) at the lowest
# priority: it gets a core when the cargo steps leave one idle, in practice during the labs,
# which mostly wait on timers; the package check runs after them.
[ "$(id -u)" != 0 ] || command -v cargo-deb >/dev/null || \
    background cargo-deb nice -n 19 cargo install --locked --quiet cargo-deb@3.8.0

step "cargo clippy -D warnings" cargo clippy --all-targets --locked -- -D warnings
step "cargo test" cargo test --locked
step "status readers: a renamed status field breaks both at compile time" bash tests/status-readers.sh
step "cargo build --release" await release
# The .deb from that binary, installed into a clean Debian 12 root (debootstrap, cached in
# /var/cache/anycastd-ci), with an upgrade to a second revision and a purge: packaging/test-deb.sh.
package_check() {
    local debs=target/$musl/debian
    rm -rf "$debs"
    bash packaging/build.sh --no-build || return 1
    cargo deb --no-build --locked --target "$musl" --fast --deb-revision 2 --output "$debs/upgrade-rev2.deb" >/dev/null || return 1
    bash packaging/test-deb.sh "$debs"/anycastd_*-1_amd64.deb "$debs/upgrade-rev2.deb"
}
[ "$(id -u)" != 0 ] || step "the Debian roots: 12 for the .deb check, 13 for today's routers" await roots
step "fixture tools (python)" python3 interop/test-fixture-tools.py
step "bench-events analysis and driver tables (python)" python3 interop/test-bench-events.py

# The network-namespace labs: one pytest run over interop/tests (every scenario against every
# router it applies to; the scenario × router matrix is printed and written to
# target/lab-matrix.md). Debian's python3 (a pyenv shim may shadow python3). Three scenarios at a
# time (pytest-xdist, Debian's python3-pytest-xdist; LAB_WORKERS=N for another number, 0 for
# one at a time): they mostly wait on timers and daemons, and each lab has its own namespaces.
if [ "$(id -u)" = 0 ]; then
    workers=${LAB_WORKERS:-3}
    parallel=()
    if [ "$workers" != 0 ]; then
        if /usr/bin/python3 -c 'import xdist' 2>/dev/null; then
            parallel=(-n "$workers")
        else
            echo "(pytest-xdist missing, install python3-pytest-xdist: the labs run one at a time)"
        fi
    fi
    step "lab: pytest interop/tests" env PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest interop/tests "${parallel[@]}"
else
    skipped=$((skipped + 1))
    echo "=== labs skipped: not root (run tests/all.sh as root)"
fi

if [ "$(id -u)" = 0 ]; then
    [ -z "${bg_pid[cargo-deb]:-}" ] || step "cargo install cargo-deb (for the package check)" await cargo-deb
    step "package: .deb installed into a clean Debian 12 root" package_check
else
    skipped=$((skipped + 1))
    echo "=== package check skipped: not root (debootstrap, chroot)"
fi

echo
[ "${#failures[@]}" -eq 0 ] || printf 'failed step: %s\n' "${failures[@]}"
echo "suite: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
