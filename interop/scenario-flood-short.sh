#!/usr/bin/env bash
# interop/scenario-flood-short.sh — CI form of bench-full-table.sh: a BIRD 2 feeder in rtr
# sends 100,000 IPv4 + 20,000 IPv6 prefixes (about 4 per UPDATE, one AS path per 4) to
# anycastd in nodea (hold 9 s, no MD5, no max_prefixes); < 60 s.
#
#   rtr: BIRD feeder (protocol static feed4/feed6 -> bgp nodea, no kernel protocol)
#    │ br0 192.0.2.1 ── nodea0 (tcpdump: the feeder's End-of-RIBs)
#    └──── eth0 192.0.2.11  nodea: anycastd (counts prefixes, discards them)
#
# Checks (4): anycastd's status counts all 100,000 + 20,000 prefixes within 30 s of
# Established; the session stayed up (established_count 1, flaps 0, Established; no hold timer
# expiry or session close in the feeder's log); peak RSS (VmHWM, sampled every 100 ms) below
# 32 MiB; no WARN/ERROR in anycastd's log during the flood. Prints the bench table, then
# "N passed, M failed"; exit status non-zero on any failure.
# Usage: sudo interop/scenario-flood-short.sh   (env: ANYCASTD_BIN, LAB_PREFIX default sflood,
#        LAB_KEEP=1)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${LAB_PREFIX:=sflood}"
export LAB_PREFIX
exec bash "$HERE/bench-full-table.sh" --v4 100000 --v6 20000 --receivers anycastd --timeout 30 "$@"
