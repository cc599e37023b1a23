#!/usr/bin/env bash
# interop/bench-etcd.sh — the etcd role benchmark (issue 14): three anycastd nodes in an etcd election behind BIRD
# with BFD; faults against the leader (kill, partition, isolate, member, raft-leader, drain), each --runs times
# (default 20), measured from the router's FIB; or --fleet (5 nodes × 4 services killed down to one).
# What it does and the bounds: interop/lab/bench/etcd.py. Results: target/etcd-bench-*.json + a markdown table.
# Usage: sudo interop/bench-etcd.sh [--runs N] [--faults LIST] [--fleet] [--role etcd|static] [--budget S] [--out FILE]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-etcd "$@"
