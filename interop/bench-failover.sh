#!/usr/bin/env bash
# interop/bench-failover.sh — failover benchmark, anycastd vs ExaBGP 4 (+ exabgp-healthcheck) as the primary's speaker.
# What it measures and checks: interop/lab/bench/failover.py (the Python lab library's drivers).
# Usage: sudo interop/bench-failover.sh [--quick] [--runs N] [--med]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-failover "$@"
