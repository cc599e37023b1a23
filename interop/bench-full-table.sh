#!/usr/bin/env bash
# interop/bench-full-table.sh — full-table flood: a BIRD 2 feeder in rtr sends 1,000,000 IPv4 +
# 200,000 IPv6 prefixes to the receiver under test in nodea; receivers one after another, same
# feed, same topology, one run: anycastd, BIRD 2, GoBGP (gobgpd), ExaBGP 4.
#
#   rtr: BIRD 2 feeder, AS 65000, router id 192.0.2.1, no kernel protocol (nothing in any FIB)
#        protocol static feed4/feed6 (bench-full-table.py gen: /24…/20 and /48, /32, one AS
#        path per --group prefixes) -> protocol bgp nodea (export the statics, import none),
#        hold 9, keepalive 1 (see the config below), connect delay/retry 1, error wait 1, 2,
#        no MD5
#    │ br0 192.0.2.1 ── nodea0 (tcpdump here: the feeder's End-of-RIBs on the wire)
#    └──── eth0 192.0.2.11  nodea: the receiver under test (AS 65124, hold 9):
#            anycastd   counts prefixes and discards them (status --json)
#            bird       `import all` into its tables; no kernel protocol (birdc show protocols)
#            gobgp      gobgpd, global RIB, no zebra (gobgp global rib summary)
#            exabgp     ExaBGP 4.2, API process `bench-full-table.py exa-count` (json encoder)
#
# Per receiver: Established = the feeder's log "nodea: BGP session established"; done = the
# first poll (every 100 ms) at which the receiver reports all N4 + N6 prefixes (wait bounded by
# --timeout from Established); time to EoR = done - Established; prefixes/s = (N4+N6) / that.
# RSS: the receiver's process(es) (ExaBGP: the exabgp process, not the counting API process)
# sampled every 100 ms; peak = VmHWM (kernel high-water mark), after = VmRSS 3 s after done.
# Stable = the feeder's session stayed up from Established to the end (no "Hold timer expired",
# no session close in the feeder's log) and, for anycastd, established_count 1 and flaps 0.
# Also per receiver: the feeder's last End-of-RIB on the wire (tcpdump on nodea0, parsed by
# bench-full-table.py pcap-eor; a receiver that keeps up cannot finish before it), the lag =
# done - that EoR (what the receiver itself adds), the UPDATEs the feeder sent (BIRD packs
# more prefixes per UPDATE into a slow reader's backlog) and the receiver's CPU seconds
# (utime + stime since it started).
# Feeder: BIRD 2 loads the 1.2 M static routes with per-route AS paths in ~10 s (~1.1 GB RSS)
# and exports ~200,000 prefixes/s in ~1 prefix per UPDATE to a reader that keeps up: anycastd
# and BIRD are then measured at the feeder's rate (compare lag and CPU, not only the time).
# Prints a markdown table; checks (anycastd: all prefixes counted, stable, RSS < 32 MiB, no
# WARN/ERROR; with other receivers: anycastd not slower than each, in absolute time or in lag,
# within the 0.2 s poll resolution) end with "N passed, M failed".
#
# Usage: sudo interop/bench-full-table.sh [--v4 N] [--v6 N] [--group N] [--timeout S]
#            [--receivers "anycastd bird gobgp exabgp"] [--rss-limit MIB]
#   defaults: --v4 1000000 --v6 200000 --group 4 --timeout 120, all four receivers, 32 MiB
# Env: ANYCASTD_BIN, LAB_PREFIX (default bftab), LAB_KEEP=1 keeps $LAB_DIR (feeder config,
#      logs, pcaps, rss-*.log, results.tsv).
# shellcheck disable=SC2016  # checks are strings that lab_wait_for evaluates later
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=bftab}"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=anycastd-lib.sh
. "$HERE/anycastd-lib.sh"

N4=1000000
N6=200000
GROUP=4
TIMEOUT=120
RECEIVERS="anycastd bird gobgp exabgp"
RSS_LIMIT_MIB=32
num() { [[ ${2:-} =~ ^[0-9]{1,8}$ ]] || lab_die "$1 needs a number, got '${2:-}'"; }
while [ $# -gt 0 ]; do
    case $1 in
        --v4) num "$1" "${2:-}"; N4=$2; shift 2 ;;
        --v6) num "$1" "${2:-}"; N6=$2; shift 2 ;;
        --group) num "$1" "${2:-}"; GROUP=$2; shift 2 ;;
        --timeout) num "$1" "${2:-}"; TIMEOUT=$2; shift 2 ;;
        --rss-limit) num "$1" "${2:-}"; RSS_LIMIT_MIB=$2; shift 2 ;;
        --receivers) RECEIVERS=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) lab_die "unknown option '$1' (try --help)" ;;
    esac
done
for r in $RECEIVERS; do
    case $r in anycastd | bird | gobgp | exabgp) ;; *) lab_die "--receivers: unknown '$r' (anycastd bird gobgp exabgp)" ;; esac
done
if [ "$N4" -lt 1 ] || [ "$N6" -lt 1 ] || [ "$GROUP" -lt 1 ] || [ "$TIMEOUT" -lt 1 ]; then
    lab_die "--v4, --v6, --group and --timeout must be at least 1"
fi
[ "$TIMEOUT" -le 300 ] || lab_die "--timeout at most 300 s"
PY=/usr/bin/python3
HPY=$HERE/bench-full-table.py
case " $RECEIVERS " in *" exabgp "*)
    LAB_DEPS_BINARIES+=(/usr/sbin/exabgp)
    LAB_DEPS_PACKAGES+=(exabgp python3-exabgp) ;;
esac

T_START=$(lab__now_ms)
lab_require_root
lab_install_deps
case " $RECEIVERS " in *" exabgp "*)
    "$PY" -c 'import exabgp' 2>/dev/null || lab_die "$PY cannot import exabgp: apt-get install python3-exabgp" ;;
esac
lab_topology
acd_require_bin
RES=$LAB_DIR/results.tsv
printf 'receiver\teor_s\trate\tpeak_mib\tafter_mib\tstable\tcounted\twire_s\tlag_s\tupdates\tcpu_s\n' >"$RES"

# ---- the feeder --------------------------------------------------------------------------
t0=$(lab__now_ms)
{
    cat <<EOF
# Generated by interop/bench-full-table.sh: full-table feeder ($N4 IPv4 + $N6 IPv6, group $GROUP).
router id $LAB_RTR_ID;
timeformat protocol iso long ms;
timeformat base iso long ms;
log "$LAB_DIR/feeder.log" all;
debug protocols { states, events };
protocol device { scan time 10; }
# No kernel protocol: none of these routes reaches a FIB.
EOF
    "$PY" "$HPY" gen "$N4" "$N6" "$GROUP" || exit 1
    cat <<EOF

protocol bgp nodea {
    disabled;   # enabled once a receiver is ready: each receiver gets a fresh session
    local $LAB_RTR_LAN4 as $LAB_RTR_AS;
    neighbor $LAB_NODEA4 as $LAB_NODE_AS;
    connect delay time 1;
    connect retry time 1;
    error wait time 1, 2;
    hold time 9;
    startup hold time 9;
    # 1 s, not 3: BIRD 2.0.12 sometimes leaves its last UPDATEs queued until its next
    # KEEPALIVE goes out when the reader keeps up (seen: 32 routes + End-of-RIB sent 2.5 s
    # late together with the KEEPALIVE); this bounds that feeder artefact to ~1 s.
    keepalive time 1;
    ipv4 { import none; export where proto = "feed4"; };
    ipv6 { import none; export where proto = "feed6"; next hop address $LAB_RTR_LAN6; };
}
EOF
} >"$LAB_DIR/feeder.conf" || lab_die "feeder config generation failed"
lab_log "feeder config: $(du -h "$LAB_DIR/feeder.conf" | cut -f1) in $(lab_elapsed_ms "$t0") ms"
lab_bird_start feeder "$LAB_DIR/feeder.conf" rtr
FEEDER_PID=$LAB_LAST_PID
feeder_loaded() {
    lab_birdc feeder show route count 2>/dev/null | grep -q "^Total: $((N4 + N6)) of $((N4 + N6)) routes"
}
lab_wait_for feeder_loaded 90 || lab_die "feeder did not load $((N4 + N6)) routes in 90 s: $(lab_birdc feeder show route count | tail -n 1)"
lab_log "feeder loaded $((N4 + N6)) routes in $(lab_elapsed_ms "$t0") ms; RSS $(awk '$1 == "VmRSS:" { print $2 }' /proc/$FEEDER_PID/status) kB"

# ---- receivers ---------------------------------------------------------------------------
# count_RECV prints "V4 V6" (what the receiver holds now).
count_anycastd() { acd_status_get nodea '.neighbors[0] | "\(.prefixes_received_v4) \(.prefixes_received_v6)"'; }
count_bird() {
    lab_birdc rcv show protocols all feed 2>/dev/null | awk '
        /^  Channel ipv4/ { ch = 4 } /^  Channel ipv6/ { ch = 6 }
        $1 == "Routes:" { if (ch == 4) v4 = $2; if (ch == 6) v6 = $2 }
        END { printf "%d %d\n", v4, v6 }'
}
count_gobgp() {
    local a b
    a=$(lab_gobgp nodea global rib summary -a ipv4 2>/dev/null | sed -n 's/.*Destination: \([0-9]*\).*/\1/p')
    b=$(lab_gobgp nodea global rib summary -a ipv6 2>/dev/null | sed -n 's/.*Destination: \([0-9]*\).*/\1/p')
    printf '%d %d\n' "${a:-0}" "${b:-0}"
}
count_exabgp() { awk '{ print $1, $2 }' "$LAB_DIR/exa-status" 2>/dev/null || echo "0 0"; }

start_anycastd() {
    acd_ha_conf nodea -- --no-md5 --hold 9 --connect-retry 1 >"$(acd_conf_file nodea)"
    acd_start nodea "$(acd_conf_file nodea)"
    RPIDS=$ACD_PID
}
start_bird() {
    cat >"$LAB_DIR/rcv.conf" <<EOF
# Generated by interop/bench-full-table.sh: BIRD 2 as the receiver (no kernel protocol).
router id $LAB_NODEA4;
log stderr all;
protocol device { scan time 10; }
protocol bgp feed {
    local $LAB_NODEA4 as $LAB_NODE_AS;
    neighbor $LAB_RTR_LAN4 as $LAB_RTR_AS;
    connect delay time 1;
    connect retry time 1;
    error wait time 1, 2;
    hold time 9;
    keepalive time 3;
    ipv4 { import all; export none; };
    ipv6 { import all; export none; };
}
EOF
    lab_bird_start rcv "$LAB_DIR/rcv.conf" nodea
    RPIDS=$LAB_LAST_PID
}
start_gobgp() {
    lab_gobgp_node_conf nodea --hold 9 >"$LAB_DIR/gobgpd-rcv.toml"
    lab_gobgpd_start nodea "$LAB_DIR/gobgpd-rcv.toml"
    RPIDS=$LAB_LAST_PID
}
start_exabgp() {
    : >"$LAB_DIR/exa-status"
    cat >"$LAB_DIR/exabgp.conf" <<EOF
process counter {
    run $PY $HPY exa-count $LAB_DIR/exa-status;
    encoder json;
}
neighbor $LAB_RTR_LAN4 {
    router-id $LAB_NODEA4;
    local-address $LAB_NODEA4;
    local-as $LAB_NODE_AS;
    peer-as $LAB_RTR_AS;
    hold-time 9;
    family { ipv4 unicast; ipv6 unicast; }
    api { processes [ counter ]; receive { parsed; update; } neighbor-changes; }
}
EOF
    lab_spawn nodea exabgp "$LAB_DIR/exabgp.log" env exabgp_daemon_user=root \
        exabgp_daemon_daemonize=false exabgp_log_destination=stdout exabgp_tcp_bind= \
        exabgp_log_packets=false exabgp_log_routes=false exabgp_log_rib=false exabgp_log_parser=false \
        "$PY" /usr/sbin/exabgp "$LAB_DIR/exabgp.conf"
    RPIDS=$LAB_LAST_PID
    sleep 0.5
    lab__alive "$RPIDS" || lab_die "ExaBGP did not start: $(tail -n 5 "$LAB_DIR/exabgp.log")"
}
stop_receiver() {
    case $1 in
        anycastd) acd_stop nodea ;;
        bird) lab_stop "bird:rcv" ;;
        gobgp) lab_stop "gobgpd:nodea" ;;
        exabgp) lab_stop exabgp ;;
    esac
}

# established_us SINCE_US: epoch µs of the feeder's first "BGP session established" after SINCE.
established_us() {
    local line us
    while IFS= read -r line; do
        us=$(acd_us_of_date "${line:0:23}") || continue
        [ "$us" -ge "$1" ] && { printf '%s\n' "$us"; return 0; }
    done < <(grep 'nodea: BGP session established' "$LAB_DIR/feeder.log" 2>/dev/null)
    return 1
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# run_receiver NAME: one measurement; appends a line to results.tsv.
declare -A EOR_S STABLE PEAK_KB LAG_S
run_receiver() {
    local r=$1 since t_est t_done cnt v4 v6 ok=0 sampler pcap=$LAB_DIR/feed-$1.pcap
    lab_log "---- receiver $r"
    # -B: a 64 MiB capture buffer (the default one drops frames at full-table rates).
    lab_capture_start nodea0 "$pcap" -B 65536 tcp port 179 || lab_die "capture did not start"
    since=$(acd_now_us)
    "start_$r"
    # shellcheck disable=SC2086  # RPIDS is a list
    lab_spawn - "sampler:$r" "$LAB_DIR/sampler-$r.err" "$PY" "$HPY" sample "$LAB_DIR/rss-$r.log" 0.1 $((TIMEOUT + 60)) $RPIDS
    sampler=$LAB_LAST_PID
    lab_birdc feeder enable nodea >/dev/null
    if ! lab_wait_for "established_us $since" 30; then
        lab_log "$r: no session with the feeder within 30 s"
        t_est=$(acd_now_us)
    else
        t_est=$(established_us "$since")
    fi
    # Poll the receiver's counts until complete (bounded by TIMEOUT from Established).
    : >"$LAB_DIR/progress-$r.log"
    while :; do
        cnt=$("count_$r" 2>/dev/null)
        t_done=$(acd_now_us)
        read -r v4 v6 <<<"${cnt:-0 0}"
        printf '%s %s %s\n' "$t_done" "${v4:-0}" "${v6:-0}" >>"$LAB_DIR/progress-$r.log"
        if [ "${v4:-0}" -ge "$N4" ] 2>/dev/null && [ "${v6:-0}" -ge "$N6" ] 2>/dev/null; then ok=1; break; fi
        [ $((t_done - t_est)) -ge $((TIMEOUT * 1000000)) ] && break
        sleep 0.1
    done
    local secs rate
    secs=$(awk -v d=$((t_done - t_est)) 'BEGIN { printf "%.2f", d / 1e6 }')
    if [ "$ok" = 1 ]; then
        rate=$(awk -v n=$((N4 + N6)) -v d=$((t_done - t_est)) 'BEGIN { printf "%.0f", n / (d / 1e6) }')
        EOR_S[$r]=$secs
    else
        rate="$(awk -v n=$(( ${v4:-0} + ${v6:-0} )) -v d=$((t_done - t_est)) 'BEGIN { printf "%.0f", n / (d / 1e6) }') (partial)"
        secs="> $TIMEOUT (timeout)"
        EOR_S[$r]=""
    fi
    lab_log "$r: ${v4:-0} + ${v6:-0} prefixes at $(acd_us_ms $((t_done - t_est))) ms after Established (complete: $ok)"
    sleep 3
    # CPU seconds (utime + stime) the receiver's process(es) used since they started.
    local cpu
    # shellcheck disable=SC2086  # RPIDS is a list
    cpu=$(for p in $RPIDS; do cut -d')' -f2- "/proc/$p/stat" 2>/dev/null; done |
        awk -v hz="$(getconf CLK_TCK)" '{ t += $12 + $13 } END { printf "%.2f", t / hz }')
    local after peak stable=yes why=""
    after=$(tail -n 1 "$LAB_DIR/rss-$r.log" 2>/dev/null | awk '{ print $2 }')
    lab_stop_pid "$sampler" TERM 2
    peak=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$LAB_DIR/rss-$r.log")
    PEAK_KB[$r]=$peak
    # Stability: the feeder's log since this receiver's start.
    # (BIRD logs local time; from this phase's first "BGP session established" on.)
    local flog
    flog=$(awk -v s="$(date -d "@$((since / 1000000))" '+%Y-%m-%d %H:%M:%S')" \
        'substr($0, 1, 19) >= s && /nodea: BGP session established/ { on = 1 } on' "$LAB_DIR/feeder.log")
    if grep -qi 'hold timer expired' <<<"$flog"; then stable=no; why+=" feeder log: hold timer expired;"; fi
    if [ "$(grep -c 'nodea: BGP session established' <<<"$flog")" -ne 1 ]; then
        stable=no; why+=" feeder: $(grep -c 'nodea: BGP session established' <<<"$flog") sessions established;"
    fi
    if grep -qE 'nodea: (BGP session closed|Connection lost|Error)' <<<"$flog"; then
        stable=no; why+=" feeder: $(grep -m1 -E 'nodea: (BGP session closed|Connection lost|Error)' <<<"$flog" | cut -c25-);"
    fi
    lab_bird_established feeder nodea || { stable=no; why+=" feeder session not Established at the end;"; }
    if [ "$r" = anycastd ]; then
        local ec fl st
        read -r ec fl st < <(acd_status_get nodea '.neighbors[0] | "\(.established_count) \(.flaps) \(.state)"')
        if [ "$ec" != 1 ] || [ "$fl" != 0 ] || [ "$st" != Established ]; then
            stable=no
            why+=" anycastd: established_count $ec, flaps $fl, state $st;"
        fi
        ACD_FINAL="$ec $fl $st"
        acd_status nodea --json >"$LAB_DIR/anycastd-status.json" 2>&1
        # WARN/ERROR while it ran (not "Connection refused" before the feeder was enabled).
        ACD_WARNS=$(acd_log nodea | grep -E ' (WARN|ERROR) |panicked' | grep -vc 'Connection refused')
    fi
    STABLE[$r]=$stable
    [ -n "$why" ] && lab_log "$r: unstable:$why"
    stop_receiver "$r"
    lab_birdc feeder disable nodea >/dev/null
    lab_capture_stop "$pcap"
    # The feeder's End-of-RIBs on the wire (the last connection of this phase).
    local e4 e6 nup gaps wire="-" lag="-"
    read -r _ e4 e6 nup gaps < <("$PY" "$HPY" pcap-eor "$pcap" "$LAB_RTR_LAN4" "$LAB_NODEA4" | sort -k4,4n | tail -n 1)
    if [ -n "${e6:-}" ] && [ "${e4%.*}" != 0 ] && [ "${e6%.*}" != 0 ]; then
        wire=$(awk -v a="$e4" -v b="$e6" -v t="$t_est" 'BEGIN { m = a > b ? a : b; printf "%.2f", m - t / 1e6 }')
        [ "$ok" = 1 ] && lag=$(awk -v d="${EOR_S[$r]}" -v w="$wire" 'BEGIN { printf "%.2f", d - w }')
    fi
    LAG_S[$r]=$lag
    lab_log "$r: feeder sent $nup UPDATEs; its last End-of-RIB on the wire ${wire} s after Established (capture gaps: ${gaps:-?})"
    [ "$LAB_KEEP" = 1 ] || rm -f "$pcap"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$secs" "$rate" "$(mib "$peak")" "$(mib "${after:-0}")" \
        "$stable" "${v4:-0}/${v6:-0}" "$wire" "$lag" "${nup:-?}" "$cpu" >>"$RES"
}

ACD_FINAL=""
ACD_WARNS=0
for r in $RECEIVERS; do
    run_receiver "$r"
    lab_wait_for "! lab_bird_established feeder nodea" 5 || true
done

echo
echo "bench-full-table: BIRD $(bird --version 2>&1 | awk '{ print $3 }') feeder -> $N4 IPv4 + $N6 IPv6 prefixes (about $GROUP per UPDATE), hold 9 s, no MD5; $(date -u +%FT%TZ); $(nproc) cores"
"$PY" "$HPY" report "$RES"
echo

# ---- checks --------------------------------------------------------------------------------------
case " $RECEIVERS " in *" anycastd "*)
    lab_check "anycastd counted all $N4 + $N6 prefixes within $TIMEOUT s (${EOR_S[anycastd]:-timeout} s)" [ -n "${EOR_S[anycastd]}" ]
    lab_check "anycastd session stable (established_count/flaps/state: $ACD_FINAL; feeder: no hold timer expiry)" \
        [ "${STABLE[anycastd]}" = yes ]
    lab_check "anycastd peak RSS $(mib "${PEAK_KB[anycastd]}") MiB < $RSS_LIMIT_MIB MiB" [ "${PEAK_KB[anycastd]}" -lt $((RSS_LIMIT_MIB * 1024)) ]
    lab_check "no WARN/ERROR in anycastd's log during the flood ($ACD_WARNS lines)" [ "$ACD_WARNS" -eq 0 ]
    for r in $RECEIVERS; do
        [ "$r" = anycastd ] && continue
        [ -n "${EOR_S[$r]}" ] || { lab_log "$r did not finish: anycastd is faster"; continue; }
        # Not slower than $r: in absolute time, or (the feeder's rate differs from phase to
        # phase) in what it adds after the feeder's last End-of-RIB on the wire (lag; a slow
        # reader's lag is small because TCP holds the feeder back). 0.2 s = poll resolution.
        lab_check "anycastd not slower than $r: ${EOR_S[anycastd]:-timeout} vs ${EOR_S[$r]} s to End-of-RIB, lag ${LAG_S[anycastd]:--} vs ${LAG_S[$r]:--} s" \
            awk -v a="${EOR_S[anycastd]:-999999}" -v b="${EOR_S[$r]}" -v la="${LAG_S[anycastd]:--}" -v lb="${LAG_S[$r]:--}" \
                'BEGIN { exit !(a <= b + 0.2 || (la != "-" && lb != "-" && la <= lb + 0.2)) }'
    done ;;
esac
lab_log "benchmark took $(lab_elapsed_ms "$T_START") ms"
lab_summary
