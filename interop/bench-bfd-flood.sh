#!/usr/bin/env bash
# interop/bench-bfd-flood.sh — BFD under a full-table flood: do anycastd's 50 ms BFD packets keep their pace while BIRD feeds it 1M prefixes?
# What it measures and checks: interop/lab/bench/bfd_flood.py (the Python lab library's drivers).
# Usage: sudo interop/bench-bfd-flood.sh [--v4 N | --quick] [--group N] [--idle S] [--timeout S] [--out FILE]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-bfd-flood "$@"
