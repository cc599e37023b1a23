"""What the chaos suite watches: rtr's FIB (`ip -ts monitor route`, exact times), the router's
paths (a bounded sampler thread), the client's pings (restarted before their count runs out),
read incrementally from their logs."""

from __future__ import annotations

import bisect
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import kernel, plan
from ..clock import now_us, parse_iso_us
from ..drivers.router import Router
from ..proc import Proc
from ..sampler import run_periodic
from ..topology import Lab

A4 = plan.ANYCAST4


class TailReader:
    """The new lines of a growing log file since the last call (bounded read per call)."""

    def __init__(self, path: Path) -> None:
        self.path, self.pos, self.rest = path, 0, ""

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "r", errors="replace") as f:
                f.seek(self.pos)
                data = f.read(64 << 20)
                self.pos = f.tell()
        except OSError:
            return []
        data = self.rest + data
        lines = data.split("\n")
        self.rest = lines.pop()
        return lines


class Pinger:
    """The client's ping (-D -i 0.01), restarted whenever its bounded count ran out; keeps
    the reply times (epoch µs)."""

    def __init__(self, lab: Lab, count: int) -> None:
        self.lab, self.count = lab, count
        self.replies: list[int] = []
        self.proc: Proc | None = None
        self.readers: list[TailReader] = []
        self.n = 0
        self.until = 0.0

    def ensure(self) -> None:
        """A new ping a minute before the current one's count runs out (they overlap, so the
        replies have no seam)."""
        if self.proc is None or not self.proc.alive() or time.monotonic() > self.until - 60:
            self.n += 1
            self.proc = self.lab.spawn("client", f"ping{self.n}", ["ping", "-D", "-n", "-i", "0.01", "-c",
                                                                  str(self.count), "-W", "1", A4],
                                       log_name=f"ping{self.n}.log")
            self.until = time.monotonic() + self.count * 0.01
            self.readers.append(TailReader(self.proc.log))

    def poll(self) -> None:
        new = []
        for r in self.readers:
            for line in r.new_lines():
                m = re.match(r"^\[(\d+)\.(\d+)\].*bytes from", line)
                if m:
                    new.append(int(m.group(1)) * 1_000_000 + int(m.group(2).ljust(6, "0")[:6]))
        self.replies += sorted(new)
        if len(self.replies) > len(new) > 0 and self.replies[-len(new) - 1] > self.replies[-len(new)]:
            self.replies.sort()  # two pings overlapped: keep the list ordered for bisect
        if len(self.readers) > 2:
            self.readers = self.readers[-2:]

    def between(self, t0: int, t1: int) -> list[int]:
        """Reply times in [t0, t1]."""
        r = self.replies
        return r[bisect.bisect_left(r, t0):bisect.bisect_right(r, t1)]

    def last_reply_us(self) -> int:
        self.poll()
        return self.replies[-1] if self.replies else 0

    def stop(self) -> None:
        if self.proc:
            self.lab.stop(self.proc, signal.SIGINT, 2)


class Fib:
    """rtr's FIB for `addr` (default 203.0.113.124) over time, from `ip -ts monitor route`
    (exact times); several Fibs may share one `monitor` (each reads its log on its own)."""

    def __init__(self, lab: Lab, addr: str = A4, monitor: kernel.RouteMonitor | None = None) -> None:
        self.addr = addr
        self.monitor = monitor or kernel.RouteMonitor.start(lab)
        self.reader = TailReader(self.monitor.proc.log)
        if monitor is None:
            time.sleep(0.2)  # the monitor listens before the initial state is read: no change falls between
        self.reader.new_lines()  # a shared monitor's earlier events: the state read next holds them
        self.timeline: list[tuple[int, tuple[str, ...]]] = [(now_us(), tuple(kernel.fib_nexthops(lab, addr)))]
        self._event: tuple[int, bool, list[str]] | None = None

    def poll(self) -> None:
        for line in self.reader.new_lines():
            m = re.match(r"^\[([^\]]+)\] ?(.*)$", line)
            if m:
                self._flush()
                us, text = parse_iso_us(m.group(1), local=True), m.group(2)
                deleted = text.startswith("Deleted ")
                text = text.removeprefix("Deleted ")
                if us is not None and (text.startswith(self.addr + " ") or text == self.addr):
                    self._event = (us, deleted, re.findall(r"via ([0-9.]+)", text))
            elif self._event and "nexthop" in line:
                self._event[2].extend(re.findall(r"via ([0-9.]+)", line))
        self._flush()

    def _flush(self) -> None:
        if not self._event:
            return
        us, deleted, hops = self._event
        self._event = None
        cur = self.timeline[-1][1]
        new = tuple(h for h in cur if h not in hops) if deleted else tuple(hops)
        self.timeline.append((us, new))

    def at(self, us: int) -> tuple[str, ...]:
        cur = self.timeline[0][1]
        for t, hops in self.timeline:
            if t > us:
                break
            cur = hops
        return cur

    def window(self, t0: int, t1: int) -> list[tuple[int, int, tuple[str, ...]]]:
        """(from, to, next hops) pieces covering [t0, t1]."""
        out, cur = [], self.at(t0)
        start = t0
        for t, hops in self.timeline:
            if t0 < t <= t1:
                out.append((start, t, cur))
                start, cur = t, hops
        out.append((start, t1, cur))
        return out


@dataclass(frozen=True)
class PathSample:
    t_us: int       # when the query began
    t_end_us: int   # when it answered (the paths were there at some time in between)
    paths: tuple[tuple[str, int, int, bool], ...]  # (peer, MED (-1 none), AS path length, best)


class PathSampler:
    """The router's paths for 203.0.113.124 every `interval` s (bounded by `count`)."""

    def __init__(self, router: Router, interval: float, count: int) -> None:
        self.router, self.interval, self.count = router, interval, count
        self.samples: list[PathSample] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        run_periodic(self._stop, self.count, self.interval, self._sample)

    def _sample(self) -> None:
        t = now_us()
        try:
            ps = self.router.paths(plan.PREFIX4)
        except Exception:  # the router is restarting
            ps = []
        self.samples.append(PathSample(t, now_us(), tuple((p.peer, -1 if p.med is None else p.med, len(p.as_path),
                                                           p.best) for p in ps)))

    def between(self, t0: int, t1: int) -> list[PathSample]:
        """The samples that began in [t0, t1] (they are in time order: bisected)."""
        s = self.samples[:]  # the thread only appends
        lo = bisect.bisect_left(s, t0, key=lambda x: x.t_us)
        hi = bisect.bisect_right(s, t1, lo=lo, key=lambda x: x.t_us)
        return s[lo:hi]

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)


def tied(sample: PathSample) -> bool:
    """Two paths at the router that are equally good (AS path length and MED): which one wins
    would be the router's tie-break (age, router id), not the nodes' preference."""
    keys = sorted((aslen, med) for _peer, med, aslen, _best in sample.paths)
    return len(keys) >= 2 and keys[0] == keys[1]


def wrong_best(sample: PathSample) -> bool:
    """The best path is not the most preferred one (shortest AS path, then lowest MED)."""
    if len(sample.paths) < 2:
        return False
    top = min((aslen, med) for _p, med, aslen, _b in sample.paths)
    return any(best and (aslen, med) != top for _p, med, aslen, best in sample.paths)
