#!/usr/bin/env bash
# interop/bench-events.sh — event-driven failover (issue 13), anycastd's event-driven checks vs
# ExaBGP 4 + exabgp-healthcheck polling the same input, per kind (file, process, systemd, address).
# What it measures and checks: interop/lab/bench/events.py (on bench-failover's topology).
# Usage: sudo interop/bench-events.sh [--quick] [--runs N] [--kinds file,process,systemd,address]
#        [--speakers anycastd,exabgp] [--ping-interval S]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir,
#      BENCH_RUNS_TSV=FILE copies the per-failover numbers there.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-events "$@"
