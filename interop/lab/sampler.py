"""A bounded background sampler of the router's paths and rtr's FIB for one prefix: a thread
in the scenario's process, `count` samples `interval` s apart on a fixed schedule.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from . import kernel
from .clock import now_us
from .drivers.router import Router
from .topology import Lab


def run_periodic(stop: threading.Event, count: int, interval: float, tick: Callable[[], None]) -> None:
    """`tick()` at most `count` times, `interval` s apart on a fixed schedule, until `stop`
    is set; a tick that overran moves the schedule (no burst to catch up)."""
    start = time.monotonic()
    for i in range(count):
        if stop.is_set():
            return
        tick()
        left = start + (i + 1) * interval - time.monotonic()
        if left > 0:
            stop.wait(left)
        else:
            start = time.monotonic() - (i + 1) * interval


@dataclass(frozen=True)
class Sample:
    t_us: int
    paths: int
    best: int
    best_peer: str
    fib: tuple[str, ...]


@dataclass
class RouteSampler:
    lab: Lab
    router: Router
    prefix: str
    count: int
    interval: float = 0.05
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "RouteSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        run_periodic(self._stop, self.count, self.interval, self._sample)

    def _sample(self) -> None:
        t = now_us()
        paths = self.router.paths(self.prefix)
        best = [p for p in paths if p.best]
        fib = tuple(kernel.fib_nexthops(self.lab, self.prefix)) if self.router.fib_proto else ()
        self.samples.append(Sample(t, len(paths), len(best), best[0].peer if best else "-", fib))

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(10)
        return self.samples

    def step_ms(self) -> float:
        s = self.samples
        return (s[-1].t_us - s[0].t_us) / (len(s) - 1) / 1000 if len(s) > 1 else 0.0

    def timeline(self, label=lambda s: f"{s.best_peer}/{s.paths}") -> str:
        """Run-length view, e.g. '192.0.2.11/2×30 192.0.2.12/1×12'."""
        out: list[list] = []
        for s in self.samples:
            v = label(s)
            if out and out[-1][0] == v:
                out[-1][1] += 1
            else:
                out.append([v, 1])
        return " ".join(f"{v}×{n}" for v, n in out)

