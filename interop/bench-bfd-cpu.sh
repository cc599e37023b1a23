#!/usr/bin/env bash
# interop/bench-bfd-cpu.sh — BFD's CPU and memory cost in anycastd: 1 and 50 sessions at 50 ms × 3 against BIRD 2, beside their no-BFD twins.
# What it measures and checks: interop/lab/bench/bfd_cpu.py (the Python lab library's drivers).
# Usage: sudo interop/bench-bfd-cpu.sh [--phases "bgp:1 bfd:1 bgp:50 bfd:50"] [--window S] [--wait S] [--out FILE]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-bfd-cpu "$@"
