"""Every segment of anycastd's BGP session with the router carries a valid TCP-MD5 signature,
and two independent checkers (tcpdump -M and `anycastd md5 verify`) agree on it, segment for
segment; then a capture of a wrong-key attempt is diagnosed correctly by both. Runs against
every router.

       client ── client0 ┐
                       rtr: ROUTER, AS 65000, password "anycast-lab-key"
                         │ br0 192.0.2.1
         nodea0 ─────────┴──── nodeb0
  tcpdump -s 0 │  (tcp port 179)
  nodea 192.0.2.11: anycastd AS 65124, md5 "anycast-lab-key" (phase 2: "wrong-key-0000")

Checks:
  1. phase 1: Established; capture of the whole session (SYN .. OPEN .. KEEPALIVEs ..
     NOTIFICATION .. FIN) after a clean stop (SIGTERM): OPEN, UPDATE, NOTIFICATION, KEEPALIVE
  2. tcpdump -M anycast-lab-key: every port-179 segment signed, all valid, none invalid (> 10)
  3. anycastd md5 verify --key anycast-lab-key: exit 0, "verdict: OK: all N signed segments
     valid" with tcpdump's N; --json totals: segments = signed = valid, unsigned 0, invalid 0;
     both directions signed and valid
  4. --key wrong: exit 1, "verdict: FAIL", every segment invalid (tcpdump -M wrong agrees);
     --key-file with the right key (trailing newline): exit 0
  5. phase 2 (anycastd with the wrong key): with the router's key anycastd's SYNs are invalid
     and the router's valid; with anycastd's key the reverse; exit 1 both times; tcpdump
     agrees with the router's key
"""

from __future__ import annotations

import json
import re
import time

import pytest

from lab import capture, plan
from lab.clock import wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
KEY = plan.MD5_KEY


def verify(acd: Anycastd, pcap, *key: str) -> tuple[int, str, dict]:
    rc, text = acd.md5_verify(pcap, *key)
    _, js = acd.md5_verify(pcap, *key, json_out=True)
    print("\n".join("    " + line for line in text.splitlines()))
    return rc, text, json.loads(js or "{}")


def totals(j: dict) -> tuple:
    t = j.get("totals", {})
    return tuple(t.get(k) for k in ("segments", "signed", "valid", "invalid", "unsigned"))


def by_sender(j: dict) -> dict[str, tuple[int, int]]:
    """source address -> (valid, invalid), summed over the flows it sent."""
    out: dict[str, tuple[int, int]] = {}
    for f in j.get("flows", []):
        ip = re.sub(r":\d+$", "", f["src"]).strip("[]")
        v, i = out.get(ip, (0, 0))
        out[ip] = (v + f["valid"], i + f["invalid"])
    return out


def syns(pcap, src: str) -> int:
    return capture.count(pcap, f"tcp.flags.syn == 1 && ip.src == {src}")


@pytest.mark.timeout(90)
def test_md5_capture(lab, router, checks):
    cap = capture.Capture.start(lab, NODEA.port, "good.pcap")
    acd = Anycastd(lab, AnycastdConfig(NODEA))
    acd.start()
    checks.check("phase 1: Established", wait_until(lambda: router.established(NODEA.addr4), 10))
    time.sleep(3.5)  # at least one KEEPALIVE each way (3 s interval)
    acd.stop()
    time.sleep(0.3)
    pcap = cap.stop()
    types = {t: capture.count(pcap, f"bgp.type == {t}") for t in (1, 2, 3, 4)}
    checks.check("phase 1: capture holds OPEN (1), UPDATE (2), NOTIFICATION (3) and KEEPALIVE (4)",
                 all(types.values()), f"count by type {types}")

    td = capture.md5_verdicts(pcap, KEY)
    checks.check("tcpdump: every segment signed and valid (> 10 segments)",
                 td.all_valid and td.segments > 10, f"{td.segments} segments, {td.valid} valid, {td.invalid} invalid")

    rc, text, j = verify(acd, pcap, "--key", KEY)
    checks.equal(f"md5 verify --key {KEY}: exit status", rc, 0)
    checks.check(f"md5 verify: 'verdict: OK: all {td.valid} signed segments valid'",
                 f"verdict: OK: all {td.valid} signed segments valid" in text.splitlines())
    checks.equal("md5 verify --json: segments signed valid invalid unsigned", totals(j),
                 (td.segments, td.segments, td.segments, 0, 0))
    senders = by_sender(j)
    checks.check("md5 verify: both directions signed and valid, none invalid",
                 len(senders) == 2 and all(v > 0 and i == 0 for v, i in senders.values()), senders)

    rc, text, j = verify(acd, pcap, "--key", "wrong")
    checks.equal("md5 verify --key wrong: exit status", rc, 1)
    checks.check("md5 verify --key wrong: verdict FAIL", re.search(r"^verdict: FAIL", text, re.M))
    tw = capture.md5_verdicts(pcap, "wrong")
    checks.check("--key wrong: both tools find every segment invalid",
                 tw.invalid == td.segments and tw.valid == 0 and totals(j) == (td.segments, td.segments, 0, td.segments, 0),
                 f"anycastd {totals(j)}, tcpdump {tw.invalid} invalid / {tw.valid} valid")
    keyfile = lab.path("key")
    keyfile.write_text(KEY + "\n")
    keyfile.chmod(0o600)
    checks.equal("md5 verify --key-file (key + newline): exit status", verify(acd, pcap, "--key-file", str(keyfile))[0], 0)

    cap2 = capture.Capture.start(lab, NODEA.port, "wrong.pcap")
    acd.config.md5 = plan.WRONG_KEY
    acd.start()
    # Our first SYN (+ retransmissions) and the router's connection attempts (BIRD and FRR
    # within ~2 s; gobgpd reconnects ~10 s after it received our Cease in phase 1).
    t0 = time.monotonic()
    wait_until(lambda: syns(cap2.pcap, plan.RTR_LAN4) >= 1 and syns(cap2.pcap, NODEA.addr4) >= 2,
               6 + router.reconnect_delay_s, 0.3)
    checks.note(f"phase 2: first SYNs of both sides after {time.monotonic() - t0:.1f} s")
    acd.stop()
    pcap2 = cap2.stop()
    checks.check("phase 2: no session with the wrong key", not router.established(NODEA.addr4))
    rc1, _, j1 = verify(acd, pcap2, "--key", KEY)
    rc2, _, j2 = verify(acd, pcap2, "--key", plan.WRONG_KEY)
    s1, s2 = by_sender(j1), by_sender(j2)
    checks.note(f"phase 2 per sender (valid, invalid): router's key {s1} | anycastd's key {s2}")
    r, n = plan.RTR_LAN4, NODEA.addr4
    checks.check(f"phase 2, router's key: exit 1, {n}'s segments all invalid, {r}'s all valid",
                 rc1 == 1 and s1.get(r, (0, 1))[0] > 0 and s1[r][1] == 0 and s1.get(n, (1, 0))[0] == 0 and s1[n][1] > 0, s1)
    checks.check(f"phase 2, anycastd's key: exit 1, {n}'s segments all valid, {r}'s all invalid",
                 rc2 == 1 and s2.get(n, (0, 1))[0] > 0 and s2[n][1] == 0 and s2.get(r, (1, 0))[0] == 0 and s2[r][1] > 0, s2)
    tp = capture.md5_verdicts(pcap2, KEY)
    checks.equal("phase 2: tcpdump agrees with the router's key (segments signed valid invalid unsigned)",
                 totals(j1), (tp.segments, tp.segments, tp.valid, tp.invalid, 0))
    checks.note(f"signed segments: phase 1 {td.segments}, phase 2 {tp.segments}")
    checks.verify()
