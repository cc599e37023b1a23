#!/usr/bin/env bash
# interop/scenario-flap-short.sh — CI form of bench-flap-soak.sh: 40 session resets of
# anycastd in nodea against BIRD 2 in rtr (MD5, hold 3 s, BIRD connect retry 1 s, error wait
# 1-2 s; anycastd connect_retry 1 s), in a rotation of 20: 7 BIRD restarts (SIGTERM by PID +
# start), 6 birdc disable/enable (NOTIFICATION Cease), 6 TCP RSTs (`ss -K` on anycastd's
# socket) and 1 link outage (nodea's eth0 down until BIRD's hold timer drops the session,
# then up; ~4 s, hence only 2 of them); < 60 s. Each reset costs >= ~0.8 s (BIRD's connect
# delay 1 s, anycastd's IdleHold 0.75-1.25 s), so 60 of them do not fit in a minute.
#
#   rtr: BIRD 2 ── br0 192.0.2.1 ── nodea0 ──── eth0 192.0.2.11  nodea: anycastd
#
# Checks (8): anycastd alive with the same PID; all 40 flaps performed within the 45 s
# budget; every flap survived (anycastd's flaps counter rose, Established again and
# 203.0.113.124/32 from nodea back in BIRD within 5 s); Established with the route at the end;
# anycastd's flaps >= resets; open fds and RSS back near the start; no panic/ERROR in its log.
# Needs recovery < 5 s every time: anycastd's IdleHold backoff (doubling per consecutive
# failure up to 60 s, reset only after 60 s Established) makes this fail from the 4th reset on.
# Usage: sudo interop/scenario-flap-short.sh   (env: ANYCASTD_BIN, LAB_PREFIX default sflap,
#        LAB_KEEP=1)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sflap}"
export LAB_PREFIX
exec bash "$HERE/bench-flap-soak.sh" --flaps 40 --max-recovery 5 --budget 45 \
    --kinds "restart notify rst restart notify rst restart notify rst restart notify rst restart notify rst restart notify rst restart link" "$@"
