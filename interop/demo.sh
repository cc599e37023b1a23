#!/usr/bin/env bash
# interop/demo.sh — anycastd in one command: two nodes announce the same anycast address to a
# real router (BIRD 2); the primary's health check fails and traffic moves to the backup within
# milliseconds. Needs root (network namespaces); installs its packages and builds anycastd if
# needed. Everything lives in namespaces prefixed "$LAB_PREFIX" (default acdemo) and is removed
# at the end (LAB_KEEP=1 keeps the logs, configs and captures in /tmp/acdemo-lab.*).
#
#                    client 198.51.100.10   ping -D -i 0.01 203.0.113.124
#                          │ client0
#      rtr: BIRD 2, AS 65000, 192.0.2.1   ip -ts monitor route (FIB changes)
#                          │ br0 (the node LAN: a switch inside rtr)
#      tcpdump ─ nodea0 ───┴─── nodeb0 ─ tcpdump
#                  │                │
#   nodea 192.0.2.11                 nodeb 192.0.2.12
#   anycastd: primary (static role)  anycastd: backup (role file "standby"),
#   health check "web" = the file    standby = "prepend", prepend 3: AS path 65124 ×4
#   $LAB_DIR/nodea.ok (100 ms, fall 1)
#   203.0.113.124/32 + 2001:db8:124::1/128 on lo of both nodes
#
# Steps: install packages if missing, build anycastd if the release binary is missing or older
# than the sources (skipped when ANYCASTD_BIN is set), bring the lab up, show `anycastd status`
# and BIRD's routes, fail nodea's health check (remove nodea.ok) while the client pings, print
# the failover timeline (ms after the failure): check failed (anycastd log) → withdraw UPDATE on
# the wire (tcpdump) → router FIB via nodeb (ip monitor) → first ping to nodeb (tcpdump) →
# client's longest reply gap; status again; restore; clean up.
# Checks: the failover happened (BIRD and the FIB moved to nodeb, pings answered), and back.
# Prints "N passed, M failed" last; exits non-zero when the failover did not happen.
# Usage: sudo interop/demo.sh          (LAB_KEEP=1 sudo -E interop/demo.sh keeps the lab dir)
# shellcheck disable=SC2016,SC2034
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
: "${LAB_PREFIX:=acdemo}"
DEMO_BUILD=1
[ -n "${ANYCASTD_BIN:-}" ] && DEMO_BUILD=0
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

A4=$LAB_ANYCAST4
if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'; else B="" G="" R="" D="" N=""; fi
STEP=0
step() { STEP=$((STEP + 1)); printf '\n%s[%d/7] %s%s\n' "$B" "$STEP" "$*" "$N"; }
say() { printf '  %s\n' "$*"; }
ok() { printf '  %s✓%s %s\n' "$G" "$N" "$*"; }
bad() { printf '  %s✗ %s%s\n' "$R" "$*" "$N"; }
# Indented, dimmed, lab paths shortened, BIRD's tab turned into spaces.
indent() { sed "s#$LAB_DIR/##g; s/\t/    /g; s/^/      $D/; s/\$/$N/"; }
# The lab library logs to stderr: in the demo that goes to $LAB_DIR/lab.log (fd 3 = terminal).
demo_on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$LAB_DIR" ] && [ -f "$LAB_DIR/lab.log" ]; then
        printf '\n%sdemo failed (exit %d); last lines of the lab log:%s\n' "$R" "$rc" "$N" >&3
        tail -n 12 "$LAB_DIR/lab.log" | sed 's/^/  /' >&3
        [ "$LAB_KEEP" = 1 ] || printf '  (run with LAB_KEEP=1 sudo -E %s to keep %s)\n' "$0" "$LAB_DIR" >&3
    fi
    exec 2>&3
    lab_cleanup
    exit "$rc"
}

printf '%sanycastd failover demo%s — anycast %s announced by two nodes to a BIRD router\n' "$B" "$N" "$A4"
lab_require_root
# lab_init's own "lab dir …" line is noise here; its errors (lock busy …) still show.
lab_init 2> >(grep --line-buffered -v '\] lab dir ' >&2)
exec 3>&2 2>>"$LAB_DIR/lab.log"
trap 'demo_on_exit' EXIT

# ---- 1. packages and binary -----------------------------------------------------------------
step "Preparing"
need=0
for b in "${LAB_DEPS_BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || need=1; done
if [ "$need" = 1 ]; then
    say "installing packages (bird2 tcpdump tshark gobgpd frr keepalived jq xxd; about a minute)…"
fi
lab_install_deps >>"$LAB_DIR/lab.log" 2>&1 || exit 1
ok "packages: bird2, tcpdump, tshark, iproute2, jq present"
if [ "$DEMO_BUILD" = 1 ]; then
    stale=""
    if [ ! -x "$ANYCASTD_BIN" ]; then
        stale="missing"
    else
        newer=$(find "$ROOT/src" "$ROOT/Cargo.toml" "$ROOT/Cargo.lock" -newer "$ANYCASTD_BIN" -print 2>/dev/null | head -n 1)
        [ -n "$newer" ] && stale="older than ${newer#"$ROOT"/}"
    fi
    if [ -n "$stale" ]; then
        say "building anycastd ($stale): cargo build --release --bin anycastd (minutes on a first build)…"
        t_b=$(lab__now_ms)
        build() { cd "$ROOT" && cargo build --release --bin anycastd; }
        if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && command -v sudo >/dev/null; then
            # Build as the user who owns the checkout (a login shell finds ~/.cargo/bin); the
            # log is root's, so the redirect is meant to stay outside sudo.
            # shellcheck disable=SC2024
            sudo -u "$SUDO_USER" -H bash -lc "cd '$ROOT' && cargo build --release --bin anycastd" >>"$LAB_DIR/lab.log" 2>&1
        elif command -v cargo >/dev/null; then
            build >>"$LAB_DIR/lab.log" 2>&1
        elif [ -x "$HOME/.cargo/bin/cargo" ]; then
            PATH=$HOME/.cargo/bin:$PATH build >>"$LAB_DIR/lab.log" 2>&1
        else
            bad "cargo not found: install Rust (https://rustup.rs) or set ANYCASTD_BIN=/path/to/anycastd"
            exit 1
        fi || {
            bad "cargo build failed; its first error:"
            grep -m 1 -A 14 -E '^error' "$LAB_DIR/lab.log" | sed 's/^/      /'
            exit 1
        }
        ok "built $(lab_elapsed_ms "$t_b") ms"
    fi
fi
acd_require_bin
bin=$(realpath -- "$ANYCASTD_BIN" 2>/dev/null || printf '%s' "$ANYCASTD_BIN")
ok "$("$ACD_BIN" --version) (${bin#"$ROOT"/})"

# ---- 2. the lab ---------------------------------------------------------------------------
step "Lab: router (BIRD 2) + nodea (primary) + nodeb (backup, AS path prepended) + client"
lab_topology
FLAG=$LAB_DIR/nodea.ok
lab_bird_conf --md5 "$LAB_MD5_KEY" >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
touch "$FLAG"
acd_ha_conf nodea --standby withdraw --interval 100 --rise 2 --fall 1 --file-check web "$FLAG" \
    >"$(acd_conf_file nodea)" || exit 1
acd_ha_conf nodeb --standby prepend --prepend 3 --role file >"$(acd_conf_file nodeb)" || exit 1
echo standby >"$LAB_DIR/nodeb/role"
lab_capture_start nodea0 "$LAB_DIR/nodea.pcap" tcp port 179 || exit 1
lab_capture_start nodeb0 "$LAB_DIR/nodeb-icmp.pcap" icmp || exit 1
acd_start nodea "$(acd_conf_file nodea)"
acd_start nodeb "$(acd_conf_file nodeb)"
best_is() { [ "$(acd_bird_best rtr "$A4/32")" = "$1" ]; }
fib_via() { [ "$(acd_fib_nexthops "$A4" | paste -sd,)" = "$1" ]; }
if ! lab_wait_for "lab_bird_established rtr nodea && lab_bird_established rtr nodeb && best_is nodea && [ \$(acd_bird_routes rtr $A4/32 | grep -c .) -eq 2 ] && fib_via $LAB_NODEA4" 10; then
    bad "the lab did not converge in 10 s: $(acd_bird_routes rtr "$A4/32" | paste -sd';')"
    lab_fail "converged"
    exit 1
fi
ok "namespaces ${LAB_PREFIX}{rtr,nodea,nodeb,client}; both BGP sessions Established (TCP-MD5)"

# ---- 3. steady state ----------------------------------------------------------------------
step "Steady state"
for n in nodea nodeb; do
    say "${B}\$ anycastd status${N}   ($n)"
    acd_status "$n" 2>&1 | head -n 4 | indent
done
say "${B}\$ birdc show route $A4/32${N}   (rtr; * = best)"
lab_birdc rtr show route "$A4/32" 2>&1 | grep -vE '^(BIRD|Table)' | indent
say "AS paths: $(acd_bird_routes rtr "$A4/32" | awk '{ p = $3; for (i = 4; i <= NF; i++) p = p " " $i; printf "%s%s [%s]", (NR > 1 ? ", " : ""), $1, p }')  (nodeb prepends 3 times: the backup path)"

# ---- 4. failure -----------------------------------------------------------------------------
step "Failure: nodea's health check fails (rm nodea.ok) while the client pings every 10 ms"
lab_monitor_start rtr
lab_spawn client ping "$LAB_DIR/ping.log" ping -D -n -i 0.01 -c 400 -W 1 "$A4"
PING_PID=$LAB_LAST_PID
sleep 1
t0=$(acd_now_us)
rm -f "$FLAG"
if lab_wait_for "best_is nodeb && fib_via $LAB_NODEB4" 2; then
    lab_pass "failover: BIRD and the FIB moved to nodeb"
    ok "BIRD's best route and rtr's FIB now via nodeb ($LAB_NODEB4)"
else
    lab_fail "failover: BIRD/FIB did not move to nodeb within 2 s"
    bad "no failover within 2 s: BIRD has $(acd_bird_routes rtr "$A4/32" | paste -sd';'), FIB via $(acd_fib_nexthops "$A4" | paste -sd,)"
fi
sleep 0.8
lab_stop_pid "$PING_PID" INT 2
lab_capture_stop

# ---- 5. timeline ----------------------------------------------------------------------------
step "Timeline (ms after rm nodea.ok)"
line() { printf '  %s%+9.3f ms%s  %s\n' "$B" "$(awk -v u="$1" 'BEGIN { print u / 1000 }')" "$N" "$2"; }
t_log=$(acd_log_us nodea 'withdrawing ' "$t0") || t_log=""
t_wire=$(acd_pcap_us "$LAB_DIR/nodea.pcap" "bgp.type == 2 && ip.src == $LAB_NODEA4 && bgp.withdrawn_prefix == $A4" "$t0") || t_wire=""
t_fib=$(acd_monitor_us "^${A4//./\\.} via ${LAB_NODEB4//./\\.} " "$t0") || t_fib=""
t_icmp=$(acd_pcap_us "$LAB_DIR/nodeb-icmp.pcap" "icmp.type == 8 && ip.dst == $A4" "$t0") || t_icmp=""
line 0 "nodea.ok removed"
if [ -n "$t_log" ]; then
    why=$(acd_log_line nodea 'withdrawing ' "$t0" | sed -E "s#.*withdrawing ([0-9a-f:.]+/[0-9]+(, )?)+: ##; s/ state=.*//; s#$LAB_DIR/##g")
    line $((t_log - t0)) "nodea decides: withdraw — $why   (anycastd log)"
else
    bad "no 'withdrawing' in nodea's log"
fi
if [ -n "$t_wire" ]; then
    line $((t_wire - t0)) "withdraw UPDATE from nodea on the wire   (tcpdump on rtr's port nodea0)"
else
    bad "no withdraw UPDATE captured"
fi
[ -n "$t_fib" ] && line $((t_fib - t0)) "rtr's FIB: $A4 via $LAB_NODEB4 (nodeb)   (ip -ts monitor route)"
[ -n "$t_icmp" ] && line $((t_icmp - t0)) "first ping reaches nodeb   (tcpdump on nodeb0)"
if read -r gap gap_after nrep < <(acd_ping_gap "$LAB_DIR/ping.log" $((t0 - 300000)) $((t0 + 700000))); then
    sent=$(grep -oE '^[0-9]+ packets transmitted' "$LAB_DIR/ping.log" | awk '{ print $1 }')
    recv=$(grep -oE '[0-9]+ received' "$LAB_DIR/ping.log" | awk '{ print $1 }')
    say "client: longest gap between replies $(acd_us_ms "$gap") ms (ping paces ~10–16 ms: ≈ no outage); ${recv:-?}/${sent:-?} replies, $(( ${sent:-0} - ${recv:-0} )) lost"
    [ -n "$t_log" ] && [ -n "$t_wire" ] &&
        say "decision → wire: $(acd_us_ms $((t_wire - t_log))) ms; detection (check interval 100 ms, fall 1) is the rest"
    lab_check "client: replies kept coming (longest gap $(acd_us_ms "$gap") ms < 1000 ms)" [ "$gap" -lt 1000000 ]
else
    lab_fail "client: no replies around the failure"
    bad "the client got fewer than 2 replies around the failure: $(tail -n 2 "$LAB_DIR/ping.log" | head -n 1)"
fi

# ---- 6. status after --------------------------------------------------------------------------
step "After the failover"
for n in nodea nodeb; do
    say "${B}\$ anycastd status${N}   ($n)"
    acd_status "$n" 2>&1 | head -n 3 | indent
done
say "${B}\$ birdc show route $A4/32${N}"
lab_birdc rtr show route "$A4/32" 2>&1 | grep -vE '^(BIRD|Table)' | indent

# ---- 7. restore, clean up ---------------------------------------------------------------------
step "Restore (touch nodea.ok) and clean up"
t_r=$(acd_now_us)
touch "$FLAG"
if lab_wait_for "best_is nodea && fib_via $LAB_NODEA4" 2; then
    lab_pass "restore: back on nodea"
    ok "back on nodea $(acd_us_ms $(($(acd_now_us) - t_r))) ms later (rise 2 × 100 ms)"
else
    lab_fail "restore: not back on nodea within 2 s"
    bad "not back on nodea within 2 s"
fi
keep=$LAB_DIR
exec 2>&3
lab_cleanup 2>/dev/null
if [ "$LAB_KEEP" = 1 ]; then
    ok "lab removed; logs, configs and captures kept in $keep"
else
    ok "lab removed (namespaces, processes, $keep)"
fi
echo
if [ "$LAB_FAILED" -eq 0 ]; then
    printf '%sfailover worked:%s traffic moved to the backup without the client noticing.\n' "$G$B" "$N"
else
    printf '%sfailover did NOT happen as expected%s (see ✗ above; LAB_KEEP=1 keeps the logs)\n' "$R$B" "$N"
fi
lab_summary
