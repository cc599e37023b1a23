#!/usr/bin/env bash
# interop/bench-failover.sh — failover benchmark, anycastd vs ExaBGP 4 (+ exabgp-healthcheck)
# as the primary's speaker, side by side in one run and one topology.
#
#   client ── client0 ┐  ping -D -i 0.01 203.0.113.124 (outage = longest gap between replies)
#                   rtr: BIRD 2, AS 65000, MD5          ip -ts monitor route (FIB switch)
#                     │ br0 192.0.2.1
#     tcpdump nodea0 ─┴──── nodeb0
#          │                  │
#   nodea 192.0.2.11           nodeb 192.0.2.12
#   speaker under test:        anycastd, role file "standby", standby = "prepend" (3):
#   anycastd | ExaBGP          203.0.113.124/32 always advertised with a longer AS path,
#   file/flag check 100 ms,    so BIRD fails over to it when nodea withdraws
#   rise 1, fall 1
#
# One failover: the service on nodea "dies" (203.0.113.124 removed from nodea's lo, so nodea
# stops answering the client), then the flag file is removed (the health check's input);
# the speaker withdraws, BIRD switches to nodeb. Then the address and the flag come back and
# the script waits until the FIB points at nodea again (each wait bounded).
# Per failover (bench-failover.py computes them from the files):
#   decision→wire   anycastd: its log "withdrawing 203.0.113.124/32: check `flag` failed 1/1"
#                   (µs, UTC) → first UPDATE from 192.0.2.11 with withdrawn routes on nodea0;
#                   ExaBGP: the moment exabgp-healthcheck writes "withdraw route …" to ExaBGP
#                   (a relay timestamps its stdout) → the same UPDATE
#   flag→wire       $EPOCHREALTIME right before `rm flag` → that UPDATE
#   client outage   longest gap between ping replies around the failover
#   router switch   that UPDATE → rtr's FIB has 203.0.113.124 via 192.0.2.12
# Plus idle RSS (VmRSS; ExaBGP = exabgp + its healthcheck) and CPU over a 10 s idle window
# (/proc/PID/stat utime+stime, and with the reaped children's cutime+cstime).
# Prints a markdown table (stdout); exits non-zero if a speaker could not be measured.
#
# Usage: sudo interop/bench-failover.sh [--quick] [--runs N] [--med]
#   --quick   5 failovers per speaker, 5 s idle windows (< 2 min; CI-able)
#   --runs N  failovers per speaker (default 20; at most N+5 attempts)
#   --med     also ExaBGP's default mode (MED 100 up / 1000 down, route never withdrawn);
#             nodeb then advertises with MED 500 and no prepend so that MED decides
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_PREFIX (default bfo),
#      LAB_KEEP=1 keeps $LAB_DIR (pcaps, logs, runs.tsv), BENCH_RUNS_TSV=FILE copies the
#      per-failover numbers (runs.tsv) there.
# Checks are strings that lab_wait_for evaluates later: their \$ expand then.
# shellcheck disable=SC2016
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=bfo}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

RUNS=20
IDLE_S=10
MED_MODE=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) RUNS=5; IDLE_S=5; shift ;;
        --runs)
            if ! [[ ${2:-} =~ ^[0-9]{1,3}$ ]] || [ "$2" -lt 1 ] || [ "$2" -gt 200 ]; then
                lab_die "--runs needs a number 1..200, got '${2:-}'"
            fi
            RUNS=$2; shift 2 ;;
        --med) MED_MODE=1; shift ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) lab_die "unknown option '$1' (try --help)" ;;
    esac
done
MAX_ATTEMPTS=$((RUNS + 5))
BUDGET_MS=$((9 * 60 * 1000))       # the whole benchmark stays < 10 min
PY=/usr/bin/python3                # Debian's: a pyenv shim may shadow python3 (LAB-NOTES)
LAB_DEPS_BINARIES+=(/usr/sbin/exabgp /usr/bin/exabgp-healthcheck)
LAB_DEPS_PACKAGES+=(exabgp python3-exabgp)

T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
"$PY" -c 'import exabgp' 2>/dev/null || lab_die "$PY cannot import exabgp: apt-get install python3-exabgp"
lab_topology
acd_require_bin
NSA=$(lab_nsname nodea)
A4=$LAB_ANYCAST4
FLAG=$LAB_DIR/nodea-service.ok
ROLEB=$LAB_DIR/nodeb-role
OUT=$LAB_DIR

lab_bird_conf --md5 "$LAB_MD5_KEY" >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
lab_monitor_start rtr

# ---- nodeb: the steady backup ---------------------------------------------------------------
# nodeb_conf prepend|med: role file "standby" with standby = "prepend" (3 extra AS);
# med: static primary with MED 500 (for ExaBGP's MED mode, where MED must decide).
nodeb_conf() {
    mkdir -p "$LAB_DIR/nodeb-state"
    echo standby >"$ROLEB"
    acd_conf nodeb --prefixes "$A4/32"
    if [ "$1" = prepend ]; then
        printf 'standby = "prepend"\nprepend = 3\n\n[role]\nsource = "file"\npath = "%s"\n' "$ROLEB"
    fi
    printf '\n[control]\nsocket = "%s"\nstate_dir = "%s"\n' "$LAB_DIR/nodeb-state/anycastd.sock" "$LAB_DIR/nodeb-state"
}
nodeb_conf prepend >"$LAB_DIR/anycastd-nodeb.toml"
if [ "$MED_MODE" = 1 ]; then
    nodeb_conf med | sed "s/^remote_as = $LAB_RTR_AS\$/&\nmed = 500/" >"$LAB_DIR/anycastd-nodeb-med.toml"
fi
acd_start nodeb "$LAB_DIR/anycastd-nodeb.toml"
lab_wait_for "lab_bird_established rtr nodeb && [ \"\$(acd_bird_channel_routes rtr nodeb ipv4)\" = '1 0' ]" 15 ||
    lab_die "nodeb: no session or no route at BIRD: $(acd_log nodeb | tail -n 5)"
lab_log "nodeb advertises $A4/32: $(lab_birdc rtr show route "$A4/32" all | grep -m1 "BGP.as_path")"

# shellcheck disable=SC2317  # called through lab_wait_for's eval
fib_via() { lab_ns rtr ip -4 route show "$A4/32" proto bird 2>/dev/null | grep -q "via $1 "; }

# ---- per-phase helpers ------------------------------------------------------------------------
# proc_ticks PID...: sum of utime+stime and of utime+stime+cutime+cstime (clock ticks).
proc_ticks() {
    local pid self=0 all=0 f
    for pid in "$@"; do
        f=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null) || continue
        # after "comm)": state=1 ... utime=12 stime=13 cutime=14 cstime=15
        read -r _ _ _ _ _ _ _ _ _ _ _ ut st cut cst _ <<<"$f"
        self=$((self + ut + st))
        all=$((all + ut + st + cut + cst))
    done
    printf '%s %s\n' "$self" "$all"
}
proc_rss_kb() {
    local pid sum=0 v
    for pid in "$@"; do
        v=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
        sum=$((sum + ${v:-0}))
    done
    printf '%s\n' "$sum"
}
# idle_measure PHASEDIR PID...: RSS at the end and CPU over IDLE_S seconds -> idle.tsv.
idle_measure() {
    local dir=$1
    shift
    local hz t0 t1 a0 a1 s0 s1 rss
    hz=$(getconf CLK_TCK)
    read -r s0 a0 < <(proc_ticks "$@")
    t0=$EPOCHREALTIME
    sleep "$IDLE_S"
    read -r s1 a1 < <(proc_ticks "$@")
    t1=$EPOCHREALTIME
    rss=$(proc_rss_kb "$@")
    awk -v a=$((a1 - a0)) -v s=$((s1 - s0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" -v rss="$rss" \
        'BEGIN { w = t1 - t0; printf "%d %.3f %.3f %.3f\n", rss, 100 * a / hz / w, 100 * s / hz / w, w }' \
        >"$dir/idle.tsv"
    lab_log "idle: pids $*: $(cat "$dir/idle.tsv") (rss_kb cpu%_with_children cpu%_self window_s)"
}

# failovers PHASEDIR: up to MAX_ATTEMPTS attempts until RUNS failovers were seen in the FIB.
failovers() {
    local dir=$1 i=0 ok=0 t_svc t_rm t_end
    : >"$dir/events.tsv"
    while [ "$ok" -lt "$RUNS" ] && [ "$i" -lt "$MAX_ATTEMPTS" ]; do
        i=$((i + 1))
        if [ "$(lab_elapsed_ms "$T_START")" -gt "$BUDGET_MS" ]; then
            lab_log "time budget of $((BUDGET_MS / 1000)) s used up; stopping after $ok failovers"
            break
        fi
        # Steady state first: FIB via nodea, and a moment of replies before the failure.
        if ! lab_wait_for "fib_via $LAB_NODEA4" 10; then
            lab_log "attempt $i: FIB not via nodea within 10 s; skipped"
            continue
        fi
        # 300-399 ms: replies before the failure, and a uniformly random phase of the failure
        # relative to the speaker's 100 ms check schedule (else the loop's own rhythm picks it).
        sleep "$(printf '0.%03d' $((300 + RANDOM % 100)))"
        t_svc=${EPOCHREALTIME/,/.}
        ip -n "$NSA" addr del "$A4/32" dev lo
        t_rm=${EPOCHREALTIME/,/.}
        rm -f "$FLAG"
        if lab_wait_for "fib_via $LAB_NODEB4" 5; then
            ok=$((ok + 1))
        else
            lab_log "attempt $i: FIB did not move to nodeb within 5 s"
        fi
        sleep 0.3                       # replies from nodeb, and a late UPDATE, are captured
        t_end=${EPOCHREALTIME/,/.}
        printf '%d %s %s %s\n' "$i" "$t_svc" "$t_rm" "$t_end" >>"$dir/events.tsv"
        ip -n "$NSA" addr add "$A4/32" dev lo
        touch "$FLAG"
    done
    lab_wait_for "fib_via $LAB_NODEA4" 10 || lab_log "FIB not back via nodea after the last failover"
    lab_log "$dir: $ok failovers in $i attempts"
}

# phase_start NAME SPEAKER MODE DECISION: phase dir, client ping, capture on nodea0.
# The UPDATE that takes nodea out: withdrawn routes / MP_UNREACH (MED mode: MED 1000).
WIRE_WITHDRAW='bgp.update.withdrawn_routes.length > 0 || bgp.update.path_attribute.mp_unreach_nlri'
WIRE_FILTER=$WIRE_WITHDRAW
phase_start() {
    PHASE=$OUT/$1
    mkdir -p "$PHASE"
    printf 'speaker=%s\nmode=%s\nneed=%s\ndecision=%s\n' "$2" "$3" "$RUNS" "$4" >"$PHASE/meta"
    touch "$FLAG"
    lab_capture_start nodea0 "$PHASE/bgp.pcap" tcp port 179 || lab_die "capture did not start"
}
phase_ping_start() {
    lab_spawn client "ping:$PHASE" "$PHASE/ping.log" ping -D -n -i 0.01 "$A4"
    PING_PID=$LAB_LAST_PID
}
# phase_end: stop ping (SIGINT flushes its output) and capture; extract the withdraw UPDATEs.
phase_end() {
    lab_stop_pid "$PING_PID" INT 3
    sleep 0.1
    lab_capture_stop "$PHASE/bgp.pcap"
    tshark -n -r "$PHASE/bgp.pcap" -T fields -e frame.time_epoch \
        -Y "bgp.type == 2 && ip.src == $LAB_NODEA4 && ($WIRE_FILTER)" \
        >"$PHASE/wire.tsv" 2>"$PHASE/tshark.err" || lab_log "tshark failed: $(head -n 3 "$PHASE/tshark.err")"
    lab_log "$PHASE: $(grep -c . "$PHASE/wire.tsv") withdraw UPDATEs from nodea, $(grep -c 'bytes from' "$PHASE/ping.log") ping replies"
}
wait_nodea_adv() {
    lab_wait_for "lab_bird_established rtr nodea && fib_via $LAB_NODEA4" "${1:-20}" ||
        lab_die "nodea: no session or FIB not via nodea: $(lab_birdc rtr show protocols nodea | tail -n 1)"
}

# ---- phase 1: anycastd ------------------------------------------------------------------------
phase_start p1-anycastd anycastd withdraw log
mkdir -p "$LAB_DIR/nodea-state"
{
    acd_conf nodea --prefixes "$A4/32"
    printf '\n[[health.check]]\nname = "flag"\ntype = "file"\npath = "%s"\n' "$FLAG"
    printf 'interval_ms = 100\ntimeout_ms = 50\nrise = 1\nfall = 1\n'
    printf '\n[control]\nsocket = "%s"\nstate_dir = "%s"\n' "$LAB_DIR/nodea-state/anycastd.sock" "$LAB_DIR/nodea-state"
} >"$LAB_DIR/anycastd-nodea.toml"
"$ACD_BIN" check-config --config "$LAB_DIR/anycastd-nodea.toml" >/dev/null 2>&1 ||
    lab_die "nodea config refused: $("$ACD_BIN" check-config --config "$LAB_DIR/anycastd-nodea.toml" 2>&1 | head -n 5)"
acd_start nodea "$LAB_DIR/anycastd-nodea.toml"
NODEA_PID=$ACD_PID
wait_nodea_adv 20
lab_log "anycastd status: $("$ACD_BIN" status --json --config "$LAB_DIR/anycastd-nodea.toml" 2>&1 | tr -d '\n' | cut -c1-300)"
phase_ping_start
idle_measure "$PHASE" "$NODEA_PID"
failovers "$PHASE"
phase_end
acd_log nodea | grep -E "withdrawing $A4/32" |
    awk '{ print $1 }' | while read -r ts; do date -u -d "$ts" +%s.%6N; done >"$PHASE/decisions"
lab_log "anycastd decisions logged: $(grep -c . "$PHASE/decisions")"
acd_stop nodea
lab_wait_for "fib_via $LAB_NODEB4" 5 || lab_log "FIB not via nodeb after stopping anycastd on nodea"

# ---- phase 2 (and 3): ExaBGP + exabgp-healthcheck ----------------------------------------------
# exabgp_phase NAME MODE(withdraw|med)
exabgp_phase() {
    local name=$1 mode=$2 wd=""
    WIRE_FILTER=$WIRE_WITHDRAW
    if [ "$mode" = withdraw ]; then
        wd=--withdraw-on-down
    else
        WIRE_FILTER='bgp.update.path_attribute.multi_exit_disc == 1000'
    fi
    phase_start "$name" exabgp "$mode" relay
    # The wrapper pipes the healthcheck's commands through the timestamping relay; the
    # healthcheck reads ExaBGP's acks from the wrapper's stdin (ExaBGP's pipe) directly.
    cat >"$LAB_DIR/hc-wrapper-$name.sh" <<EOF
#!/bin/sh
/usr/bin/exabgp-healthcheck --no-syslog --interval 0.1 --fast-interval 0.1 --rise 1 --fall 1 \\
    $wd --timeout 1 --ip $A4/32 --no-ip-setup --next-hop $LAB_NODEA4 \\
    --command "test -f $FLAG" | $PY $HERE/bench-failover.py relay $PHASE/decisions.raw
EOF
    chmod 755 "$LAB_DIR/hc-wrapper-$name.sh"
    cat >"$LAB_DIR/exabgp-$name.conf" <<EOF
process healthcheck {
    run $LAB_DIR/hc-wrapper-$name.sh;
    encoder text;
}
neighbor $LAB_RTR_LAN4 {
    router-id $LAB_NODEA4;
    local-address $LAB_NODEA4;
    local-as $LAB_NODE_AS;
    peer-as $LAB_RTR_AS;
    md5-password "$LAB_MD5_KEY";
    hold-time 9;
    family { ipv4 unicast; }
    api { processes [ healthcheck ]; }
}
EOF
    lab_spawn nodea "exabgp:$name" "$PHASE/exabgp.log" env exabgp_daemon_user=root \
        exabgp_daemon_daemonize=false exabgp_log_destination=stdout exabgp_tcp_bind= \
        "$PY" /usr/sbin/exabgp "$LAB_DIR/exabgp-$name.conf"
    EXA_PID=$LAB_LAST_PID
    wait_nodea_adv 30
    # ExaBGP and its healthcheck (not the wrapper sh, not the relay: measuring apparatus).
    local pids pid
    pids=$EXA_PID
    for pid in $(ps -e -o pid=,args= | awk '/exabgp-healthcheck/ && !/awk/ && !/hc-wrapper/ { print $1 }'); do
        [ "$(ip netns identify "$pid" 2>/dev/null)" = "$NSA" ] && pids="$pids $pid"
    done
    lab_log "ExaBGP pids: $pids ($(ps -o pid=,rss=,args= -p "${pids// /,}" | cut -c1-100 | paste -sd';'))"
    phase_ping_start
    # shellcheck disable=SC2086
    idle_measure "$PHASE" $pids
    failovers "$PHASE"
    phase_end
    awk '$2 == "withdraw" || ($2 == "announce" && / med 1000/) { print $1 }' "$PHASE/decisions.raw" >"$PHASE/decisions"
    lab_log "ExaBGP withdraw decisions seen: $(grep -c . "$PHASE/decisions")"
    lab_stop_pid "$EXA_PID" TERM 5
    lab_wait_for "fib_via $LAB_NODEB4" 5 || lab_log "FIB not via nodeb after stopping ExaBGP"
}
exabgp_phase p2-exabgp withdraw
if [ "$MED_MODE" = 1 ]; then
    acd_stop nodeb
    acd_start nodeb "$LAB_DIR/anycastd-nodeb-med.toml"
    lab_wait_for "lab_bird_established rtr nodeb && fib_via $LAB_NODEB4" 15 || lab_die "nodeb (MED 500) not back"
    exabgp_phase p3-exabgp-med med
fi

# ---- results ------------------------------------------------------------------------------------
nodeb_up=$(acd_log_count nodeb 'session established')
lab_log "nodeb sessions established: $nodeb_up (1 = never flapped; 2 with --med, which restarts it)"
phases=("$OUT/p1-anycastd" "$OUT/p2-exabgp")
[ "$MED_MODE" = 1 ] && phases+=("$OUT/p3-exabgp-med")
echo
echo "bench-failover: $RUNS failovers per speaker, file check interval 100 ms, rise 1, fall 1; $(date -u +%FT%TZ); $(nproc) cores"
"$PY" "$HERE/bench-failover.py" analyze "$OUT" "${phases[@]}"
rc=$?
if [ "${BENCH_RUNS_TSV:-}" != "" ]; then cp "$OUT/runs.tsv" "$BENCH_RUNS_TSV" || true; fi
lab_log "benchmark took $(lab_elapsed_ms "$T_START") ms"
exit "$rc"
