#!/usr/bin/python3
"""Tests for the fixture tools (bgpdecode.py, fixtures-extract.py). No root needed.

Owns: checking that the throw-away decoder agrees with independently produced
expectations (the shared fixtures), that the lab fixtures are self-consistent
(hex re-decodes to `expected`; `expected` agrees with tshark's stored fields),
that the cross-check really detects a disagreement, and that the TCP stream
splitter copes with several messages per segment, messages spanning segments,
retransmissions and gaps.
Usage: test-fixture-tools.py [--shared DIR] [--lab DIR]; prints "N passed, M failed".
"""

import argparse
import copy
import glob
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in interop/
sys.path.insert(0, HERE)
import bgpdecode  # noqa: E402

spec = importlib.util.spec_from_file_location("fx", os.path.join(HERE, "fixtures-extract.py"))
fx = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fx)

RESULTS = [0, 0]


def check(cond, what):
    RESULTS[0 if cond else 1] += 1
    print(("PASS: " if cond else "FAIL: ") + what)


def test_shared(shared):
    files = sorted(glob.glob(os.path.join(shared, "*.json")))
    if not files:
        print(f"(no shared fixtures in {shared}; skipped)")
        return
    for f in files:
        d = json.load(open(f))
        if d.get("kind") != "message" or d.get("expected_handling"):
            continue
        got = bgpdecode.decode_message(bytes.fromhex(d["hex"]),
                                       d["decode_context"].get("four_octet_as", True))
        name = os.path.basename(f)
        if "error" in got:
            # The decoder must say so rather than guess (VPN next hops are out of scope).
            check(d["expected"].get("path_attributes") and "error" in got,
                  f"shared {name}: unsupported content reported as error ({got['error']})")
            continue
        diffs = [k for k in d["expected"] if k in got and got[k] != d["expected"][k]]
        check(not diffs, f"shared {name}: decoder agrees with expected (diffs: {diffs})")


def test_lab(lab):
    files = sorted(glob.glob(os.path.join(lab, "*.json")))
    check(len(files) >= 6, f"lab fixtures present in {lab} ({len(files)})")
    for f in files:
        d = json.load(open(f))
        name = os.path.basename(f)
        got = bgpdecode.decode_message(bytes.fromhex(d["hex"]), True)
        check(got == d["expected"], f"lab {name}: hex re-decodes to expected")
        check(len(bytes.fromhex(d["hex"])) == d["byte_length"] == d["expected"]["length"],
              f"lab {name}: byte_length consistent")
        agrees, dis = fx.compare(d["expected"], d["crosscheck"]["fields"])
        check(not dis and agrees == d["crosscheck"]["agrees_on"],
              f"lab {name}: expected agrees with stored tshark fields")
        # The cross-check must be able to fail: corrupt one field.
        bad = copy.deepcopy(d["expected"])
        bad["length"] += 1
        _, dis = fx.compare(bad, d["crosscheck"]["fields"])
        check(any(x["field"] == "length" for x in dis), f"lab {name}: corrupted length detected")
        for a in bad.get("path_attributes", []):
            if a["type_code"] == 8:
                a["communities"][0] = "1:1"
                _, dis = fx.compare(bad, d["crosscheck"]["fields"])
                check(any(x["field"] == "communities" for x in dis),
                      f"lab {name}: corrupted community detected")


def seg(frame, seq, payload, src="192.0.2.1"):
    return {"frame": frame, "time": float(frame), "stream": 0, "src": src, "sport": 40000,
            "dst": "192.0.2.11", "dport": 179, "seq": seq, "payload": payload}


def test_splitter():
    ka = bytes.fromhex("ff" * 16 + "001304")
    rr = bytes.fromhex("ff" * 16 + "00170500010001")
    # Two messages in frame 1, one spanning frames 2-3, a retransmission of frame 2.
    stream = ka + ka + rr + ka
    segs = [seg(1, 1000, stream[:38]), seg(2, 1038, stream[38:50]), seg(4, 1038, stream[38:50]),
            seg(3, 1050, stream[50:])]
    msgs = fx.split_messages(segs)
    check([m["bytes"] for m in msgs] == [ka, ka, rr, ka], "splitter: messages recovered in order")
    check([(m["frame"], m["index_in_frame"]) for m in msgs] == [(1, 0), (1, 1), (2, 0), (3, 0)],
          "splitter: start frame and index in frame")
    check(msgs[2]["end_frame"] == 3, "splitter: message spanning two segments")
    # Sequence wrap-around.
    segs = [seg(1, 2**32 - 10, stream[:10]), seg(2, 0, stream[10:])]
    check([m["bytes"] for m in fx.split_messages(segs)] == [ka, ka, rr, ka], "splitter: seq wrap")
    try:
        fx.split_messages([seg(1, 1000, ka), seg(2, 1100, ka)])
        check(False, "splitter: gap detected")
    except SystemExit as e:
        check("gap" in str(e), "splitter: gap detected")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "fixtures", "messages"))
    ap.add_argument("--lab", default=os.path.join(HERE, "..", "fixtures", "lab"))
    a = ap.parse_args()
    test_splitter()
    test_shared(a.shared)
    test_lab(a.lab)
    print(f"{RESULTS[0]} passed, {RESULTS[1]} failed")
    return 1 if RESULTS[1] else 0


if __name__ == "__main__":
    sys.exit(main())
