#!/usr/bin/python3 -B
"""interop/bench-etcd.py — the etcd role benchmark (issue 14): faults against the leader of an
etcd election of three anycastd nodes behind BIRD (BFD), measured at the router; or --fleet
(5 nodes × 4 services). What it does, the bounds and the results: interop/lab/bench/etcd.py.

Usage: sudo interop/bench-etcd.py [--runs N] [--faults kill,partition,isolate,member,raft-leader,drain]
                                  [--fleet] [--role etcd|static] [--budget S] [--out FILE]
Env: ANYCASTD_BIN (default target/release/anycastd), LAB_KEEP=1 keeps the run dir.
"""

import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lab.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench-etcd", *sys.argv[1:]]))
