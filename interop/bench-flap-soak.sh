#!/usr/bin/env bash
# interop/bench-flap-soak.sh — session flap soak: anycastd in nodea against BIRD 2 in rtr,
# N session resets of four kinds in rotation, each followed by a bounded wait until the
# session is Established again AND BIRD has 203.0.113.124/32 from nodea.
#
#                 rtr: BIRD 2, AS 65000, MD5, hold 3 (--hold), keepalive 1,
#                      connect delay 1, connect retry 1, error wait 1, 2
#                  │ br0 192.0.2.1 (node LAN switch)
#                  └── nodea0 ─── eth0 192.0.2.11  nodea: anycastd (connect_retry 1,
#                                                  hold 3, 203.0.113.124/32 + 2001:db8:124::1/128)
#
# Kinds (rotation restart, link, notify, rst):
#   restart  BIRD SIGTERM by PID (it sends Cease) and started again: recovery from the start
#   link     nodea's eth0 down until BIRD's hold timer drops the session, then up (a node
#            behind a switch: the router sees no interface event); recovery from link up
#   notify   `birdc disable nodea` (NOTIFICATION Cease/Administrative Shutdown), then
#            `birdc enable nodea`; recovery from enable
#   rst      `ss -K` on anycastd's established BGP socket in nodea (the kernel aborts it and
#            sends a TCP RST to BIRD); recovery from the kill
# A flap counts as survived when the session went down (anycastd's `flaps` counter rose),
# came back and the route is in BIRD again, all within --max-recovery seconds, with the same
# anycastd PID. anycastd's RSS (VmRSS) and open fds are read at the start, after every flap
# (max) and at the end. anycastd's IdleHold backoff (1 s doubling to 60 s, reset after 60 s
# Established; an inbound connection is taken at once only at ≤ 3 consecutive failures) is
# reported from its log: the time from each "→ Idle" to the following AutomaticStart.
# Prints a markdown table (per kind: flaps, survived, recovery p50/p99/max) and the checks'
# "N passed, M failed" last; exit status non-zero on any failed check.
#
# Usage: sudo interop/bench-flap-soak.sh [--flaps N] [--kinds "restart link notify rst"]
#            [--hold N] [--max-recovery S] [--budget S]
#   --flaps N         resets to perform (default 1000)
#   --kinds LIST      rotation (default "restart link notify rst"; repeats allowed, e.g.
#                     scenario-flap-short.sh's 20-long rotation with one link outage)
#   --hold N          hold time of both sides (default 3; keepalive = hold / 3)
#   --max-recovery S  bound of each wait for the session and route (default 75)
#   --budget S        stop starting new flaps after S seconds (default 2400)
# Env: ANYCASTD_BIN, LAB_PREFIX (default bflap), LAB_KEEP=1 keeps $LAB_DIR (flaps.tsv, logs),
#      BENCH_FLAPS_TSV=FILE copies flaps.tsv there.
# shellcheck disable=SC2016  # checks are strings that lab_wait_for evaluates later
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=bflap}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

FLAPS=1000
KINDS="restart link notify rst"
HOLD=3
MAX_REC=75
BUDGET_S=2400
while [ $# -gt 0 ]; do
    case $1 in
        --flaps)
            if ! [[ ${2:-} =~ ^[0-9]{1,5}$ ]] || [ "$2" -lt 1 ]; then lab_die "--flaps needs 1..99999, got '${2:-}'"; fi
            FLAPS=$2; shift 2 ;;
        --kinds) KINDS=$2; shift 2 ;;
        --hold)
            if ! [[ ${2:-} =~ ^[0-9]{1,3}$ ]] || [ "$2" -lt 3 ]; then lab_die "--hold needs 3..999, got '${2:-}'"; fi
            HOLD=$2; shift 2 ;;
        --max-recovery)
            if ! [[ ${2:-} =~ ^[0-9]{1,3}$ ]] || [ "$2" -lt 1 ]; then lab_die "--max-recovery needs 1..999 s, got '${2:-}'"; fi
            MAX_REC=$2; shift 2 ;;
        --budget)
            if ! [[ ${2:-} =~ ^[0-9]{1,5}$ ]] || [ "$2" -lt 1 ]; then lab_die "--budget needs seconds, got '${2:-}'"; fi
            BUDGET_S=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) lab_die "unknown option '$1' (try --help)" ;;
    esac
done
for k in $KINDS; do
    case $k in restart | link | notify | rst) ;; *) lab_die "--kinds: unknown kind '$k' (restart link notify rst)" ;; esac
done
read -r -a KIND_LIST <<<"$KINDS"
[ "${#KIND_LIST[@]}" -gt 0 ] || lab_die "--kinds is empty"
PY=/usr/bin/python3
KEEPALIVE=$((HOLD / 3))

T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
lab_topology
acd_require_bin
NSA=$(lab_nsname nodea)
A4=$LAB_ANYCAST4

# Router: the lab config with the soak's short timers.
lab_bird_conf --md5 "$LAB_MD5_KEY" --hold "$HOLD" --keepalive "$KEEPALIVE" --neighbors nodea |
    sed -e 's/connect retry time 2;/connect retry time 1;/' -e 's/error wait time 1, 4;/error wait time 1, 2;/' \
        >"$LAB_DIR/bird.conf"
if ! grep -q 'connect retry time 1;' "$LAB_DIR/bird.conf" || ! grep -q 'error wait time 1, 2;' "$LAB_DIR/bird.conf"; then
    lab_die "could not set BIRD's short timers in $LAB_DIR/bird.conf (lab_bird_conf changed?)"
fi
lab_bird_start rtr "$LAB_DIR/bird.conf"
BIRD_PID=$LAB_LAST_PID

acd_ha_conf nodea -- --hold "$HOLD" --connect-retry 1 >"$(acd_conf_file nodea)"
acd_start nodea "$(acd_conf_file nodea)"
PID=$ACD_PID

# route_back: BIRD has 203.0.113.124/32 from nodea (so the session is Established too).
route_back() { lab_birdc rtr show route "$A4/32" protocol nodea 2>/dev/null | grep -q "unicast \[nodea "; }
up() { lab_bird_established rtr nodea && route_back; }
# shellcheck disable=SC2317  # called through lab_wait_for's eval
not_up() { ! lab_bird_established rtr nodea; }
acd_flaps() { acd_status_get nodea '.neighbors[0].flaps'; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$PID/status" 2>/dev/null; }
fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
us() { acd_now_us; }

lab_wait_for up 20 || lab_die "no session/route before the soak: $(acd_log nodea | tail -n 5)"
RSS0=$(rss_kb)
FD0=$(fds)
lab_log "start: anycastd pid $PID rss ${RSS0} kB, ${FD0} fds; $FLAPS flaps of: $KINDS (hold $HOLD s)"

# One flap of KIND: sets T0 (action), TR (restore), TD (seen down), OK_DOWN.
flap_restart() {
    lab_stop_pid "$BIRD_PID" TERM 5
    TD=$(us)
    TR=$(us)
    lab_bird_start rtr "$LAB_DIR/bird.conf" 2>/dev/null
    BIRD_PID=$LAB_LAST_PID
}
flap_link() {
    ip -n "$NSA" link set eth0 down
    lab_wait_for not_up $((HOLD + 3)) && TD=$(us)
    TR=$(us)
    ip -n "$NSA" link set eth0 up
}
flap_notify() {
    lab_birdc rtr disable nodea >/dev/null 2>&1
    lab_wait_for not_up 5 && TD=$(us)
    TR=$(us)
    lab_birdc rtr enable nodea >/dev/null 2>&1
}
flap_rst() {
    TR=$(us)
    # Established BGP sockets towards the router, whichever side connected.
    lab_ns nodea ss -K -t -n state established dst "$LAB_RTR_LAN4" >"$LAB_DIR/ss-last.out" 2>&1
    lab_wait_for not_up 5 && TD=$(us)
}

FT=$LAB_DIR/flaps.tsv
printf 'i\tkind\tt0_us\ttd_us\ttr_us\tup_us\trecovery_ms\ttotal_ms\tok\tflaps_before\tflaps_after\trss_kb\tfds\n' >"$FT"
i=0
RSS_MAX=$RSS0
FD_MAX=$FD0
SURVIVED=0
STOP_REASON="all $FLAPS flaps done"
while [ "$i" -lt "$FLAPS" ]; do
    if [ $(( $(lab_elapsed_ms "$T_START") / 1000 )) -ge "$BUDGET_S" ]; then
        STOP_REASON="time budget of $BUDGET_S s used up after $i flaps"
        break
    fi
    lab__alive "$PID" || { STOP_REASON="anycastd (pid $PID) died after $i flaps"; break; }
    kind=${KIND_LIST[$((i % ${#KIND_LIST[@]}))]}
    i=$((i + 1))
    f0=$(acd_flaps 2>/dev/null || echo -1)
    TD=0
    T0=$(us)
    "flap_$kind"
    ok=0
    if lab_wait_for up "$MAX_REC"; then
        UP=$(us)
        ok=1
    else
        UP=$(us)
    fi
    f1=$(acd_flaps 2>/dev/null || echo -1)
    # The reset must have happened: anycastd counted one more flap.
    [ "$f1" -gt "$f0" ] 2>/dev/null || ok=0
    r=$(rss_kb)
    d=$(fds)
    [ "${r:-0}" -gt "$RSS_MAX" ] && RSS_MAX=$r
    [ "$d" -gt "$FD_MAX" ] && FD_MAX=$d
    printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$i" "$kind" "$T0" "$TD" "$TR" "$UP" \
        "$(acd_us_ms $((UP - TR)))" "$(acd_us_ms $((UP - T0)))" "$ok" "$f0" "$f1" "${r:-0}" "$d" >>"$FT"
    if [ "$ok" = 1 ]; then
        SURVIVED=$((SURVIVED + 1))
    else
        lab_log "flap $i ($kind): not recovered within $MAX_REC s or no reset seen (flaps $f0 -> $f1); BIRD: $(lab_bird_bgp_state rtr nodea); anycastd: $(acd_status_get nodea '.neighbors[0] | "\(.state) \(.last_error)"' 2>&1)"
    fi
    if [ $((i % 50)) -eq 0 ] || [ "$ok" = 0 ] || [ "$i" -le 8 ]; then
        lab_log "flap $i ($kind): recovery $(acd_us_ms $((UP - TR))) ms, survived $SURVIVED/$i, rss ${r:-?} kB, $d fds"
    fi
done
T_SOAK_MS=$(lab_elapsed_ms "$T_START")
RSS1=$(rss_kb)
FD1=$(fds)
lab_log "end: $STOP_REASON; rss ${RSS1:-?} kB (max $RSS_MAX), $FD1 fds (max $FD_MAX)"
ST=$(acd_status nodea --json 2>/dev/null)
printf '%s\n' "$ST" >"$LAB_DIR/status-end.json"
# IdleHold waits from anycastd's log: each "→ Idle" state change to the next AutomaticStart.
acd_log nodea >"$LAB_DIR/anycastd-nodea.clean.log"
echo
echo "bench-flap-soak: anycastd vs BIRD 2, hold $HOLD s, $i flaps ($STOP_REASON) in $((T_SOAK_MS / 1000)) s; $(date -u +%FT%TZ); $(nproc) cores"
"$PY" "$HERE/bench-flap-soak.py" "$FT" "$LAB_DIR/anycastd-nodea.clean.log" "$LAB_DIR/status-end.json" \
    "$RSS0" "${RSS1:-0}" "$RSS_MAX" "$FD0" "$FD1" "$FD_MAX"
if [ "${BENCH_FLAPS_TSV:-}" != "" ]; then cp "$FT" "$BENCH_FLAPS_TSV" || true; fi
echo

# ---- checks ----------------------------------------------------------------------------------
lab_check "anycastd still running with the same pid ($PID)" lab__alive "$PID"
lab_check "all $FLAPS flaps performed ($STOP_REASON)" [ "$i" -eq "$FLAPS" ]
lab_check "every flap survived: reset seen, Established + route back < $MAX_REC s ($SURVIVED/$i)" [ "$SURVIVED" -eq "$i" ]
lab_check "session Established with the route at the end" lab_wait_for up 5
fl=$(jq -r '.neighbors[0].flaps' <<<"$ST" 2>/dev/null)
lab_check "anycastd counted a flap per reset (flaps=$fl, resets=$i)" [ "${fl:-0}" -ge "$i" ]
lab_check "fds not leaking: start $FD0, end $FD1, max $FD_MAX (end <= start + 2)" [ "${FD1:-999}" -le $((FD0 + 2)) ]
lab_check "RSS bounded: start $RSS0 kB, end ${RSS1:-?} kB, max $RSS_MAX kB (end <= start + 4 MiB)" \
    [ "${RSS1:-999999}" -le $((RSS0 + 4096)) ]
npanic=$(acd_log_count nodea 'panicked|ERROR')
lab_check "no panic/ERROR in anycastd's log ($npanic lines)" [ "$npanic" -eq 0 ]
lab_log "soak took $(lab_elapsed_ms "$T_START") ms"
lab_summary
