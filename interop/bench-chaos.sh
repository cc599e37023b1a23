#!/usr/bin/env bash
# interop/bench-chaos.sh — the chaos suite (issue 12): two nodes (anycastd + keepalived), BIRD or FRR with BFD,
# a client pinging every 10 ms, a seeded bounded random sequence of faults; the HA invariant checked per fault.
# What it does and the bounds: interop/lab/chaos/. Results: interop/results/chaos-<router>-<seed>.{md,log}
# (rewritten every 100 faults, so a run cut off still reports).
# Usage: sudo interop/bench-chaos.sh [--seed N] [--faults N] [--router bird|frr] [--kinds LIST] [--budget S] [--legacy] [--out DIR]
#   long form: sudo ANYCASTD_BIN=$PWD/target/release/anycastd interop/bench-chaos.sh --faults 2000 --seed 12
# Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab chaos "$@"
