# shellcheck shell=bash disable=SC2034  # a library: its variables are used by the scripts
# interop/lib.sh — network-namespace lab library for anycastd's interop scenarios.
#
# Sourced (never executed) by the scenario scripts in this directory. It owns:
#   * the lab topology (namespaces, bridge, veths, addresses, routes, sysctls),
#   * every process a scenario starts (tracked by PID, stopped by PID),
#   * cleanup on exit (processes, namespaces, temp dir), including the remains
#     of a previous run that crashed with the same LAB_PREFIX,
#   * BIRD 2 (router) config generation and control, GoBGP helpers,
#   * packet captures, bounded waits, PASS/FAIL counters and timestamped logs.
# It must not: touch namespaces or processes that are not its own, send traffic
# outside the namespaces it created, use addresses outside the documentation
# ranges, or wait without a bound.
#
# MACs are fixed (02:00:00:00:0x:yy), so link-local addresses are stable.
# Topology (ROLE names; the namespace is "${LAB_PREFIX}ROLE", e.g. acdrtr):
#
#                       anycast 203.0.113.124/32, 2001:db8:124::1/128 on lo
#       nodea (AS 65124)              nodeb (AS 65124)
#       eth0 192.0.2.11               eth0 192.0.2.12
#            2001:db8:2::11                2001:db8:2::12
#         |                              |
#   +-----|------------------------------|------------------------ rtr (AS 65000)
#   |   nodea0 (bridge port)          nodeb0 (bridge port)       router id 192.0.2.1
#   |     +------------ br0 -------------+   192.0.2.1/24, 2001:db8:2::1/64
#   |                                         (node LAN: a switch inside rtr)
#   |   client0 198.51.100.1/24, 2001:db8:100::1/64
#   +-----|--------------------------------------------------------------------
#         |
#       eth0 198.51.100.10, 2001:db8:100::10                         client
#
# Usage:
#   LAB_PREFIX=xyz  # optional, default "acd"; must be unique on the machine
#   . "$(dirname "$0")/lib.sh"
#   lab_require_root; lab_install_deps; lab_topology
#   lab_bird_conf --md5 KEY >"$LAB_DIR/bird.conf"; lab_bird_start rtr "$LAB_DIR/bird.conf"
#   ...; lab_pass "..." / lab_fail "..."; lab_summary
#
# Conventions: functions return non-zero on failure and never exit the shell,
# except lab_die and the setup functions (lab_init, lab_topology, *_start),
# which exit the script (the EXIT trap then cleans up). Compatible with
# `set -euo pipefail` and without it.

# ---------------------------------------------------------------- settings ---
: "${LAB_PREFIX:=acd}"
: "${LAB_KEEP:=0}"          # 1 = keep $LAB_DIR (logs, configs) after exit
: "${LAB_VERBOSE:=0}"       # 1 = echo every lab_ns command
LAB_ROLES=(rtr nodea nodeb client)

# Addressing plan (documentation ranges only: RFC 5737, RFC 3849). Public:
# scenario scripts use these names.
LAB_RTR_ID=192.0.2.1
LAB_RTR_AS=65000
LAB_NODE_AS=65124
LAB_NODE_LAN4=192.0.2.0/24
LAB_NODE_LAN6=2001:db8:2::/64
LAB_RTR_LAN4=192.0.2.1
LAB_RTR_LAN6=2001:db8:2::1
LAB_NODEA4=192.0.2.11
LAB_NODEA6=2001:db8:2::11
LAB_NODEB4=192.0.2.12
LAB_NODEB6=2001:db8:2::12
LAB_CLIENT_LAN4=198.51.100.0/24
LAB_CLIENT_LAN6=2001:db8:100::/64
LAB_RTR_CLIENT4=198.51.100.1
LAB_RTR_CLIENT6=2001:db8:100::1
LAB_CLIENT4=198.51.100.10
LAB_CLIENT6=2001:db8:100::10
LAB_ANYCAST4=203.0.113.124
LAB_ANYCAST6=2001:db8:124::1
LAB_MD5_KEY=anycast-lab-key

LAB_PASSED=0
LAB_FAILED=0
LAB_DIR=""
LAB_LAST_PID=""
LAB__INITIALISED=0
LAB__CLEANED=0
LAB__LOCK_FD=""

# Namespace name of a role: lab_nsname rtr -> acdrtr.
lab_nsname() { printf '%s%s\n' "$LAB_PREFIX" "$1"; }

# ----------------------------------------------------------------- logging ---
lab__ts() {
    local t=${EPOCHREALTIME/,/.}
    local frac=${t#*.}
    printf '%(%Y-%m-%dT%H:%M:%S)T.%s' "${t%.*}" "${frac:0:3}"
}
lab_log() { printf '[%s] %s\n' "$(lab__ts)" "$*" >&2; }
lab_die() {
    lab_log "FATAL: $*"
    exit 1
}

# ---------------------------------------------------------- PASS / FAIL -----
lab_pass() {
    LAB_PASSED=$((LAB_PASSED + 1))
    lab_log "PASS: $*"
}
lab_fail() {
    LAB_FAILED=$((LAB_FAILED + 1))
    lab_log "FAIL: $*"
}
# lab_check DESCRIPTION CMD...  — PASS if CMD succeeds, FAIL otherwise.
lab_check() {
    local desc=$1
    shift
    if "$@"; then lab_pass "$desc"; else lab_fail "$desc"; fi
}
# Prints "N passed, M failed" alone on a line (stdout); non-zero if any failed.
lab_summary() {
    printf '%d passed, %d failed\n' "$LAB_PASSED" "$LAB_FAILED"
    [ "$LAB_FAILED" -eq 0 ] && [ "$LAB_PASSED" -gt 0 ]
}

# ------------------------------------------------------------------- waits ---
# lab_wait_for CMD TIMEOUT_S: evaluate the shell string CMD every 100 ms until
# it succeeds (return 0) or TIMEOUT_S seconds (may be fractional) have passed
# (return 1). CMD itself must be quick/bounded (lab_birdc and lab_gobgp are).
lab_wait_for() {
    local cmd=$1 timeout=${2:?lab_wait_for: TIMEOUT_S missing}
    local now deadline
    now=$(lab__now_ms)
    deadline=$((now + $(lab__secs_to_ms "$timeout")))
    while :; do
        if eval "$cmd" >/dev/null 2>&1; then return 0; fi
        now=$(lab__now_ms)
        [ "$now" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
lab__now_ms() {
    local t=${EPOCHREALTIME/,/.}
    local frac=${t#*.}000
    printf '%s\n' $(( ${t%.*} * 1000 + 10#${frac:0:3} ))
}
# "2.5" -> 2500, "3" -> 3000
lab__secs_to_ms() {
    local s=$1 int frac
    int=${s%%.*}
    if [ "$int" = "$s" ]; then frac=000; else frac=${s#*.}000; fi
    printf '%s\n' $(( ${int:-0} * 1000 + 10#${frac:0:3} ))
}
# Milliseconds elapsed since a lab__now_ms value.
lab_elapsed_ms() { printf '%s\n' $(( $(lab__now_ms) - $1 )); }

# ------------------------------------------------------------ root / deps ---
lab_require_root() {
    [ "$(id -u)" -eq 0 ] || lab_die "must run as root (network namespaces); try: sudo $0"
    command -v ip >/dev/null || lab_die "iproute2 'ip' not found; apt-get install iproute2"
}

# Binaries the lab uses; a missing one triggers the (idempotent) install.
LAB_DEPS_BINARIES=(bird birdc tcpdump tshark text2pcap gobgpd gobgp /usr/lib/frr/zebra
    /usr/lib/frr/bgpd keepalived ping nstat)
LAB_DEPS_PACKAGES=(bird2 tcpdump tshark gobgpd frr keepalived iputils-ping)

lab_install_deps() {
    local b missing=()
    for b in "${LAB_DEPS_BINARIES[@]}"; do
        command -v "$b" >/dev/null 2>&1 || missing+=("$b")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    lab_log "missing: ${missing[*]} -> apt-get install ${LAB_DEPS_PACKAGES[*]}"
    # Packages start their services on install unless policy-rc.d says 101.
    local prc=/usr/sbin/policy-rc.d created_prc=0 rc=0
    if [ ! -e "$prc" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod 755 "$prc" && created_prc=1
    fi
    echo 'wireshark-common wireshark-common/install-setuid boolean false' |
        debconf-set-selections || true
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q || rc=$?
    if [ "$rc" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q \
            --no-install-recommends "${LAB_DEPS_PACKAGES[@]}" || rc=$?
    fi
    [ "$created_prc" -eq 1 ] && rm -f "$prc"
    [ "$rc" -eq 0 ] || lab_die "apt-get failed (rc=$rc); run it by hand to see why"
    for b in "${missing[@]}"; do
        command -v "$b" >/dev/null 2>&1 || lab_die "still missing after install: $b"
    done
}

# ------------------------------------------------------ processes by PID ---
# All processes the lab starts go through lab_spawn so that cleanup can stop
# them by PID. The pid list ($LAB_DIR/pids) holds "PID LABEL" lines.

# lab_spawn ROLE LABEL LOGFILE CMD... : run CMD in the background inside the
# namespace of ROLE ("-" = current namespace), stdout+stderr to LOGFILE.
# Sets LAB_LAST_PID (do not call it inside $(...): the PID would be lost).
lab_spawn() {
    local role=$1 label=$2 log=$3
    shift 3
    [ -n "$LAB_DIR" ] || lab_die "lab_spawn before lab_init"
    if [ "$role" = "-" ]; then
        (
            [ -n "$LAB__LOCK_FD" ] && exec {LAB__LOCK_FD}>&-
            exec "$@"
        ) </dev/null >>"$log" 2>&1 &
    else
        local ns
        ns=$(lab_nsname "$role")
        (
            [ -n "$LAB__LOCK_FD" ] && exec {LAB__LOCK_FD}>&-
            exec ip netns exec "$ns" "$@"
        ) </dev/null >>"$log" 2>&1 &
    fi
    LAB_LAST_PID=$!
    printf '%s %s\n' "$LAB_LAST_PID" "$label" >>"$LAB_DIR/pids"
    [ "$LAB_VERBOSE" = 1 ] && lab_log "spawned $label pid $LAB_LAST_PID: $*"
    return 0
}

lab__alive() {
    # Alive and not a zombie.
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}

# lab_stop_pid PID [SIGNAL] [TIMEOUT_S]: signal (default TERM), wait up to
# TIMEOUT_S (default 3) for it to go, then SIGKILL; reap it if it is our child.
lab_stop_pid() {
    local pid=$1 sig=${2:-TERM} timeout=${3:-3}
    [ -n "$pid" ] || return 0
    if lab__alive "$pid"; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        if ! lab_wait_for "! lab__alive $pid" "$timeout"; then
            lab_log "pid $pid ignored SIG$sig for ${timeout}s; sending KILL"
            kill -s KILL "$pid" 2>/dev/null || true
            lab_wait_for "! lab__alive $pid" 2 || lab_log "pid $pid survived KILL"
        fi
    fi
    wait "$pid" 2>/dev/null || true
    if [ -n "$LAB_DIR" ] && [ -f "$LAB_DIR/pids" ]; then
        sed -i "/^$pid /d" "$LAB_DIR/pids"
    fi
    return 0
}

# lab_stop LABEL: stop every tracked process with that label.
lab_stop() {
    local pid label
    [ -f "$LAB_DIR/pids" ] || return 0
    while read -r pid label; do
        [ "$label" = "$1" ] && lab_stop_pid "$pid"
    done < <(cat "$LAB_DIR/pids")
    return 0
}

# PIDs of the tracked processes with that label (one per line).
lab_pids_of() { awk -v l="$1" '$2 == l { print $1 }' "$LAB_DIR/pids" 2>/dev/null; }

# ------------------------------------------------------- init / cleanup -----
# Namespaces of this lab: "${LAB_PREFIX}ROLE" for every ROLE in LAB_ROLES
# (exact names, so a prefix that starts another prefix does not collide).
lab__own_namespaces() {
    local re
    re="^${LAB_PREFIX}($(IFS='|'; printf '%s' "${LAB_ROLES[*]}"))\$"
    ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E "$re" || true
}

# Remove one namespace: stop the processes still inside it (by PID, as listed
# by `ip netns pids`), then delete it.
lab__remove_namespace() {
    local ns=$1 pid pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    for pid in $pids; do
        [ "$pid" = "$$" ] && continue
        lab_stop_pid "$pid" TERM 2
    done
    ip netns del "$ns" 2>/dev/null || lab_log "could not delete namespace $ns"
}

# lab_init: temp dir, lock against a concurrent lab with the same prefix,
# removal of a crashed run's leftovers, EXIT trap. Called by lab_topology.
lab_init() {
    [ "$LAB__INITIALISED" = 1 ] && return 0
    lab_require_root
    case $LAB_PREFIX in
        *[!a-z0-9]* | "") lab_die "LAB_PREFIX must be lowercase letters/digits, got '$LAB_PREFIX'" ;;
    esac
    [ "${#LAB_PREFIX}" -le 8 ] || lab_die "LAB_PREFIX '$LAB_PREFIX' longer than 8 characters"
    local lock="/run/lock/anycastd-lab-${LAB_PREFIX}.lock"
    [ -d /run/lock ] || lock="/tmp/anycastd-lab-${LAB_PREFIX}.lock"
    exec {LAB__LOCK_FD}>"$lock"
    flock -w 5 "$LAB__LOCK_FD" ||
        lab_die "another lab with LAB_PREFIX=$LAB_PREFIX is running ($lock is locked); use another prefix or wait"
    LAB_DIR=$(mktemp -d "/tmp/${LAB_PREFIX}-lab.XXXXXX") || lab_die "mktemp failed"
    : >"$LAB_DIR/pids"
    trap 'lab__on_exit' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    LAB__INITIALISED=1
    local ns
    for ns in $(lab__own_namespaces); do
        lab_log "removing stale namespace $ns (previous run with prefix $LAB_PREFIX)"
        lab__remove_namespace "$ns"
    done
    # Stale temp dirs of crashed runs (we hold the lock: nobody else uses them).
    local d
    for d in /tmp/"${LAB_PREFIX}"-lab.*; do
        [ -d "$d" ] && [ "$d" != "$LAB_DIR" ] && [ "$LAB_KEEP" != 1 ] && rm -rf -- "$d"
    done
    lab_log "lab dir $LAB_DIR, prefix $LAB_PREFIX"
}

lab__on_exit() {
    local rc=$?
    lab_cleanup
    exit "$rc"
}

# lab_cleanup: stop captures (so pcaps are flushed), stop every tracked
# process by PID (newest first), remove the lab's namespaces and temp dir.
# Idempotent and safe on partial setups.
lab_cleanup() {
    [ "$LAB__CLEANED" = 1 ] && return 0
    LAB__CLEANED=1
    trap - INT TERM HUP
    if [ -n "$LAB_DIR" ] && [ -f "$LAB_DIR/pids" ]; then
        # shellcheck disable=SC2119  # no argument = stop every capture
        lab_capture_stop >/dev/null 2>&1 || true
        local pid label
        while read -r pid label; do
            lab_stop_pid "$pid"
        done < <(tac "$LAB_DIR/pids")
    fi
    local ns
    for ns in $(lab__own_namespaces); do
        lab__remove_namespace "$ns"
    done
    if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
        if [ "$LAB_KEEP" = 1 ]; then
            lab_log "kept lab dir $LAB_DIR (LAB_KEEP=1)"
        else
            rm -rf -- "$LAB_DIR"
        fi
    fi
    if [ -n "$LAB__LOCK_FD" ]; then
        exec {LAB__LOCK_FD}>&-
        LAB__LOCK_FD=""
    fi
    return 0
}

# --------------------------------------------------------------- topology ---
# lab_ns ROLE CMD... : run CMD inside ROLE's namespace (foreground).
lab_ns() {
    local ns
    ns=$(lab_nsname "$1")
    shift
    [ "$LAB_VERBOSE" = 1 ] && lab_log "[$ns] $*"
    ip netns exec "$ns" "$@"
}
lab__ip() {
    local role=$1
    shift
    ip -n "$(lab_nsname "$role")" "$@" || lab_die "ip -n $(lab_nsname "$role") $* failed"
}
lab__sysctl() {
    local role=$1
    shift
    lab_ns "$role" sysctl -q -w "$@" >/dev/null || lab_die "sysctl $* in $role failed"
}

# Per-namespace IPv6 behaviour: no DAD, no RA, keep addresses on link down.
lab__ns_sysctls() {
    local role=$1 scope
    for scope in all default; do
        lab__sysctl "$role" "net.ipv6.conf.$scope.accept_dad=0" \
            "net.ipv6.conf.$scope.dad_transmits=0" \
            "net.ipv6.conf.$scope.accept_ra=0" \
            "net.ipv6.conf.$scope.keep_addr_on_down=1"
    done
}
lab__iface_sysctls() {
    local role=$1 ifname=$2
    lab__sysctl "$role" "net.ipv6.conf.$ifname.accept_dad=0" \
        "net.ipv6.conf.$ifname.accept_ra=0" \
        "net.ipv6.conf.$ifname.keep_addr_on_down=1"
}

# lab_topology: build the four namespaces (see header). Idempotence is by
# removal: stale namespaces with the prefix were deleted by lab_init.
lab_topology() {
    lab_init
    local t0 role
    t0=$(lab__now_ms)
    for role in "${LAB_ROLES[@]}"; do
        ip netns add "$(lab_nsname "$role")" || lab_die "ip netns add $(lab_nsname "$role") failed"
        lab__ip "$role" link set lo up
        lab__ns_sysctls "$role"
    done
    # Router: bridge br0 = the node LAN switch; forwarding on.
    # Fixed, locally administered MACs: link-local addresses (and so BIRD's
    # IPv6 link-local next hop, and captures) are the same on every run.
    lab__ip rtr link add br0 address 02:00:00:00:01:01 type bridge stp_state 0 \
        forward_delay 0 mcast_snooping 0
    lab__sysctl rtr net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    # Node links: veth created inside rtr, peer moved to the node as eth0.
    local n
    for n in nodea nodeb; do
        local id=11
        [ "$n" = nodeb ] && id=12
        lab__ip rtr link add "${n}0" address "02:00:00:00:01:$id" type veth \
            peer name eth0 address "02:00:00:00:00:$id" netns "$(lab_nsname "$n")"
        lab__ip rtr link set "${n}0" master br0
        lab__ip rtr link set "${n}0" up
        lab__iface_sysctls "$n" eth0
    done
    lab__ip rtr link add client0 address 02:00:00:00:01:10 type veth \
        peer name eth0 address 02:00:00:00:00:10 netns "$(lab_nsname client)"
    lab__iface_sysctls client eth0
    lab__iface_sysctls rtr br0
    lab__iface_sysctls rtr client0
    # Addresses.
    lab__ip rtr addr add "$LAB_RTR_LAN4/24" dev br0
    lab__ip rtr addr add "$LAB_RTR_LAN6/64" dev br0 nodad
    lab__ip rtr addr add "$LAB_RTR_CLIENT4/24" dev client0
    lab__ip rtr addr add "$LAB_RTR_CLIENT6/64" dev client0 nodad
    lab__ip rtr link set br0 up
    lab__ip rtr link set client0 up
    lab__ip nodea addr add "$LAB_NODEA4/24" dev eth0
    lab__ip nodea addr add "$LAB_NODEA6/64" dev eth0 nodad
    lab__ip nodeb addr add "$LAB_NODEB4/24" dev eth0
    lab__ip nodeb addr add "$LAB_NODEB6/64" dev eth0 nodad
    lab__ip client addr add "$LAB_CLIENT4/24" dev eth0
    lab__ip client addr add "$LAB_CLIENT6/64" dev eth0 nodad
    for role in nodea nodeb client; do
        lab__ip "$role" link set eth0 up
    done
    # Anycast service addresses on lo of both nodes.
    for n in nodea nodeb; do
        lab__ip "$n" addr add "$LAB_ANYCAST4/32" dev lo
        lab__ip "$n" addr add "$LAB_ANYCAST6/128" dev lo nodad
        lab__ip "$n" route add default via "$LAB_RTR_LAN4"
        lab__ip "$n" -6 route add default via "$LAB_RTR_LAN6"
    done
    lab__ip client route add default via "$LAB_RTR_CLIENT4"
    lab__ip client -6 route add default via "$LAB_RTR_CLIENT6"
    # Links are up at once (no DAD); wait until the router reaches both nodes.
    lab_wait_for "lab_ns rtr ping -c1 -W1 -q $LAB_NODEA4 && lab_ns rtr ping -c1 -W1 -q $LAB_NODEB4" 5 ||
        lab_die "topology: rtr cannot ping the nodes"
    lab_wait_for "lab_ns rtr ping -6 -c1 -W1 -q $LAB_NODEA6 && lab_ns client ping -c1 -W1 -q $LAB_RTR_CLIENT4" 5 ||
        lab_die "topology: IPv6 node LAN or client link not working"
    lab_log "topology up in $(lab_elapsed_ms "$t0") ms: $(lab__own_namespaces | tr '\n' ' ')"
}

# lab_netns_add ROLE: an extra, empty namespace "${LAB_PREFIX}ROLE" (lo up,
# same IPv6 sysctls) that cleanup also removes. Wire it up yourself.
lab_netns_add() {
    lab_init
    case $1 in *[!a-z0-9]* | "") lab_die "lab_netns_add: bad role '$1'" ;; esac
    LAB_ROLES+=("$1")
    ip netns add "$(lab_nsname "$1")" || lab_die "ip netns add $(lab_nsname "$1") failed"
    lab__ip "$1" link set lo up
    lab__ns_sysctls "$1"
}

# lab_monitor_start [ROLE]: `ip -ts monitor route` in ROLE (default rtr) into
# $LAB_DIR/monitor-ROLE.log, to timestamp FIB changes. Returns once running.
lab_monitor_start() {
    local role=${1:-rtr}
    lab_spawn "$role" "monitor:$role" "$LAB_DIR/monitor-$role.log" ip -ts monitor route
    sleep 0.1
    lab__alive "$LAB_LAST_PID" || lab_die "ip monitor in $role did not start"
}
# lab_monitor_ms [ROLE] REGEX: epoch milliseconds of the first monitor line
# matching REGEX (e.g. '^Deleted 203\.0\.113\.124 '); fails if none yet.
lab_monitor_ms() {
    local role=rtr
    [ $# -ge 2 ] && { role=$1; shift; }
    local line ts
    line=$(sed -E 's/^\[([^]]*)\] ?/\1 /' "$LAB_DIR/monitor-$role.log" 2>/dev/null |
        awk -v re="$1" '{ t = $1; $1 = ""; sub(/^ /, ""); if ($0 ~ re) { print t; exit } }')
    [ -n "$line" ] || return 1
    ts=$(date -d "${line/T/ }" +%s%N 2>/dev/null) || return 1
    printf '%s\n' $((ts / 1000000))
}

# ---------------------------------------------------------------- counters ---
# lab_counter ROLE NAME: absolute value of a kernel SNMP/netstat counter in the
# namespace (e.g. TcpExtTCPMD5Failure, IcmpInEchos). -s: never write nstat's
# shared history file.
lab_counter() {
    local v
    v=$(lab_ns "$1" nstat -asz "$2" 2>/dev/null | awk -v n="$2" '$1 == n { print $2 }')
    printf '%s\n' "${v:-0}"
}

# ----------------------------------------------------------------- captures ---
# lab_capture_start [ROLE:]IFACE FILE [FILTER...]: tcpdump -U -w FILE on IFACE
# (--immediate-mode: without it the last ~1 s of packets is lost on stop)
# in ROLE's namespace (default rtr); returns when tcpdump is listening.
lab_capture_start() {
    local spec=$1 file=$2 role=rtr iface
    shift 2
    iface=${spec#*:}
    [ "$iface" != "$spec" ] && role=${spec%%:*}
    local log
    log="$LAB_DIR/tcpdump-$role-$iface.$(lab__now_ms).log"
    lab_spawn "$role" "capture:$file" "$log" tcpdump -i "$iface" --immediate-mode -U -n -s 0 -w "$file" "$@"
    local pid=$LAB_LAST_PID
    if ! lab_wait_for "grep -q 'listening on' '$log'" 5; then
        lab_log "tcpdump on $role:$iface did not start: $(tail -n 3 "$log")"
        lab_stop_pid "$pid"
        return 1
    fi
    lab_log "capture on $role:$iface -> $file (pid $pid)"
}

# lab_capture_stop [FILE]: stop the capture writing FILE (default: all
# captures); SIGINT so tcpdump flushes and closes the file.
# shellcheck disable=SC2120  # FILE is optional
lab_capture_stop() {
    local pid label
    [ -f "$LAB_DIR/pids" ] || return 0
    while read -r pid label; do
        case $label in
            capture:*)
                if [ $# -eq 0 ] || [ "$label" = "capture:$1" ]; then
                    lab_stop_pid "$pid" INT 3
                fi
                ;;
        esac
    done < <(cat "$LAB_DIR/pids")
    return 0
}

# ---------------------------------------------------------------- BIRD 2 ---
lab_bird_sock() { printf '%s\n' "$LAB_DIR/bird-$1.ctl"; }

# lab_bird_start NAME CONF [ROLE]: start BIRD (foreground mode, tracked PID)
# in ROLE's namespace (default rtr); returns when birdc answers (<= 10 s).
lab_bird_start() {
    local name=$1 conf=$2 role=${3:-rtr} sock t0
    sock=$(lab_bird_sock "$name")
    [ -r "$conf" ] || lab_die "BIRD config $conf not readable"
    lab_ns "$role" bird -p -c "$conf" >"$LAB_DIR/bird-$name.parse" 2>&1 ||
        lab_die "BIRD config $conf does not parse: $(cat "$LAB_DIR/bird-$name.parse")"
    t0=$(lab__now_ms)
    lab_spawn "$role" "bird:$name" "$LAB_DIR/bird-$name.out" \
        bird -f -c "$conf" -s "$sock" -P "$LAB_DIR/bird-$name.pid"
    if ! lab_wait_for "lab_birdc $name show status" 10; then
        lab_die "BIRD $name did not answer on $sock within 10 s: $(tail -n 5 "$LAB_DIR/bird-$name.out")"
    fi
    lab_log "BIRD $name up in $role (pid $LAB_LAST_PID) in $(lab_elapsed_ms "$t0") ms"
}

# lab_birdc NAME ARGS... : birdc on BIRD instance NAME (bounded to 5 s).
lab_birdc() {
    local name=$1
    shift
    timeout 5 birdc -s "$(lab_bird_sock "$name")" "$@"
}

# lab_bird_bgp_state NAME PROTO: prints the BGP state (Idle, Connect, Active,
# OpenSent, OpenConfirm, Established, Down) of a BGP protocol.
lab_bird_bgp_state() {
    lab_birdc "$1" show protocols all "$2" 2>/dev/null |
        awk '$1 == "BGP" && $2 == "state:" { print $3; exit }'
}
lab_bird_established() { [ "$(lab_bird_bgp_state "$1" "$2")" = Established ]; }

# lab_bird_conf [options] > FILE: the router's BIRD 2 config.
#   --md5 KEY          TCP-MD5 password on every node session (default: none)
#   --hold N           hold time (default 9); --keepalive N (default 3)
#   --neighbors "nodea nodeb"   which node sessions (default both)
#   --export FILTER    node-session export, e.g. 'where proto = "s4"' (default none)
#   --log FILE         log file (default: stderr, i.e. the bird-NAME.out log)
#   --extra TEXT       raw config (static protocols, filters ...), placed
#                      before the BGP protocols
# IPv6 is carried over the IPv4 session (MP-BGP, RFC 4760): the ipv6 channel
# uses `next hop address` = the router's node-LAN IPv6 address for anything
# it sends; received IPv6 next hops must be on the node LAN (eBGP, direct).
lab_bird_conf() {
    local md5="" hold=9 keepalive=3 neighbors="nodea nodeb" export="none" log="" extra=""
    while [ $# -gt 0 ]; do
        case $1 in
            --md5) md5=$2; shift 2 ;;
            --hold) hold=$2; shift 2 ;;
            --keepalive) keepalive=$2; shift 2 ;;
            --neighbors) neighbors=$2; shift 2 ;;
            --export) export=$2; shift 2 ;;
            --log) log=$2; shift 2 ;;
            --extra) extra=$2; shift 2 ;;
            *) lab_log "lab_bird_conf: unknown option '$1'"; return 2 ;;
        esac
    done
    case $md5 in *'"'* | *\\*) lab_log "lab_bird_conf: MD5 key must not contain quotes or backslashes"; return 2 ;; esac
    # Validate everything before printing anything (no half-written configs).
    if ! [[ $hold =~ ^[0-9]{1,5}$ ]] || ! ((hold == 0 || (hold >= 3 && hold <= 65535))); then
        lab_log "lab_bird_conf: hold time must be 0 or 3..65535 (RFC 4271 4.2), got '$hold'"
        return 2
    fi
    if ! [[ $keepalive =~ ^[0-9]{1,5}$ ]] || ((keepalive < 1 || keepalive > 65535)); then
        lab_log "lab_bird_conf: keepalive must be 1..65535, got '$keepalive'"
        return 2
    fi
    local n
    for n in $neighbors; do
        case $n in nodea | nodeb) ;; *) lab_log "lab_bird_conf: unknown neighbor '$n' (nodea, nodeb)"; return 2 ;; esac
    done
    cat <<EOF
# Generated by interop/lib.sh lab_bird_conf (anycastd interop lab router).
router id $LAB_RTR_ID;
timeformat protocol iso long ms;
timeformat route iso long ms;
timeformat base iso long ms;
EOF
    if [ -n "$log" ]; then
        printf 'log "%s" all;\n' "$log"
    else
        printf 'log stderr all;\n'
    fi
    cat <<EOF
debug protocols { states, events };

protocol device { scan time 10; }

# Only BGP-learned routes go to the kernel: the FIB follows the advertisers.
protocol kernel kernel4 { ipv4 { export where source = RTS_BGP; import none; }; }
protocol kernel kernel6 { ipv6 { export where source = RTS_BGP; import none; }; }

EOF
    # Extra text goes before the BGP template: filters must be defined before
    # an `export filter NAME` refers to them.
    [ -n "$extra" ] && printf '\n%s\n' "$extra"
    cat <<EOF

template bgp anycast_node {
    local $LAB_RTR_LAN4 as $LAB_RTR_AS;
    passive off;
    connect delay time 1;
    connect retry time 2;
    error wait time 1, 4;
    hold time $hold;
    startup hold time $hold;
    keepalive time $keepalive;
EOF
    if [ -n "$md5" ]; then
        printf '    password "%s";\n' "$md5"
    fi
    cat <<EOF
    # anycast-out drop: the router never sends its table to anycast nodes
    # (unless a scenario overrides --export).
    ipv4 { import all; export $export; };
    ipv6 { import all; export $export; next hop address $LAB_RTR_LAN6; };
}
EOF
    local addr
    for n in $neighbors; do
        addr=$LAB_NODEA4
        [ "$n" = nodeb ] && addr=$LAB_NODEB4
        printf '\nprotocol bgp %s from anycast_node {\n    neighbor %s as %s;\n}\n' \
            "$n" "$addr" "$LAB_NODE_AS"
    done
    return 0
}

# ------------------------------------------------------------------ GoBGP ---
# lab_gobgp_node_conf ROLE [--md5 KEY] [--hold N]: gobgpd TOML for a node
# speaker in ROLE (nodea|nodeb) peering with the router, IPv4+IPv6 unicast.
lab_gobgp_node_conf() {
    local role=$1 md5="" hold=9 addr
    shift
    while [ $# -gt 0 ]; do
        case $1 in
            --md5) md5=$2; shift 2 ;;
            --hold) hold=$2; shift 2 ;;
            *) lab_log "lab_gobgp_node_conf: unknown option '$1'"; return 2 ;;
        esac
    done
    case $role in
        nodea) addr=$LAB_NODEA4 ;;
        nodeb) addr=$LAB_NODEB4 ;;
        *) lab_log "lab_gobgp_node_conf: role must be nodea or nodeb"; return 2 ;;
    esac
    cat <<EOF
# Generated by interop/lib.sh lab_gobgp_node_conf ($role stand-in speaker).
[global.config]
  as = $LAB_NODE_AS
  router-id = "$addr"
  port = 179
  local-address-list = ["$addr"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "$LAB_RTR_LAN4"
    peer-as = $LAB_RTR_AS
EOF
    [ -n "$md5" ] && printf '    auth-password = "%s"\n' "$md5"
    cat <<EOF
  [neighbors.timers.config]
    connect-retry = 2
    hold-time = $hold
    keepalive-interval = $((hold / 3))
  [neighbors.transport.config]
    local-address = "$addr"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
}

# lab_gobgpd_start ROLE CONF: start gobgpd in ROLE's namespace (its gRPC API
# binds inside that namespace); returns when `gobgp global` answers (<= 10 s).
lab_gobgpd_start() {
    local role=$1 conf=$2 t0
    t0=$(lab__now_ms)
    lab_spawn "$role" "gobgpd:$role" "$LAB_DIR/gobgpd-$role.log" \
        gobgpd -f "$conf" -t toml -p --pprof-disable --api-hosts 127.0.0.1:50051
    if ! lab_wait_for "lab_gobgp $role global" 10; then
        lab_die "gobgpd in $role did not answer within 10 s: $(tail -n 5 "$LAB_DIR/gobgpd-$role.log")"
    fi
    lab_log "gobgpd up in $role (pid $LAB_LAST_PID) in $(lab_elapsed_ms "$t0") ms"
}
# lab_gobgp ROLE ARGS... : the gobgp CLI against ROLE's gobgpd (bounded 5 s).
lab_gobgp() {
    local role=$1
    shift
    lab_ns "$role" timeout 5 gobgp -u 127.0.0.1 -p 50051 "$@"
}
# lab_gobgp_state ROLE PEER: prints the session state (e.g. ESTABLISHED).
lab_gobgp_state() {
    lab_gobgp "$1" neighbor "$2" 2>/dev/null | awk '/BGP state/ { sub(/,$/, "", $4); print $4; exit }'
}
