"""The chaos suite's checker: one fault's window (fault → converged) against its bounds — path
gone, outage, two preferred paths, wrong best, announcers not MASTER, convergence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import plan
from .observe import tied, wrong_best

if TYPE_CHECKING:
    from .run import Fault

NODES = plan.NODES
#: faults after which the MASTER must still be the MASTER, its route never gone (whatever the
#: target): a reload changes nothing a decision depends on. Faults on the BACKUP are judged the
#: same, except vrrp-asym (a deaf BACKUP with the higher priority takes MASTER, as VRRP says)
STAYS = ("reload",)


class Evaluation:
    """Mixin of `Chaos`: evaluates a `Fault` from the recorders."""

    def ka_timeline(self, name: str) -> list[tuple[int, str]]:
        """keepalived's states by their time (hooks run concurrently: the log may be out of order)."""
        return sorted(self.ka[name].states())

    @staticmethod
    def was_master_within(tl: list[tuple[int, str]], t0: int, t1: int) -> bool:
        """Whether keepalived's state was MASTER at some time in [t0, t1] (the state at t0 is
        the last one reported before it)."""
        at_t0 = ""
        for us, st in tl:
            if us > t1:
                break
            if us <= t0:
                at_t0 = st
            elif st == "MASTER":
                return True
        return at_t0 == "MASTER"

    def evaluate(self, f: Fault) -> None:
        self.fib.poll()
        self.pinger.poll()
        t0, t1 = f.t0_us, f.t_conv_us
        nodes = {n.name: n for n in NODES}
        bound_gone, f.outage_bound_ms = self.t.bounds(
            f.kind, f.target, self.acd[f.node].config.checks[0].interval_ms if f.node else None)
        # path gone: the target was the FIB's next hop at t0 → the first FIB state without it
        if bound_gone is not None and f.node and f.target == "master" and self.fib.at(t0) != (nodes[f.node].addr4,):
            f.violations.append(f"the FIB at the fault was {self.fib.at(t0)}, not the MASTER's")
        elif bound_gone is not None and f.node:
            f.path_gone_bound_ms = bound_gone
            gone = next((t for t, hops in self.fib.timeline if t > t0 and nodes[f.node].addr4 not in hops), None)
            f.path_gone_ms = None if gone is None else (gone - t0) / 1000
            if f.path_gone_ms is None or f.path_gone_ms > bound_gone:
                f.violations.append(f"path gone {f.path_gone_ms} ms > {bound_gone:.0f} ms")
        # outage: the longest reply gap around the fault (a gap that began before t0 counts)
        rep = self.pinger.between(t0 - 1_000_000, t1)
        gaps = [(b - a) for a, b in zip(rep, rep[1:]) if b >= t0]
        if rep and rep[-1] < t1:
            gaps.append(t1 - rep[-1])
        f.outage_ms = max(0.0, max(gaps, default=0) / 1000 - 10)
        if f.outage_ms > f.outage_bound_ms:
            f.violations.append(f"outage {f.outage_ms:.0f} ms > {f.outage_bound_ms:.0f} ms")
        pieces = self.fib.window(t0, t1)
        f.fib_absent_ms = max((b - a for a, b, h in pieces if not h), default=0) / 1000
        if f.kind in STAYS or (f.target == "backup" and f.kind != "vrrp-asym"):
            # the MASTER stayed healthy throughout: the route must never leave the FIB
            if f.fib_absent_ms > 0:
                f.violations.append(f"route gone from the FIB for {f.fib_absent_ms:.0f} ms while the MASTER stayed healthy")
            if f.converged and f.master_after != f.master_before:
                f.violations.append(f"MASTER moved {f.master_before} → {f.master_after} though it stayed healthy")
        fib_multi = sum(b - a for a, b, h in pieces if len(h) > 1) / 1000
        # the sampler: tied paths, wrong best, two paths, announcers that were not MASTER
        samples = self.sampler.between(t0, t1)
        tls = {n: self.ka_timeline(n) for n in self.ka}
        by_addr = {n.addr4: n.name for n in NODES}
        overlap = two = 0
        wb_start, wb_max = None, 0.0
        for s, nxt in zip(samples, samples[1:]):
            dt = nxt.t_us - s.t_us
            if tied(s):
                overlap += dt
            if len(s.paths) >= 2:
                two += dt
            if wrong_best(s):
                wb_start = s.t_us if wb_start is None else wb_start
                wb_max = max(wb_max, (nxt.t_us - wb_start) / 1000)
            else:
                wb_start = None
            for peer, *_ in s.paths:
                name = by_addr.get(peer)
                if name == f.node and f.path_gone_bound_ms is not None and s.t_us <= t0 + f.path_gone_bound_ms * 1000:
                    continue  # the failing node's own path: judged by "path gone" (it may be cut off)
                # keepalived's state comes from the notify hook's log, which trails the FIFO
                # anycastd reads by the hook's fork/exec: a MASTER within S after counts too
                slack = (self.t.slack_ms + self.t.router_lag_ms) * 1000
                if name and not self.was_master_within(tls[name], s.t_us - slack, s.t_end_us + slack):
                    f.not_master_announcing += 1
                    if f.not_master_announcing == 1:
                        self.event(f"fault {f.n}: path from {name} at {s.t_us}, keepalived "
                                   f"{[x for x in tls[name] if x[0] <= s.t_us][-2:]}")
        f.overlap_ms = overlap / 1000 + fib_multi
        f.two_paths_ms = two / 1000
        f.wrong_best_ms = wb_max
        if f.overlap_ms > 0:
            f.violations.append(f"two preferred paths for {f.overlap_ms:.0f} ms")
        if wb_max > max(self.router.withdraw_lag_ms, self.a.sample_ms * 2):
            f.violations.append(f"best path not the preferred one for {wb_max:.0f} ms")
        if f.not_master_announcing:
            f.violations.append(f"a path from a node not MASTER in {f.not_master_announcing} samples")
        f.split_brain_warned = any(w for t, _n, _r, _a, w in self.status_log if t0 <= t <= t1)
        # who answered the client: echo requests each node received from t0 to convergence
        # (IcmpInEchos, sampled every 250 ms; per namespace, so a power-off keeps them)
        at0 = next((c for t, c in reversed(self.echo_log) if t <= t0), None)
        at1 = next((c for t, c in reversed(self.echo_log) if t <= t1), None)
        if at0 and at1:
            f.echoes = {n: at1[n] - at0[n] for n in at1 if n in at0}
        if not f.converged:
            f.violations.append("not converged")
