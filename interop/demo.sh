#!/usr/bin/env bash
# interop/demo.sh — anycastd in one command: two nodes announce the same anycast address to a
# real router (BIRD 2); the primary's health check fails and traffic moves to the backup within
# milliseconds; the failover timeline is printed. Needs root (network namespaces); installs its
# packages and builds anycastd when the binary is missing or older than the sources. What it
# does step by step: interop/lab/demo.py. LAB_KEEP=1 keeps the logs, configs and captures.
# Usage: sudo interop/demo.sh          (ANYCASTD_BIN=… skips the build)
if [ ! -x /usr/bin/python3 ] && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-minimal >/dev/null
fi
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab demo "$@"
