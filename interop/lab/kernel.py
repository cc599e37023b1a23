"""What the kernels of the lab's namespaces say: SNMP counters, FIB routes, FIB-change
timestamps (`ip -ts monitor route`) and the client's pings (with the longest reply gap).

Owns reading them; never writes nstat's shared history (`nstat -asz`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .clock import parse_iso_us
from .proc import Proc
from .topology import Lab


def counter(lab: Lab, role: str, name: str) -> int:
    """Absolute value of a kernel counter (e.g. TcpExtTCPMD5Failure, IcmpInEchos) in `role`."""
    for line in lab.out(role, "nstat", "-asz", name).splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == name:
            return int(parts[1])
    return 0


def fib_routes(lab: Lab, proto: str, family: str = "ipv4", role: str = "rtr") -> list[str]:
    """`ip route show proto PROTO` lines (nhid and trailing blanks dropped). A multipath route
    with a single next hop (`P metric M` + `\tnexthop via A dev D weight 1`: FRR 10's zebra
    installs a route learnt twice with the same next hop so) reads as the plain route
    `P via A dev D metric M`; one with several next hops stays multipath."""
    out = lab.out(role, "ip", "-6" if family == "ipv6" else "-4", "route", "show", "proto", proto)
    routes: list[list[str]] = []
    for line in out.splitlines():
        if not line.strip():
            continue
        if line[0].isspace() and routes:
            routes[-1].append(line.strip())
        else:
            routes.append([re.sub(r" nhid \d+", "", line).rstrip()])
    lines = []
    for head, *hops in routes:
        m = re.fullmatch(r"nexthop (via \S+ dev \S+)(?: weight 1)?", hops[0]) if len(hops) == 1 else None
        if m:
            prefix, _, rest = head.partition(" ")
            head = f"{prefix} {m.group(1)} {rest}".rstrip()
            hops = []
        lines += [head, *("\t" + h for h in hops)]
    return lines


def fib_nexthops(lab: Lab, prefix: str, role: str = "rtr") -> list[str]:
    """Next hops of `prefix` in `role`'s FIB (any protocol), in kernel order."""
    fam = "-6" if ":" in prefix else "-4"
    out = lab.out(role, "ip", fam, "route", "show", prefix)
    return re.findall(r"via ([0-9a-f:.]+)", out)


@dataclass
class RouteMonitor:
    """`ip -ts monitor route` in a namespace; `first_us` finds the first matching change."""

    proc: Proc

    @classmethod
    def start(cls, lab: Lab, role: str = "rtr") -> "RouteMonitor":
        proc = lab.spawn(role, f"monitor-{role}", ["ip", "-ts", "monitor", "route"])
        return cls(proc)

    def lines(self) -> list[tuple[int, str]]:
        """(epoch µs, text) per event; `ip -ts` prints local time."""
        events = []
        for line in self.proc.log_text().splitlines():
            m = re.match(r"^\[([^\]]+)\] ?(.*)$", line)
            if m and (us := parse_iso_us(m.group(1), local=True)) is not None:
                events.append((us, m.group(2)))
        return events

    def first_us(self, regex: str, since_us: int = 0) -> int | None:
        for us, text in self.lines():
            if us >= since_us and re.search(regex, text):
                return us
        return None

    def route_us(self, addr: str, via: str | None = None, deleted: bool = False, since_us: int = 0) -> int | None:
        """When `addr`'s route (via `via`, if given) was first added — or deleted — since."""
        regex = ("^Deleted " if deleted else "^") + re.escape(addr) + " " + (f".*via {re.escape(via)} " if via else "")
        return self.first_us(regex, since_us)

    def count(self, regex: str, since_us: int = 0) -> int:
        return sum(1 for us, text in self.lines() if us >= since_us and re.search(regex, text))


@dataclass
class PingResult:
    sent: int
    received: int
    replies_from: int  # reply lines naming the destination
    text: str


def ping(lab: Lab, dst: str, count: int = 5, interval: float = 0.05,
         role: str = "client") -> PingResult:
    """A bounded ping from `role`; counts replies."""
    fam = "-6" if ":" in dst else "-4"
    r = lab.sh(role, "ping", fam, "-c", str(count), "-i", str(interval), "-W", "1", dst,
               timeout=count * interval + 10)
    text = r.stdout + r.stderr
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    sent, recv = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return PingResult(sent, recv, len(re.findall(rf"bytes from {re.escape(dst)}:", text)), text)


def background_ping(lab: Lab, dst: str, count: int, interval: float = 0.01) -> Proc:
    """`ping -D -i INTERVAL -c COUNT` in the client (bounded by the count; stop with SIGINT)."""
    return lab.spawn("client", f"ping-{dst}", ["ping", "-D", "-n", "-i", str(interval), "-c",
                                               str(count), "-W", "1", dst])


@dataclass
class Gap:
    gap_us: int
    after_us: int
    replies: int


def reply_times(log: Path | str) -> list[int]:
    text = Path(log).read_text(errors="replace") if isinstance(log, Path) else log
    out = []
    for m in re.finditer(r"^\[(\d+)\.(\d+)\].*bytes from", text, re.M):
        out.append(int(m.group(1)) * 1_000_000 + int(m.group(2).ljust(6, "0")[:6]))
    return out


def longest_gap(times: list[int], from_us: int = 0, to_us: int = 0) -> Gap | None:
    """The longest gap between consecutive replies inside [from, to] (to 0 = open)."""
    window = [t for t in times if t >= from_us and (to_us == 0 or t <= to_us)]
    if len(window) < 2:
        return None
    gap, after = max((b - a, a) for a, b in zip(window, window[1:]))
    return Gap(gap, after, len(window))
