"""Session flap soak (interop/bench-flap-soak.sh; flap-short is its CI form): anycastd in
nodea against the router in rtr (BIRD by default), N session resets of four kinds in
rotation, each followed by a bounded wait until the session is Established again AND the
router has 203.0.113.124/32 from nodea.

                rtr: ROUTER, AS 65000, MD5, hold 3 (--hold), keepalive hold/3,
                     connect retry 1 (BIRD: connect delay 1, error wait 1, 2)
                 │ br0 192.0.2.1 (node LAN switch)
                 └── nodea0 ─── eth0 192.0.2.11  nodea: anycastd (connect_retry 1, hold 3)

Kinds: restart (router SIGTERM by PID, started again: recovery from the start), link
(nodea's eth0 down until the router's hold timer drops the session, then up: recovery from
link up), notify (the router shuts the session down administratively — NOTIFICATION Cease
— then enables it: recovery from enable), rst (`ss -K` on anycastd's established BGP socket
in nodea: the kernel aborts it and sends a TCP RST; recovery from the kill). A flap counts
as survived when anycastd's `flaps` counter rose and the session and route came back within
its bound, with the same anycastd PID: --max-recovery s, plus the router's own idle hold
(`Router.idle_hold_s`: gobgpd refuses the peer for 5 s after a session ends) for the kinds
that end a session the router lives on through (all but restart). RSS and open fds are read at the start, after
every flap (max) and at the end; the IdleHold waits come from anycastd's log
(bench-flap-soak.py). Checks end the run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

from .. import plan
from ..checks import Checks
from ..clock import ms, now_us, wait_until
from ..drivers import ROUTER_NAMES, kind_of, make_router, router_config
from ..drivers.anycastd import Anycastd, AnycastdConfig
from ..fixtures import HERE, PYTHON
from ..proc import run
from ..topology import Lab, log
from . import procstat

KINDS = ("restart", "link", "notify", "rst")
NODEA = plan.NODEA


@dataclass
class Options:
    flaps: int = 1000
    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    hold: int = 3
    max_recovery: int = 75
    budget_s: int = 2400
    router: str = "bird"


def parse(argv: list[str]) -> Options:
    ap = argparse.ArgumentParser(prog="bench-flap-soak.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--flaps", type=int, default=1000)
    ap.add_argument("--kinds", default=" ".join(KINDS))
    ap.add_argument("--hold", type=int, default=3)
    ap.add_argument("--max-recovery", type=int, default=75)
    ap.add_argument("--budget", type=int, default=2400)
    ap.add_argument("--router", default="bird", choices=ROUTER_NAMES)
    a = ap.parse_args(argv)
    kinds = a.kinds.split()
    if not kinds or any(k not in KINDS for k in kinds) or a.flaps < 1 or a.hold < 3 or a.max_recovery < 1:
        ap.error("--kinds from restart link notify rst; --flaps >= 1; --hold >= 3; --max-recovery >= 1")
    return Options(a.flaps, kinds, a.hold, a.max_recovery, a.budget, a.router)


def bench(lab: Lab, o: Options, checks: Checks) -> None:
    t_start = time.monotonic()
    kw = {"error_wait": (1, 2)} if kind_of(o.router) == "bird" else {}
    router = make_router(o.router, lab, router_config(hold=o.hold, connect_retry=1), **kw)
    router.start()
    acd = Anycastd(lab, AnycastdConfig(NODEA, hold=o.hold, connect_retry=1, role="static"))
    pid = acd.start().pid

    def up() -> bool:
        return router.established(NODEA.addr4) and any(p.peer == NODEA.addr4 for p in router.paths(plan.PREFIX4))
    def down() -> bool:
        return not router.established(NODEA.addr4)
    def flaps() -> int:
        nb = ((acd.status() or {}).get("neighbors") or [{}])[0]
        return nb.get("flaps", -1)

    def bound(kind: str) -> float:
        """anycastd's --max-recovery, plus what the router itself holds the session down."""
        return o.max_recovery + (router.idle_hold_s if kind != "restart" else 0)

    if not wait_until(up, 20):
        raise RuntimeError(f"no session/route before the soak: {acd.log()[-400:]}")
    rss0, fd0 = procstat.rss_kb(pid), procstat.fd_count(pid)
    rss_max, fd_max = rss0, fd0
    log(f"start: anycastd pid {pid} rss {rss0} kB, {fd0} fds; {o.flaps} flaps of {' '.join(o.kinds)} "
        f"against {o.router} (hold {o.hold} s)")

    def flap(kind: str) -> tuple[int, int]:
        """Do one reset; (td, tr): when it was seen down (0 = not seen), when restoring began."""
        td = 0
        if kind == "restart":
            router.stop()
            td = tr = now_us()
            router.start()
        elif kind == "link":
            lab.ip("nodea", "link set eth0 down")
            td = now_us() if wait_until(down, o.hold + 3) else 0
            tr = now_us()
            lab.ip("nodea", "link set eth0 up")
            lab.relink_node(NODEA)
        elif kind == "notify":
            router.admin_down(NODEA.addr4)
            td = now_us() if wait_until(down, 5) else 0
            tr = now_us()
            router.admin_up(NODEA.addr4)
        else:
            tr = now_us()
            # Established BGP sockets towards the router, whichever side connected.
            lab.sh("nodea", "ss", "-K", "-t", "-n", "state", "established", "dst", plan.RTR_LAN4)
            td = now_us() if wait_until(down, 5) else 0
        return td, tr

    rows = ["i\tkind\tt0_us\ttd_us\ttr_us\tup_us\trecovery_ms\ttotal_ms\tok\tflaps_before\tflaps_after\trss_kb\tfds"]
    i = survived = 0
    reason = f"all {o.flaps} flaps done"
    while i < o.flaps:
        if time.monotonic() - t_start >= o.budget_s:
            reason = f"time budget of {o.budget_s} s used up after {i} flaps"
            break
        if not acd.alive():
            reason = f"anycastd (pid {pid}) died after {i} flaps"
            break
        kind = o.kinds[i % len(o.kinds)]
        i += 1
        f0, t0 = flaps(), now_us()
        td, tr = flap(kind)
        ok = bool(wait_until(up, bound(kind)))
        t_up, f1 = now_us(), flaps()
        ok = ok and f1 > f0  # the reset must have happened: anycastd counted one more flap
        rss, fds = procstat.rss_kb(pid), procstat.fd_count(pid)
        rss_max, fd_max = max(rss_max, rss), max(fd_max, fds)
        rows.append(f"{i}\t{kind}\t{t0}\t{td}\t{tr}\t{t_up}\t{ms(t_up - tr)}\t{ms(t_up - t0)}\t{int(ok)}\t{f0}\t{f1}\t{rss}\t{fds}")
        survived += ok
        if not ok:
            log(f"flap {i} ({kind}): not recovered within {bound(kind):g} s or no reset seen (flaps {f0} -> {f1}); "
                f"{o.router}: {router.state(NODEA.addr4)}")
        if i % 50 == 0 or not ok or i <= 8:
            log(f"flap {i} ({kind}): recovery {ms(t_up - tr)} ms, survived {survived}/{i}, rss {rss} kB, {fds} fds")
    soak_s = time.monotonic() - t_start
    rss1, fd1 = procstat.rss_kb(pid), procstat.fd_count(pid)
    log(f"end: {reason}; rss {rss1} kB (max {rss_max}), {fd1} fds (max {fd_max})")
    ft, status, clean = lab.path("flaps.tsv"), lab.path("status-end.json"), lab.path("anycastd-nodea.clean.log")
    ft.write_text("\n".join(rows) + "\n")
    st = acd.status() or {}
    status.write_text(__import__("json").dumps(st))
    clean.write_text(acd.log())
    print(f"\nbench-flap-soak: anycastd vs {o.router}, hold {o.hold} s, {i} flaps ({reason}) in {soak_s:.0f} s; "
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
    print(run([PYTHON, str(HERE / "bench-flap-soak.py"), str(ft), str(clean), str(status), str(rss0), str(rss1),
               str(rss_max), str(fd0), str(fd1), str(fd_max)]).stdout)
    checks.check(f"anycastd still running with the same pid ({pid})", acd.alive())
    checks.check(f"all {o.flaps} flaps performed", i == o.flaps, reason)
    extra = f" (+ {router.idle_hold_s:g} s, {o.router}'s idle hold, but after a restart)" if router.idle_hold_s else ""
    checks.check(f"every flap survived: reset seen, Established + route back < {o.max_recovery} s{extra}",
                 survived == i, f"{survived}/{i}")
    checks.check("session Established with the route at the end", wait_until(up, 5))
    fl = ((st.get("neighbors") or [{}])[0]).get("flaps", 0)
    checks.check("anycastd counted a flap per reset", fl >= i, f"flaps={fl}, resets={i}")
    checks.check("fds not leaking (end <= start + 2)", fd1 <= fd0 + 2, f"start {fd0}, end {fd1}, max {fd_max}")
    checks.check("RSS bounded (end <= start + 4 MiB)", rss1 <= rss0 + 4096, f"start {rss0} kB, end {rss1} kB, max {rss_max} kB")
    npanic = acd.count("panicked|ERROR")
    checks.equal("panic/ERROR lines in anycastd's log", npanic, 0)
