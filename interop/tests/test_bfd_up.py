"""BFD (RFC 5880, single hop RFC 5881) between anycastd and the router comes Up, with and
without authentication, and the router changing its timers while Up keeps it Up (Poll
Sequence, §6.5). BIRD (auth none and meticulous keyed SHA1) and FRR's bfdd (no auth: FRR 8.4
has none); GoBGP has no BFD.

       rtr: ROUTER, AS 65000, BFD 50 ms × 3 (BIRD: protocol bfd + `bfd on`; FRR: bfdd
         │  profile + `neighbor … bfd`)
         │ br0 192.0.2.1
       nodea0   <- tcpdump 'udp port 3784'
         │
  nodea 192.0.2.11: anycastd, bfd = { interval_ms = 50, multiplier = 3 [, auth, key_id, key] }

test_bfd_up (no auth: BIRD, FRR) and test_bfd_up_auth (meticulous keyed SHA1, key id 1: BIRD)
check:
  1. both sides Up (router: birdc `show bfd sessions` / `show bfd peers json`) < 10 s; BGP
     Established and both prefixes at the router
  2. our status: state/remote_state Up, discriminators nonzero, configured 50 ms × 3, the
     remote's 50/50 ms × 3, negotiated TX 50 ms and Detection Time 150 ms, auth as
     configured, no problem, packets both ways
  3. the router's view: its TX interval 50 ms and Detection Time 150 ms; FRR: its discriminators
     are ours swapped (BIRD 2.0.12 does not show them)
  4. on the wire (capture): our control packets from 192.0.2.11 to port 3784, TTL 255
     (RFC 5881 §5), source port 49152-65535 (§4), with auth: Auth Type 5
test_bfd_timers checks (no auth):
  1. Up as above; the router's timers → 100 ms × 3 at runtime (BIRD: new config + `birdc
     configure`; FRR: vtysh, the bfdd profile): our status shows remote_min_tx/rx 100 ms,
     TX 100 ms, Detection Time 300 ms < 5 s later
  2. the session stayed Up throughout (up_count and down_count unchanged, polled every 50 ms
     until the change and 1 s after it), the router's too, and the BGP session is the same one
"""

from __future__ import annotations

import time

import pytest

from lab import bfd, capture, plan
from lab.clock import ms, wait_until
from lab.drivers import Bfd, make_router, router_config
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA = plan.NODEA
BFD = Bfd(50, 3)
SHA1 = Bfd(50, 3, auth="meticulous-keyed-sha1", key_id=1, key="lab-bfd-secret")
NO_BFD = "GoBGP (3.10, 3.36) has no BFD"


def _start(lab, router, checks, b: Bfd) -> Anycastd:
    ok, out = bfd.anycastd_has_bfd(lab)
    if not ok:
        pytest.fail(f"anycastd refuses a neighbor's bfd table: {out[:160]}")
    acd = Anycastd(lab, AnycastdConfig(NODEA, bfd=b))
    t0 = time.monotonic()
    acd.start()
    up = wait_until(lambda: router.bfd_up(NODEA.addr4) and acd.bfd_state() == "Up", 10, 0.05)
    checks.check(f"BFD Up on both sides < 10 s ({router.kind} and anycastd)", up,
                 f"{(time.monotonic() - t0) * 1000:.0f} ms after start" if up else
                 f"{router.kind}: {router.bfd_session(NODEA.addr4)}; anycastd: {acd.bfd_status()}")
    checks.check(f"BGP Established and both prefixes at {router.kind}",
                 wait_until(lambda: router.established(NODEA.addr4) and
                            [p.peer for p in router.paths(plan.PREFIX4) + router.paths(plan.PREFIX6)]
                            == [NODEA.addr4] * 2, 10), router.state(NODEA.addr4))
    return acd


@pytest.mark.only_routers("bird", "frr", reason=NO_BFD)
@pytest.mark.timeout(60)
def test_bfd_up(lab, router_kind, checks):
    _up(lab, router_kind, checks, BFD)


@pytest.mark.only_routers("bird", reason="FRR's bfdd (8.4, 10.3) has no BFD authentication; GoBGP has no BFD")
@pytest.mark.timeout(60)
def test_bfd_up_auth(lab, router_kind, checks):
    _up(lab, router_kind, checks, SHA1)


def _up(lab, router_kind, checks, b: Bfd) -> None:
    """test_bfd_up's checks 1-4 with `b` on both sides (the router started here, after the
    capture, so that it holds the first packets)."""
    auth = b.auth
    router = make_router(router_kind, lab, router_config(bfd=b))
    cap = capture.Capture.start(lab, NODEA.port, "bfd.pcap", bpf=f"udp port {bfd.PORT}")
    router.start()
    acd = _start(lab, router, checks, b)
    time.sleep(0.3)  # a few packets each way in the capture
    bfd.status_up(checks, acd, b, auth)

    rs = router.bfd_session(NODEA.addr4)
    checks.equal(f"{router.kind}'s view: its TX interval / Detection Time (ms)",
                 (rs and rs.tx_interval_ms, rs and rs.detection_ms), (50, 150))
    st = acd.bfd_status() or {}
    if rs and rs.local_discriminator is not None:
        checks.equal(f"{router.kind}'s discriminators (mine, remote) = ours swapped",
                     (rs.local_discriminator, rs.remote_discriminator),
                     (st.get("remote_discriminator"), st.get("my_discriminator")))
    else:
        checks.not_applicable(f"{router.kind}'s discriminators = ours swapped",
                              f"{router.kind} 2.0.12's `show bfd sessions` shows no discriminators")

    pcap = cap.stop()
    ours = capture.tshark(pcap, f"ip.src == {NODEA.addr4} && udp.dstport == {bfd.PORT}",
                          "ip.ttl", "udp.srcport", "bfd.auth.type")
    checks.check("capture: our BFD control packets to port 3784 (>= 3)", len(ours) >= 3, f"{len(ours)} packets")
    checks.equal("capture: TTL of every one (RFC 5881 §5: 255)", sorted({r[0] for r in ours}), ["255"])
    sports = {int(r[1]) for r in ours if r[1].isdigit()}
    checks.check("capture: source port within 49152-65535 (RFC 5881 §4)",
                 sports and all(49152 <= p <= 65535 for p in sports), sorted(sports))
    if auth:
        checks.equal("capture: Auth Type (5 = Meticulous Keyed SHA1)", sorted({r[2] for r in ours}), ["5"])
    checks.verify()


@pytest.mark.router_config(bfd=BFD)
@pytest.mark.only_routers("bird", "frr", reason=NO_BFD)
@pytest.mark.timeout(60)
def test_bfd_timers(lab, router, checks):
    acd = _start(lab, router, checks, BFD)
    st0 = acd.bfd_status() or {}
    since0 = router.established_since(NODEA.addr4)
    slow = Bfd(100, 3)
    t0 = time.monotonic()
    router.set_bfd(NODEA.addr4, slow)
    seen: list[tuple[str, int, int]] = []

    def changed() -> bool:
        st = acd.bfd_status() or {}
        seen.append((st.get("state"), st.get("up_count"), st.get("down_count")))
        return st.get("detection_time_us") == 300_000 and st.get("remote_min_tx_us") == 100_000
    moved = wait_until(changed, 5, 0.05)
    t_moved = time.monotonic()
    checks.check("after the router's change to 100 ms × 3: our Detection Time 300 ms < 5 s", moved,
                 f"{(t_moved - t0) * 1000:.0f} ms" if moved else acd.bfd_status())
    st = acd.bfd_status() or {}
    checks.equal("status: remote_min_rx_us / remote_min_tx_us / tx_interval_us / detection_time_us",
                 tuple(st.get(k) for k in ("remote_min_rx_us", "remote_min_tx_us", "tx_interval_us", "detection_time_us")),
                 (100_000, 100_000, 100_000, 300_000))
    wait_until(lambda: changed() and False, 1, 0.05)  # and 1 s more at the new timers
    states = sorted({s for s, _, _ in seen if s})
    checks.check(f"anycastd's session stayed Up through the Poll Sequence ({len(seen)} samples)",
                 states == ["Up"] and (st.get("up_count"), st.get("down_count")) == (st0.get("up_count"), st0.get("down_count")),
                 f"states {states}, up/down {st0.get('up_count')}/{st0.get('down_count')} -> "
                 f"{st.get('up_count')}/{st.get('down_count')}")
    rs = router.bfd_session(NODEA.addr4)
    checks.check(f"{router.kind}: BFD Up, TX 100 ms, Detection Time 300 ms", rs and rs.state == "Up"
                 and (rs.tx_interval_ms, rs.detection_ms) == (100, 300), rs)
    checks.check("BGP: the same session (not re-established)",
                 router.same_session(since0, router.established_since(NODEA.addr4)) and router.established(NODEA.addr4),
                 f"{since0!r} -> {router.established_since(NODEA.addr4)!r}")
    checks.note(f"Poll Sequence: status showed the new timers {ms((t_moved - t0) * 1e6)} ms after the change "
                "(upper bound: polled)")
    checks.verify()
