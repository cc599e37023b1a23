#!/usr/bin/env bash
# interop/capture-bird-fixtures.sh — re-capture fixtures/lab/'s BIRD set: BIRD 2 in rtr exports
# static routes (MED, communities, large and extended community) to gobgpd in nodea, then
# withdraws, `birdc reload in` (ROUTE-REFRESH) and `birdc disable nodea "msg"` (NOTIFICATION);
# fixtures-extract.py splits and cross-checks the capture (interop/lab/fixtures.py).
# Usage: sudo interop/capture-bird-fixtures.sh [OUT_DIR]   (default fixtures/lab)
PYTHONPATH=$(dirname "$0") exec /usr/bin/python3 -B -m lab capture-bird-fixtures "$@"
