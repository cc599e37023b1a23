#!/usr/bin/env bash
# interop/bench-full-table.sh — full-table flood: a feeder (BIRD, FRR, GoBGP or the fast replay tool interop/tools/feeder) sends N IPv4 + N IPv6 prefixes to anycastd, BIRD, GoBGP, ExaBGP.
# What it measures and checks: interop/lab/bench/full_table.py (the Python lab library's drivers).
# Usage: sudo interop/bench-full-table.sh [--v4 N] [--v6 N] [--group N] [--timeout S] [--receivers "anycastd bird gobgp exabgp"] [--rss-limit MIB] [--feeder bird|frr|gobgp|fast]
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab bench-full-table "$@"
