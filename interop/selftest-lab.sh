#!/usr/bin/env bash
# interop/selftest-lab.sh — proves the lab library (lib.sh) with real daemons,
# before anycastd exists: GoBGP in nodea stands in for the anycast speaker.
#
#        client 198.51.100.10 ── client0 ┐
#                                       rtr: BIRD 2, AS 65000, router id 192.0.2.1
#                                        │ br0 192.0.2.1 (node LAN switch)
#                        nodea0 ─────────┴───────── nodeb0
#                          │                          │
#   nodea 192.0.2.11: gobgpd AS 65124        nodeb 192.0.2.12 (idle, no speaker)
#   lo 203.0.113.124/32, 2001:db8:124::1/128 lo: same anycast addresses
#
# Checks (each PASS/FAIL):
#   1. topology: four namespaces, anycast addresses on nodes' lo, lo up
#   2. BIRD <-> GoBGP session Established with TCP-MD5 key anycast-lab-key,
#      and every captured BGP segment carries a valid MD5 signature
#   3. both anycast prefixes in `birdc show route` and in rtr's kernel FIB via nodea
#   4. the router sends nothing to the node (export none = anycast-out drop)
#   5. client pings 203.0.113.124 and 2001:db8:124::1; nodea answers, nodeb does not
#   6. withdraw -> route leaves rtr's FIB (time measured with ip -ts monitor)
#   7. wrong MD5 key -> no session, TcpExtTCPMD5Failure in rtr rising
#   8. a crashed lab (SIGKILLed script) leaves namespaces/BIRD that the next
#      run with the same prefix removes; cleanup leaves nothing behind
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Usage: sudo interop/selftest-lab.sh   (LAB_PREFIX=xyz to change the prefix)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

KEY=$LAB_MD5_KEY
T_START=$(lab__now_ms)

lab_require_root
lab_install_deps
lab_topology

# ---- 1. topology ------------------------------------------------------------
n_ns=$(lab__own_namespaces | wc -l)
lab_check "topology: 4 namespaces with prefix $LAB_PREFIX (found $n_ns)" [ "$n_ns" -eq 4 ]
for n in nodea nodeb; do
    lab_check "topology: $n lo up with $LAB_ANYCAST4/32 and $LAB_ANYCAST6/128" \
        bash -c "ip -n $(lab_nsname $n) -br addr show lo | grep -q 'UNKNOWN.*$LAB_ANYCAST4/32.*$LAB_ANYCAST6/128'"
done

# ---- 2. session with MD5 ----------------------------------------------------
lab_capture_start nodea0 "$LAB_DIR/md5.pcap" tcp port 179 || lab_fail "capture start"
lab_bird_conf --md5 "$KEY" --neighbors nodea >"$LAB_DIR/bird.conf"
lab_bird_start rtr "$LAB_DIR/bird.conf"
lab_gobgp_node_conf nodea --md5 "$KEY" >"$LAB_DIR/gobgp-nodea.toml"
t0=$(lab__now_ms)
lab_gobgpd_start nodea "$LAB_DIR/gobgp-nodea.toml"
if lab_wait_for "lab_bird_established rtr nodea" 15; then
    lab_pass "BGP rtr<->nodea Established with MD5 after $(lab_elapsed_ms "$t0") ms"
else
    lab_fail "BGP rtr<->nodea not Established within 15 s (state: $(lab_bird_bgp_state rtr nodea))"
fi
lab_birdc rtr show protocols nodea | sed 's/^/    /' >&2

# ---- 3. routes --------------------------------------------------------------
t0=$(lab__now_ms)
lab_gobgp nodea global rib add -a ipv4 "$LAB_ANYCAST4/32" >/dev/null || lab_fail "gobgp rib add v4"
lab_gobgp nodea global rib add -a ipv6 "$LAB_ANYCAST6/128" nexthop "$LAB_NODEA6" >/dev/null ||
    lab_fail "gobgp rib add v6"
if lab_wait_for "lab_ns rtr ip route show $LAB_ANYCAST4/32 | grep -q 'via $LAB_NODEA4 dev br0 proto bird'" 5; then
    lab_pass "rtr FIB: $LAB_ANYCAST4/32 via nodea, $(lab_elapsed_ms "$t0") ms after announce (100 ms polling)"
else
    lab_fail "rtr FIB: no $LAB_ANYCAST4/32 via $LAB_NODEA4: $(lab_ns rtr ip route | tr '\n' ';')"
fi
if lab_wait_for "lab_ns rtr ip -6 route show $LAB_ANYCAST6/128 | grep -q 'via $LAB_NODEA6 dev br0 proto bird'" 5; then
    lab_pass "rtr FIB: $LAB_ANYCAST6/128 via $LAB_NODEA6"
else
    lab_fail "rtr FIB: no $LAB_ANYCAST6/128 via $LAB_NODEA6: $(lab_ns rtr ip -6 route | tr '\n' ';')"
fi
routes=$(lab_birdc rtr show route protocol nodea)
printf '%s\n' "$routes" | sed 's/^/    /' >&2
lab_check "birdc show route: $LAB_ANYCAST4/32 from nodea" grep -q "^$LAB_ANYCAST4/32 .*\[nodea " <<<"$routes"
lab_check "birdc show route: $LAB_ANYCAST6/128 from nodea" grep -q "^$LAB_ANYCAST6/128 .*\[nodea " <<<"$routes"

# ---- 4. anycast-out drop ----------------------------------------------------
adj_in=$(lab_gobgp nodea neighbor "$LAB_RTR_LAN4" adj-in -a ipv4 2>&1; lab_gobgp nodea neighbor "$LAB_RTR_LAN4" adj-in -a ipv6 2>&1)
lab_check "router exports nothing to the node (gobgp adj-in empty)" \
    bash -c "! grep -q '/' <<<\"\$1\"" _ "$adj_in"

# ---- 5. client reaches the anycast address on nodea ---------------------------
a0=$(lab_counter nodea IcmpInEchos)
b0=$(lab_counter nodeb IcmpInEchos)
ping_out=$(lab_ns client ping -c 5 -i 0.05 -W 1 "$LAB_ANYCAST4" 2>&1)
a1=$(lab_counter nodea IcmpInEchos)
b1=$(lab_counter nodeb IcmpInEchos)
lab_check "client ping $LAB_ANYCAST4: 5/5 replies from $LAB_ANYCAST4" \
    grep -q '5 packets transmitted, 5 received' <<<"$ping_out"
lab_check "ICMP echo answered by nodea (nodea +$((a1 - a0)), nodeb +$((b1 - b0)))" \
    [ $(((a1 - a0) == 5 && (b1 - b0) == 0)) -eq 1 ]
a0=$(lab_counter nodea Icmp6InEchos)
b0=$(lab_counter nodeb Icmp6InEchos)
ping_out=$(lab_ns client ping -6 -c 5 -i 0.05 -W 1 "$LAB_ANYCAST6" 2>&1)
a1=$(lab_counter nodea Icmp6InEchos)
b1=$(lab_counter nodeb Icmp6InEchos)
lab_check "client ping $LAB_ANYCAST6: 5/5 replies" \
    grep -q '5 packets transmitted, 5 received' <<<"$ping_out"
lab_check "ICMPv6 echo answered by nodea (nodea +$((a1 - a0)), nodeb +$((b1 - b0)))" \
    [ $(((a1 - a0) == 5 && (b1 - b0) == 0)) -eq 1 ]

# ---- 6. withdraw --------------------------------------------------------------
lab_monitor_start rtr
t0=$(lab__now_ms)
lab_gobgp nodea global rib del -a ipv4 "$LAB_ANYCAST4/32" >/dev/null || lab_fail "gobgp rib del v4"
if lab_wait_for "! lab_ns rtr ip route show $LAB_ANYCAST4/32 | grep -q ." 5; then
    if t1=$(lab_monitor_ms "^Deleted $LAB_ANYCAST4 "); then
        lab_pass "withdraw: $LAB_ANYCAST4/32 left rtr FIB $((t1 - t0)) ms after 'gobgp rib del' (ip -ts monitor)"
    else
        lab_pass "withdraw: $LAB_ANYCAST4/32 left rtr FIB (monitor line not found)"
    fi
else
    lab_fail "withdraw: $LAB_ANYCAST4/32 still in rtr FIB after 5 s"
fi
lab_check "withdraw: ping $LAB_ANYCAST4 from client now fails" \
    bash -c "! ip netns exec $(lab_nsname client) ping -c 1 -W 1 -q $LAB_ANYCAST4 >/dev/null 2>&1"
lab_capture_stop "$LAB_DIR/md5.pcap"
md5v=$(tcpdump -n -r "$LAB_DIR/md5.pcap" -M "$KEY" -v 'tcp port 179' 2>/dev/null | grep -c 'md5 valid' || true)
md5i=$(tcpdump -n -r "$LAB_DIR/md5.pcap" -M "$KEY" -v 'tcp port 179' 2>/dev/null | grep -c 'md5 *(invalid)' || true)
lab_check "capture: $md5v segments with valid MD5 signature, $md5i invalid" [ $((md5v > 5 && md5i == 0)) -eq 1 ]

# ---- 7. wrong MD5 key -----------------------------------------------------------
lab_stop "gobgpd:nodea"
f0=$(lab_counter rtr TcpExtTCPMD5Failure)
lab_gobgp_node_conf nodea --md5 wrong-key-0000 >"$LAB_DIR/gobgp-nodea-wrong.toml"
lab_gobgpd_start nodea "$LAB_DIR/gobgp-nodea-wrong.toml"
t0=$(lab__now_ms)
# GoBGP's first connect comes 5-9 s after its start; BIRD's own SYNs are
# dropped (and counted) by nodea's kernel, not rtr's.
if lab_wait_for "[ \$(lab_counter rtr TcpExtTCPMD5Failure) -gt $f0 ]" 20; then
    lab_pass "wrong key: TcpExtTCPMD5Failure in rtr rose ($f0 -> $(lab_counter rtr TcpExtTCPMD5Failure)) after $(lab_elapsed_ms "$t0") ms"
else
    lab_fail "wrong key: TcpExtTCPMD5Failure in rtr stayed at $f0 for 20 s"
fi
if lab_wait_for "lab_bird_established rtr nodea" 5; then
    lab_fail "wrong key: session came up anyway"
else
    lab_pass "wrong key: no session for 5 s (BIRD state $(lab_bird_bgp_state rtr nodea), GoBGP $(lab_gobgp_state nodea "$LAB_RTR_LAN4"))"
fi
lab_log "TcpExtTCPMD5Failure: rtr $(lab_counter rtr TcpExtTCPMD5Failure), nodea $(lab_counter nodea TcpExtTCPMD5Failure)"

# ---- 8. crash robustness + cleanup --------------------------------------------
# A child lab with prefix ${LAB_PREFIX}k is SIGKILLed mid-run (no trap runs),
# leaving namespaces and a BIRD daemon; the next run must remove them.
CHILD_PREFIX="${LAB_PREFIX}k"
child_script="$LAB_DIR/child.sh"
cat >"$child_script" <<EOF
LAB_PREFIX=$CHILD_PREFIX
. "$HERE/lib.sh"
lab_topology
lab_bird_conf --neighbors nodea >"\$LAB_DIR/bird.conf"
lab_bird_start rtr "\$LAB_DIR/bird.conf"
echo READY
exec sleep 30
EOF
lab_spawn - child-lab "$LAB_DIR/child.log" bash "$child_script"
child=$LAB_LAST_PID
if lab_wait_for "grep -q READY '$LAB_DIR/child.log'" 10; then
    kill -s KILL "$child"
    wait "$child" 2>/dev/null
    stale_ns=$(ip netns list | awk '{print $1}' | grep -c "^${CHILD_PREFIX}" || true)
    stale_bird=$(ip netns pids "${CHILD_PREFIX}rtr" 2>/dev/null | wc -l)
    lab_check "crash: SIGKILLed lab left $stale_ns namespaces, $stale_bird processes" \
        [ $((stale_ns == 4 && stale_bird >= 1)) -eq 1 ]
    # The next run with that prefix removes the leftovers, then cleans up itself.
    LAB_PREFIX=$CHILD_PREFIX timeout 30 bash -c ". '$HERE/lib.sh'; lab_init" >>"$LAB_DIR/child.log" 2>&1
    left=$(ip netns list | awk '{print $1}' | grep -c "^${CHILD_PREFIX}" || true)
    lab_check "crash: next run removed stale namespaces and their processes ($left left)" [ "$left" -eq 0 ]
else
    lab_fail "crash: child lab did not start: $(tail -n 5 "$LAB_DIR/child.log")"
    lab_stop_pid "$child"
fi

tracked=$(awk '{print $1}' "$LAB_DIR/pids")
lab_cleanup
left_ns=$(lab__own_namespaces | wc -l)
left_pids=0
for p in $tracked; do lab__alive "$p" && left_pids=$((left_pids + 1)); done
lab_check "cleanup: 0 namespaces left ($left_ns), 0 tracked processes alive ($left_pids)" \
    [ $((left_ns == 0 && left_pids == 0)) -eq 1 ]
lab_log "selftest took $(lab_elapsed_ms "$T_START") ms"
lab_summary
