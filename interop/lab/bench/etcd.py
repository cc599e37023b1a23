"""The etcd role benchmark (issue 14; interop/bench-etcd.py / bench-etcd.sh): anycastd nodes
in an etcd election (`[role] source = "etcd"`, lease TTL 3 s, fence margin 500 ms) behind
BIRD with BFD, faults against the current leader, measured at the router (the lab:
lab/etcdlab.py; rtr's FIB from `ip -ts monitor route`, every announcer a next hop).

Faults (each `--runs` times, in turn; before each a random pause of 0-1 s so that the fault
falls anywhere in the keep-alive schedule), T0 = just before the action:
  kill        the leader's anycastd SIGKILLed (by PID). Restore: started again.
  partition   the leader cut from etcd, not from the router (rtr's bridge drops its frames
              to and from the etcd members). Restore: the cut removed.
  isolate     the leader cut from everything (its bridge port down in rtr). Restore: up.
  member      one etcd follower member SIGKILLed: the one the leader's anycastd talks to
              (`etcd.endpoint`) when that is a follower, else another follower. Restore:
              started again, the cluster healthy.
  raft-leader etcd's raft leader SIGKILLed. Restore: as member.
  drain       `anycastd drain --seconds 0` on the leader. Restore: `undrain`.
Then a bounded wait until the hand-over (the FIB via one other node; member and raft-leader:
an observation of TTL + 2 s, the leader should stay), the restore, and a bounded wait until
stable again (the FIB via exactly the one node whose status says primary, for 1 s).

Measured per run from the router's timeline over [T0, stable after the restore]: the old
leader's path gone (withdraw), the new leader's path there (announce), the FIB via the new
leader only (hand-over), the time with two or more announcers (overlap; goal 0), the time
with none (no route); the same for the restore phase (a healed old leader must not announce
again). A run is a violation when it overlaps, when no new leader comes within the bound,
when a partitioned leader is still announcing after TTL - margin (+ 300 ms), or when the lab
does not settle. Every partition run keeps its timeline (router events and the two nodes'
own log lines, the latter for reading only).

`--fleet`: 5 nodes × 4 services (each `[[service]]` with its own prefix 203.0.113.51-54 and
its own election /anycastd/svcN); the node leading the most services is SIGKILLed or cut
(alternately) one at a time down to one node; after each step every service must be
announced by exactly one live node at the router (FIB and BIRD's paths, sampled for 1 s),
never by two at once; hand-over time per service.

Results: JSON (target/etcd-bench-<fault|fleet>-<time>.json or --out) and a markdown table
on stdout. Bounded: --runs (1-200), every wait, and --budget seconds for the whole run (it
stops by itself and reports what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import deps, plan
from ..clock import now_us, wait_until
from ..drivers.anycastd import REPO
from ..etcdlab import ELECTION, EtcdLab, EtcdLabConfig, Piece, log_lines
from ..topology import Lab, log
from .bfd_lab import percentile

FAULTS = ("kill", "partition", "isolate", "member", "raft-leader", "drain")
LABEL = {"kill": "(a) leader's anycastd SIGKILL", "partition": "(b) leader cut from etcd only",
         "isolate": "(c) leader cut from everything", "member": "(d) etcd follower member killed",
         "raft-leader": "(e) etcd raft leader killed", "drain": "(f) leader drained"}
HANDOVER = ("kill", "partition", "isolate", "drain")   # the leader must change


@dataclass
class Run:
    fault: str
    n: int
    old: str
    new: str = ""
    member: str = ""             # member / raft-leader: the etcd member killed
    pause_ms: float = 0.0
    withdraw_ms: float | None = None     # T0 → old leader's path gone at the router
    announce_ms: float | None = None     # T0 → new leader's path there (member faults: a leader's, after a loss)
    handover_ms: float | None = None     # T0 → the FIB via the new leader only
    overlap_ms: float = 0.0              # ≥ 2 announcers, fault phase
    no_route_ms: float = 0.0             # no announcer, fault phase
    overlap_restore_ms: float = 0.0
    no_route_restore_ms: float = 0.0
    bird_max_paths: int = 0              # most paths BIRD held at once (sampled)
    stable_after_restore_ms: float | None = None
    leader_changed: bool = False
    etcd_leader: str | None = None       # the election's leader as etcd says (oldest key), at the hand-over
    violations: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench-etcd.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="runs per fault (1-200; default 20)")
    ap.add_argument("--faults", default=",".join(FAULTS), help=f"comma list of {', '.join(FAULTS)}")
    ap.add_argument("--fleet", action="store_true", help="the fleet run instead of the faults")
    ap.add_argument("--fleet-rounds", type=int, default=1, help="fleet: passes from 5 nodes down to 1 (1-10)")
    ap.add_argument("--role", default="etcd", choices=("etcd", "static"),
                    help="static: every node primary (tests the lab itself without the feature)")
    ap.add_argument("--ttl-ms", type=int, default=3000)
    ap.add_argument("--margin-ms", type=int, default=500)
    ap.add_argument("--budget", type=float, default=3600, help="bound on the whole run, s (60-14400)")
    ap.add_argument("--out", help="the JSON results file (default target/etcd-bench-*.json)")
    a = ap.parse_args(argv)
    a.faults = [f for f in a.faults.split(",") if f]
    if bad := [f for f in a.faults if f not in FAULTS]:
        ap.error(f"unknown faults {bad}")
    if not 1 <= a.runs <= 200 or not 1 <= a.fleet_rounds <= 10 or not 60 <= a.budget <= 14400:
        ap.error("--runs 1-200, --fleet-rounds 1-10, --budget 60-14400")
    return a


def sums(pieces: list[Piece]) -> tuple[float, float]:
    """(ms with ≥ 2 announcers, ms with none)."""
    return (sum(p.ms for p in pieces if len(p.nodes) >= 2), sum(p.ms for p in pieces if not p.nodes))


def first_ms(pieces: list[Piece], t0: int, pred) -> float | None:
    p = next((p for p in pieces if pred(p.nodes)), None)
    return None if p is None else max(0.0, (p.t0_us - t0) / 1000)


class Bench:
    def __init__(self, lab: Lab | None, a: argparse.Namespace) -> None:
        self.lab, self.a = lab, a
        self.t_end = time.monotonic() + a.budget
        self.rng = random.Random(14)
        self.runs: list[Run] = []
        self.notes: list[str] = []

    def left(self) -> float:
        return self.t_end - time.monotonic()

    # ---- the single-service lab -----------------------------------------------------------
    def faults(self) -> dict:
        a = self.a
        cfg = EtcdLabConfig(role=a.role, lease_ttl_ms=a.ttl_ms, fence_margin_ms=a.margin_ms,
                            budget_s=a.budget + 120)
        e = self.e = EtcdLab(self.lab, cfg).up()
        e.start_nodes()
        if not e.stable(timeout=30):
            raise RuntimeError(f"the etcd lab did not settle at start: {e.describe()}")
        plan_ = [f for _ in range(a.runs) for f in a.faults]
        for i, fault in enumerate(plan_):
            if self.left() < 60:
                self.notes.append(f"budget exhausted after {i} of {len(plan_)} runs")
                break
            self.runs.append(self.one(fault, i // len(a.faults) + 1))
        e.close()
        return self.results()

    def bound_handover_s(self) -> float:
        return 2 * self.a.ttl_ms / 1000 + 10

    def one(self, fault: str, n: int) -> Run:
        e, ttl = self.e, self.a.ttl_ms / 1000
        before = e.stable(timeout=30)
        if not before:
            self.repair()
            before = e.stable(timeout=30)
        old = before[0] if before else ""
        run = Run(fault, n, old)
        if not before:
            run.violations.append(f"not stable before the fault: {e.describe()}")
            return run
        run.pause_ms = self.rng.uniform(0, 1000)
        time.sleep(run.pause_ms / 1000)
        t0 = now_us()
        self.act(fault, old, run)
        election = e.cfg.role == "etcd"
        if fault in HANDOVER and election:
            got = wait_until(lambda: (f := e.fib_nodes()) and len(f) == 1 and f[0] != old and f,
                             self.bound_handover_s(), 0.05)
            if not got:
                run.violations.append(f"no new leader at the router within {self.bound_handover_s():.0f} s: "
                                      f"{e.describe()}")
            time.sleep(0.5)  # a late second announcer would show here
        else:
            time.sleep(ttl + 2)
            if election and not e.fib_nodes():  # the route went: how long until one is back (before the restore)
                if not wait_until(e.fib_nodes, self.bound_handover_s(), 0.05):
                    run.violations.append(f"no route at the router {self.bound_handover_s():.0f} s after "
                                          f"the observation: {e.describe()}")
        t_fault_end = now_us()
        run.new = ",".join(e.fib_nodes())
        run.etcd_leader = e.etcd.election_leader(ELECTION) if election else None
        self.restore(fault, old, run)
        t_restore = now_us()
        after = e.stable(timeout=30)
        t_stable = now_us()
        if after:
            run.stable_after_restore_ms = (t_stable - t_restore) / 1000
        else:
            run.violations.append(f"not stable within 30 s after the restore: {e.describe()}")
        self.measure(run, t0, t_fault_end, t_restore, t_stable)
        log(f"{fault} #{n}: old {old} → {run.new}: withdraw {run.withdraw_ms} announce {run.announce_ms} "
            f"handover {run.handover_ms} overlap {run.overlap_ms:.1f}/{run.overlap_restore_ms:.1f} "
            f"no-route {run.no_route_ms:.1f} ms {run.violations or ''}")
        return run

    def act(self, fault: str, old: str, run: Run) -> None:
        e = self.e
        if fault == "kill":
            e.kill(old)
        elif fault == "partition":
            e.cut_etcd(old)
        elif fault == "isolate":
            e.link_down(old)
        elif fault == "drain":
            r = e.acd[old].socket_cli("drain", "--seconds", "0")
            if r.returncode != 0:
                run.violations.append(f"drain: rc {r.returncode} {(r.stdout + r.stderr).strip()[:200]}")
        else:
            run.member = self.pick_member(fault, old)
            if run.member:
                e.etcd.kill(run.member)
            else:
                run.violations.append(f"no etcd member to kill for {fault}: {e.etcd.statuses()}")

    def pick_member(self, fault: str, old: str) -> str:
        """raft-leader: the raft leader; member: the follower the leader node talks to, or
        another follower."""
        leader = self.e.etcd.raft_leader() or ""
        if fault == "raft-leader":
            return leader
        st = self.e.service_status(self.e.status(old), "default") or {}
        endpoint = (st.get("etcd") or {}).get("endpoint") or ""
        members = [m.name for m in plan.ETCD_MEMBERS if m.name != leader]
        used = next((m.name for m in plan.ETCD_MEMBERS if m.addr4 in endpoint), "")
        return used if used in members else (self.rng.choice(members) if members else "")

    def restore(self, fault: str, old: str, run: Run) -> None:
        e = self.e
        if fault == "kill":
            try:
                e.acd[old].start()
            except RuntimeError as err:
                run.violations.append(f"restart of {old}: {err}")
        elif fault == "partition":
            e.heal_etcd(old)
        elif fault == "isolate":
            e.link_up(old)
        elif fault == "drain":
            e.acd[old].socket_cli("undrain")
        else:
            e.etcd.restart_dead()
            if not wait_until(e.etcd.healthy, 20, 0.2):
                run.violations.append(f"etcd not healthy 20 s after restarting {run.member}: {e.etcd.health()}")

    def repair(self) -> None:
        """Undo every fault there could be (the lab did not settle)."""
        e = self.e
        log(f"repair: {e.describe()}")
        e.heal_etcd()
        for name in list(e.down):
            e.link_up(name)
        e.etcd.restart_dead()
        for name, acd in e.acd.items():
            if not acd.alive():
                try:
                    acd.start()
                except RuntimeError as err:
                    log(f"repair: {name}: {err}")
            acd.socket_cli("undrain")

    def measure(self, run: Run, t0: int, t_fault_end: int, t_restore: int, t_stable: int) -> None:
        e, a = self.e, self.a
        old = run.old
        fault_p = e.pieces("default", t0, t_restore)
        restore_p = e.pieces("default", t_restore, max(t_stable, t_restore))
        run.overlap_ms, run.no_route_ms = sums(fault_p)
        run.overlap_restore_ms, run.no_route_restore_ms = sums(restore_p)
        run.withdraw_ms = first_ms(fault_p, t0, lambda ns: old not in ns)
        new = run.new if "," not in run.new else ""
        run.leader_changed = bool(new) and new != old
        if new and (run.leader_changed or run.withdraw_ms is not None):
            run.announce_ms = first_ms([p for p in fault_p if (p.t0_us - t0) / 1000 >= (run.withdraw_ms or 0)],
                                       t0, lambda ns: new in ns)
            if run.leader_changed:
                run.handover_ms = first_ms(fault_p, t0, lambda ns: ns == (new,))
        samples = e.sampler.between(t0, t_stable)
        run.bird_max_paths = max((len(s.paths.get(plan.PREFIX4, ())) for s in samples), default=0)
        election = e.cfg.role == "etcd"
        if election:
            if run.overlap_ms > 0 or run.overlap_restore_ms > 0:
                run.violations.append(f"overlap: {run.overlap_ms:.1f} ms after the fault, "
                                      f"{run.overlap_restore_ms:.1f} ms after the restore")
            if run.bird_max_paths >= 2:
                run.violations.append(f"BIRD held {run.bird_max_paths} paths at once (sampled)")
            if run.fault not in HANDOVER and (run.leader_changed or run.no_route_ms > 0):
                run.violations.append(f"etcd lost a member, yet the route moved or went: leader {old} → {run.new}, "
                                      f"{run.no_route_ms:.1f} ms without a route")
            fence_ms = a.ttl_ms - a.margin_ms + 300
            if run.fault == "partition" and (run.withdraw_ms is None or run.withdraw_ms > fence_ms):
                run.violations.append(f"partitioned leader {old} withdrew at {run.withdraw_ms} ms, "
                                      f"after TTL - margin + 300 = {fence_ms} ms")
        if run.fault == "partition" or run.violations:
            run.timeline = self.timeline(fault_p + restore_p, t0, t_restore)

    def timeline(self, pieces: list[Piece], t0: int, t_restore: int) -> list[tuple[float, str]]:
        """The router's events (FIB changes) and, marked `log`, every node's own log lines
        (read, not measured from), in ms after T0."""
        ev, last = [(0.0, "T0: fault, router via " + (",".join(pieces[0].nodes) if pieces else "?"))], None
        for p in pieces:
            if p.t0_us > t0 and p.nodes != last:
                ev.append(((p.t0_us - t0) / 1000, "router: via " + (",".join(p.nodes) or "nothing")))
            last = p.nodes
        ev.append(((t_restore - t0) / 1000, "restore"))
        t1 = pieces[-1].t1_us if pieces else t_restore
        for name in self.e.acd:  # every node: a third one announcing shows who
            ev += [((us - t0) / 1000, f"log {name}: {text[:160]}") for us, text in log_lines(self.e.acd[name], t0, t1)]
        return sorted(ev)

    # ---- the fleet ---------------------------------------------------------------------------
    def fleet(self) -> dict:
        a = self.a
        for rnd in range(1, a.fleet_rounds + 1):
            if self.left() < 120:
                self.notes.append(f"budget exhausted before fleet round {rnd}")
                break
            with Lab() as lab:
                self.fleet_round(lab, rnd)
        return self.fleet_results()

    def fleet_round(self, lab: Lab, rnd: int) -> None:
        a = self.a
        cfg = EtcdLabConfig(nodes=plan.FLEET, services=dict(plan.FLEET_SERVICES), role=a.role,
                            lease_ttl_ms=a.ttl_ms, fence_margin_ms=a.margin_ms, budget_s=a.budget + 120)
        e = self.e = EtcdLab(lab, cfg).up()
        e.start_nodes()
        svcs = list(cfg.services)
        alive = list(e.acd)
        holders = self.fleet_settled(e, svcs, alive, 60)
        if not holders:
            raise RuntimeError(f"fleet did not settle at start: {[e.describe(s) for s in svcs]}")
        step = 0
        while len(alive) > 1 and self.left() > 60:
            step += 1
            led = {n: [s for s in svcs if holders[s] == (n,)] for n in alive}
            victim = max(alive, key=lambda n: (len(led[n]), n))
            how = "kill" if step % 2 else "isolate"
            rec = {"round": rnd, "step": step, "victim": victim, "how": how, "led": led[victim],
                   "alive_before": list(alive), "services": {}, "violations": []}
            time.sleep(self.rng.uniform(0, 1))
            t0 = now_us()
            e.kill(victim) if how == "kill" else e.link_down(victim)
            alive.remove(victim)
            got = self.fleet_settled(e, svcs, alive, self.bound_handover_s() + 5)
            t1 = now_us()
            if not got:
                rec["violations"].append(f"not every service on one live node within "
                                         f"{self.bound_handover_s() + 5:.0f} s: "
                                         + "; ".join(f"{s}: {e.fib_nodes(s)}" for s in svcs))
            samples = e.sampler.between(t0, t1)
            for s in svcs:
                prefix = cfg.services[s]
                p = e.pieces(s, t0, t1)
                overlap, no_route = sums(p)
                new = (got or {}).get(s, ())
                r = {"old": ",".join(holders[s]), "new": ",".join(new), "overlap_ms": overlap,
                     "no_route_ms": no_route, "bird_max_paths": max((len(x.paths.get(prefix, ())) for x in samples),
                                                                    default=0),
                     "handover_ms": first_ms(p, t0, lambda ns, new=new: ns == new) if new != holders[s] else None}
                changes = sum(1 for x in p[1:])
                if s not in led[victim] and changes and e.cfg.role == "etcd":
                    rec["violations"].append(f"{s} (not led by {victim}) changed at the router: "
                                             + " ".join(",".join(x.nodes) or "-" for x in p))
                if overlap > 0 or r["bird_max_paths"] >= 2:
                    if e.cfg.role == "etcd":
                        rec["violations"].append(f"{s}: overlap {overlap:.1f} ms, BIRD max {r['bird_max_paths']} paths")
                rec["services"][s] = r
            # sampled after settling: each service on exactly one node, in BIRD's paths too
            time.sleep(1.0)
            after = e.sampler.between(t1, now_us())
            bad = [(x.t_us, {s: x.paths.get(cfg.services[s], ()) for s in svcs}) for x in after
                   if any(len(x.paths.get(cfg.services[s], ())) != e.expected_announcers(len(alive)) for s in svcs)]
            rec["samples_after"] = len(after)
            if bad:
                rec["violations"].append(f"{len(bad)} of {len(after)} BIRD samples after settling not one path "
                                         f"per service: {bad[0][1]}")
            holders = got or {s: e.fib_nodes(s) for s in svcs}
            log(f"fleet step {step}: {how} {victim} (led {led[victim]}): "
                + ", ".join(f"{s} {r['old']}→{r['new']} {r['handover_ms']} ms" for s, r in rec["services"].items())
                + (f" VIOLATIONS {rec['violations']}" if rec["violations"] else ""))
            self.runs.append(rec)  # type: ignore[arg-type]
        e.close()

    def fleet_settled(self, e: EtcdLab, svcs: list[str], alive: list[str], timeout: float) -> dict | None:
        """Every service's FIB on the expected number of live nodes, for 1 s; service →
        holders."""
        def once() -> dict | None:
            h = {s: e.fib_nodes(s) for s in svcs}
            ok = all(len(v) == e.expected_announcers(len(alive)) and set(v) <= set(alive) for v in h.values())
            return h if ok else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = wait_until(once, max(0.1, deadline - time.monotonic()), 0.1)
            if not h:
                return None
            time.sleep(1.0)
            if once() == h:
                return h
        return None

    # ---- results -----------------------------------------------------------------------------
    def meta(self) -> dict:
        e = self.e
        return {"command": "interop/bench-etcd.sh " + " ".join(sys.argv[1:]) if sys.argv else "",
                **e.versions, "role": self.a.role, "lease_ttl_ms": self.a.ttl_ms,
                "fence_margin_ms": self.a.margin_ms, "bfd": "50 ms x 3", "runs_per_fault": self.a.runs,
                "etcd_timers": "heartbeat 100 ms, election timeout 1000 ms", "notes": self.notes,
                "load": os.getloadavg()}

    def results(self) -> dict:
        rows = {}
        for f in self.a.faults:
            rs = [r for r in self.runs if r.fault == f]
            vals = lambda k: [getattr(r, k) for r in rs if getattr(r, k) is not None]  # noqa: E731
            rows[f] = {"runs": len(rs), "violations": sum(bool(r.violations) for r in rs),
                       "leader_changed": sum(r.leader_changed for r in rs),
                       **{f"{k}_p50": percentile(vals(k), 50) if vals(k) else None for k in
                          ("handover_ms", "withdraw_ms", "announce_ms", "no_route_ms")},
                       **{f"{k}_p99": percentile(vals(k), 99) if vals(k) else None for k in
                          ("handover_ms", "withdraw_ms", "announce_ms", "no_route_ms")},
                       "overlap_max_ms": max((r.overlap_ms for r in rs), default=0.0),
                       "overlap_restore_max_ms": max((r.overlap_restore_ms for r in rs), default=0.0),
                       "runs_with_overlap": sum(r.overlap_ms > 0 or r.overlap_restore_ms > 0 for r in rs)}
        return {"meta": self.meta(), "summary": rows, "runs": [asdict(r) for r in self.runs]}

    def fleet_results(self) -> dict:
        per: dict[str, list[float]] = {}
        for rec in self.runs:
            for s, r in rec["services"].items():  # type: ignore[index]
                if r["handover_ms"] is not None:
                    per.setdefault(s, []).append(r["handover_ms"])
        summary = {s: {"handovers": len(v), "p50_ms": percentile(v, 50), "max_ms": max(v)} for s, v in per.items()}
        return {"meta": self.meta(), "summary": summary, "steps": self.runs,
                "violations": sum(bool(r["violations"]) for r in self.runs)}  # type: ignore[index]


def fmt(v) -> str:
    return "—" if v is None else f"{v:.0f}"


def markdown(res: dict) -> str:
    m = res["meta"]
    head = [f"anycastd {m['anycastd']}, etcd {m['etcd']}, {m['bird']}; role {m['role']}, lease TTL "
            f"{m['lease_ttl_ms']} ms, fence margin {m['fence_margin_ms']} ms, BFD {m['bfd']}; load {m['load']}", ""]
    if "steps" in res:
        lines = head + ["| step | fault | node (services it led) | hand-over per service (ms) | overlap (ms) | violations |",
                        "|---|---|---|---|---|---|"]
        for r in res["steps"]:
            ho = ", ".join(f"{s} {x['old']}→{x['new']} {fmt(x['handover_ms'])}" for s, x in r["services"].items()
                           if x["handover_ms"] is not None) or "none moved"
            ov = max((x["overlap_ms"] for x in r["services"].values()), default=0)
            lines.append(f"| {r['round']}.{r['step']} | {r['how']} | {r['victim']} ({', '.join(r['led']) or '-'}) | "
                         f"{ho} | {ov:.1f} | {'; '.join(r['violations']) or 0} |")
        lines += ["", "| service | hand-overs | p50 (ms) | max (ms) |", "|---|---|---|---|"]
        lines += [f"| {s} | {x['handovers']} | {fmt(x['p50_ms'])} | {fmt(x['max_ms'])} |" for s, x in res["summary"].items()]
        return "\n".join(lines)
    lines = head + ["| fault | runs | new leader at router p50 / p99 (ms) | old withdrawn p50 / p99 (ms) | "
                    "overlap max (ms), runs with overlap | no route p50 / p99 (ms) | leader changed | violations |",
                    "|---|---|---|---|---|---|---|---|"]
    for f, x in res["summary"].items():
        lines.append(f"| {LABEL[f]} | {x['runs']} | {fmt(x['handover_ms_p50'])} / {fmt(x['handover_ms_p99'])} | "
                     f"{fmt(x['withdraw_ms_p50'])} / {fmt(x['withdraw_ms_p99'])} | "
                     f"{max(x['overlap_max_ms'], x['overlap_restore_max_ms']):.1f}, {x['runs_with_overlap']} | "
                     f"{fmt(x['no_route_ms_p50'])} / {fmt(x['no_route_ms_p99'])} | {x['leader_changed']} | "
                     f"{x['violations']} |")
    part = next((r for r in res["runs"] if r["fault"] == "partition" and r["timeline"]), None)
    if part:
        lines += ["", f"Partition run #{part['n']} (old leader {part['old']}, new {part['new']}), ms after T0:", "```"]
        lines += [f"{t:9.1f}  {text}" for t, text in part["timeline"]] + ["```"]
    bad = [r for r in res["runs"] if r["violations"]]
    if bad:
        lines += ["", "Violations:"] + [f"- {r['fault']} #{r['n']} (old {r['old']}): {'; '.join(r['violations'])}"
                                        for r in bad]
    return "\n".join(lines)


def main(args: list[str]) -> int:
    a = parse(args)
    if os.geteuid() != 0:
        print("must run as root (network namespaces)", file=sys.stderr)
        return 1
    deps.install({**deps.BINARIES, **deps.ETCD})
    if a.fleet:  # a lab per round
        res = Bench(None, a).fleet()
    else:
        bench = Bench(Lab(), a)
        with bench.lab:
            res = bench.faults()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = Path(a.out) if a.out else REPO / "target" / f"etcd-bench-{'fleet' if a.fleet else 'faults'}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(markdown(res))
    print(f"\n(results: {out})")
    bad = res["violations"] if a.fleet else sum(x["violations"] for x in res["summary"].values())
    return 1 if bad else 0
