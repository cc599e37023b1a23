"""Time in the lab: epoch microseconds, bounded waits, and timestamp parsing.

Owns `wait_until` (the only way a scenario waits for a condition: a Python callable polled
until truthy or a deadline) and the parsers for the timestamps daemons and tools print.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Callable, TypeVar

T = TypeVar("T")


def now_us() -> int:
    """Wall-clock epoch microseconds (the same clock as tcpdump, ip monitor and the logs)."""
    return time.time_ns() // 1000


def ms(us: float) -> str:
    """Microseconds as milliseconds with 3 decimals."""
    return f"{us / 1000:.3f}"


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.1) -> T | None:
    """Poll `predicate` every `interval` s until it returns a truthy value (returned) or
    `timeout` s have passed (None). An exception in the predicate counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # a daemon not answering yet is "not yet", not an error
            value = None
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def stays_false(predicate: Callable[[], object], duration: float, interval: float = 0.1) -> bool:
    """True if `predicate` never became truthy during `duration` s."""
    return wait_until(predicate, duration, interval) is None


_ISO = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?")


def parse_iso_us(text: str, local: bool = False) -> int | None:
    """Epoch µs of an ISO 8601 / RFC 3339 timestamp at the start of `text`; no zone means UTC
    unless `local` (BIRD and `ip -ts monitor` print local time)."""
    m = _ISO.match(text.strip())
    if not m:
        return None
    date, clock, frac, zone = m.groups()
    base = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hh, mm = int(zone[1:3]), int(zone[-2:])
        base = base.replace(tzinfo=timezone.utc)
        epoch = base.timestamp() - sign * (hh * 3600 + mm * 60)
    elif zone == "Z" or not local:
        epoch = base.replace(tzinfo=timezone.utc).timestamp()
    else:
        epoch = base.timestamp()  # naive = local time
    frac_us = int((frac or "0").ljust(6, "0")[:6])
    return int(epoch) * 1_000_000 + frac_us
