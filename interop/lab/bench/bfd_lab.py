"""BFD pieces the two BFD benchmarks (bfd_cpu, bfd_flood) share, kept out of the drivers
(which another change extends): BIRD with `protocol bfd` and `bfd on` per BGP session (a
`Bird` subclass that post-processes the driver's rendered config), anycastd with a `bfd = {…}`
table per neighbor (an `AnycastdConfig` subclass, same), readers of `birdc show bfd
sessions` / `show protocols` and of anycastd's `neighbors[].bfd`, /proc CPU and memory of a
process (clock ticks and, finer, the scheduler's ns per thread), gap statistics of packet
times, and the machine's load.

Both post-processors leave a block alone that already has its BFD line, so they keep
working if the drivers learn BFD themselves.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..drivers.anycastd import AnycastdConfig
from ..drivers.bird import Bird
from ..proc import run

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- BIRD -------------------------------------------------------------------------------
def bird_bfd_protocol(interval_ms: int = 50, multiplier: int = 3) -> str:
    return ("protocol bfd bfd1 {\n"
            f'    interface "*" {{ interval {interval_ms} ms; multiplier {multiplier}; }};\n'
            "}")


class BfdBird(Bird):
    """The BIRD driver plus `protocol bfd bfd1` (50 ms × 3 by default) and `bfd on;` in every
    `protocol bgp` block; `bfd=False` renders the plain driver's config (the baselines)."""

    def __init__(self, *args, bfd: bool = True, interval_ms: int = 50, multiplier: int = 3,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bfd, self.interval_ms, self.multiplier = bfd, interval_ms, multiplier

    def render(self) -> str:
        text = super().render()
        if not self.bfd:
            return text
        out, in_bgp, has_bfd = [], False, False
        for line in text.splitlines():
            if line.startswith("protocol bgp "):
                in_bgp, has_bfd = True, False
            elif in_bgp and line.strip() == "bfd on;":
                has_bfd = True
            elif in_bgp and line == "}":
                if not has_bfd:
                    out.append("    bfd on;")
                in_bgp = False
            out.append(line)
        if not re.search(r"^protocol bfd", text, re.M):
            out.append(bird_bfd_protocol(self.interval_ms, self.multiplier))
        return "\n".join(out) + "\n"

    # ---- reading (one birdc call for all sessions) -----------------------------------
    def bfd_sessions(self) -> dict[str, tuple[str, str, str]]:
        """`show bfd sessions`: {neighbor address: (state, since, interval)}."""
        sessions = {}
        for line in self.show("show bfd sessions").splitlines():
            m = re.match(r"^\s*([0-9a-fA-F.:]+)\s+(\S+)\s+(Up|Down|Init|AdminDown)\s+(.+?)\s+"
                         r"([\d.]+)\s+([\d.]+)\s*$", line)
            if m:
                sessions[m.group(1)] = (m.group(3), m.group(4), m.group(5))
        return sessions

    def bgp_states(self) -> dict[str, tuple[str, str]]:
        """`show protocols`: {BGP protocol name: (info column, since)}."""
        out = {}
        for line in self.show("show protocols").splitlines():
            f = line.split()
            if len(f) >= 7 and f[1] == "BGP":
                out[f[0]] = (f[6], " ".join(f[4:6]))
        return out

    def bfd_log_lines(self) -> list[str]:
        """BIRD's log lines about its BFD sessions (debug events): `Session to ADDR changed
        state from X to Y`, `… added`, `… removed` (a session re-created with its BGP one)."""
        return [line for line in self.log_text().splitlines()
                if re.search(r"bfd1: Session to \S+ (changed state|added|removed)", line)]


# ---- anycastd ---------------------------------------------------------------------------
@dataclass
class BfdAnycastdConfig(AnycastdConfig):
    """AnycastdConfig plus `bfd = BFD_TABLE` in every [[bgp.neighbor]] (None: no BFD)."""

    bfd_table: str | None = None

    def render(self, control_dir) -> str:  # type: ignore[override]
        text = super().render(control_dir)
        if not self.bfd_table:
            return text
        blocks = re.split(r"(?m)^(?=\[)", text)
        out = []
        for b in blocks:
            if b.startswith("[[bgp.neighbor]]") and not re.search(r"(?m)^bfd\s*=", b):
                head, _, rest = b.partition("\n")
                b = f"{head}\nbfd = {self.bfd_table}\n{rest}"
            out.append(b)
        return "".join(out)


def bfd_table(interval_ms: int = 50, multiplier: int = 3, strict: bool | None = None) -> str:
    s = f"{{ interval_ms = {interval_ms}, multiplier = {multiplier}"
    if strict is not None:
        s += f", strict = {'true' if strict else 'false'}"
    return s + " }"


def acd_neighbors(status: dict | None) -> list[dict]:
    return list((status or {}).get("neighbors") or [])


# ---- /proc ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcSample:
    ticks: int        # utime + stime, all threads (clock ticks)
    sched_ns: int     # sum over /proc/PID/task/*/schedstat's first field (ns on a CPU)
    rss_kb: int
    hwm_kb: int
    threads: int
    # per thread: (TID:comm, ns on a CPU, times it was scheduled in) from its schedstat
    per_thread_ns: tuple[tuple[str, int, int], ...] = ()


def proc_sample(pid: int) -> ProcSample:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    sched, per = 0, []
    tasks = os.listdir(f"/proc/{pid}/task")
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                ns, _wait, slices = (int(x) for x in f.read().split()[:3])
            with open(f"/proc/{pid}/task/{tid}/comm", encoding="utf-8", errors="replace") as f:
                comm = f.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        sched += ns
        per.append((f"{tid}:{comm}", ns, slices))
    mem = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                mem[k] = int(v.split()[0])
    return ProcSample(ticks, sched, mem.get("VmRSS", 0), mem.get("VmHWM", 0), len(tasks), tuple(sorted(per)))


def cpu_pct(a: ProcSample, b: ProcSample, seconds: float) -> tuple[float, float]:
    """(% of one core from clock ticks, % of one core from schedstat ns) between two samples."""
    return ((b.ticks - a.ticks) / CLK_TCK / seconds * 100, (b.sched_ns - a.sched_ns) / 1e9 / seconds * 100)


def per_thread_pct(a: ProcSample, b: ProcSample, seconds: float) -> str:
    """'comm X.XXX % (N runs/s, M µs a run), …' per thread alive at both samples (schedstat:
    CPU time and how often it was scheduled in, i.e. its wakeups), busiest first."""
    before = {t: (ns, n) for t, ns, n in a.per_thread_ns}
    rows = sorted(((ns - before[t][0]) / 1e9 / seconds * 100, (n - before[t][1]) / seconds,
                   (ns - before[t][0]) / 1e3 / max(n - before[t][1], 1), t.split(":", 1)[1])
                  for t, ns, n in b.per_thread_ns if t in before)
    return ", ".join(f"{comm} {pct:.3f} % ({runs:.0f} runs/s, {us:.0f} µs a run)"
                     for pct, runs, us, comm in reversed(rows))


def load() -> str:
    """`uptime` as the machine prints it (load averages of this shared 2-core box)."""
    return run(["uptime"], timeout=5).stdout.strip()


# ---- packet gaps ------------------------------------------------------------------------
@dataclass
class Gaps:
    packets: int
    max_ms: float
    p99_ms: float
    p50_ms: float
    min_ms: float
    over: int          # gaps above the bound (the negotiated interval)
    under: int         # gaps below 75 % of it (Poll/Final answers are sent at once: expected)
    over_detect: int   # gaps at or above the detection time (the peer would declare us down)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def gaps(times_us: list[int], start_us: int, end_us: int, interval_ms: float,
         detect_ms: float) -> Gaps:
    """Packets inside [start, end] (µs epoch times) and the gaps that end at one of them,
    the one from the last packet before `start` included (so no gap falls between windows)."""
    allt = sorted(times_us)
    t = [x for x in allt if start_us <= x <= end_us]
    before = [x for x in allt if x < start_us]
    g = [(b - a) / 1000 for a, b in zip(before[-1:] + t, t)]
    return Gaps(len(t), max(g, default=0.0), percentile(g, 99), percentile(g, 50), min(g, default=0.0),
                sum(x > interval_ms for x in g), sum(x < 0.75 * interval_ms for x in g),
                sum(x >= detect_ms for x in g))
