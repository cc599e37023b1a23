#!/usr/bin/env bash
# interop/bench-silent-death.sh — silent node death: T0 (link cut / SIGSTOP / power off of the primary) → the
# router's FIB via the backup, for anycastd with BFD 50 ms × 3, anycastd with hold 9 / 3 and ExaBGP (hold 9 / 3).
# What it measures and how: interop/lab/bench/silent_death.py.
# Usage: sudo interop/bench-silent-death.sh [--quick] [--runs N] [--router bird|frr] [--configs LIST] [--faults LIST] [--out DIR]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-silent-death "$@"
