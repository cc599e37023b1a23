#!/usr/bin/env bash
# interop/bench-flap-soak.sh — session flap soak: N resets (router restart, link outage, admin shutdown, TCP RST) of anycastd's session.
# What it measures and checks: interop/lab/bench/flap_soak.py (the Python lab library's drivers).
# Usage: sudo interop/bench-flap-soak.sh [--flaps N] [--kinds "restart link notify rst"] [--hold N] [--max-recovery S] [--budget S] [--router bird|frr|gobgp]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-flap-soak "$@"
