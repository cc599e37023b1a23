"""Packet captures and what they hold: tcpdump started by PID (`--immediate-mode -U`, ready
once it says "listening on", stopped with SIGINT so the file is complete), and readers over
a pcap through tshark and tcpdump: frames matching a display filter, BGP payload bytes (for
`anycastd decode`), MD5 verdicts per segment (`tcpdump -M`), announce/withdraw events and
the time two nodes announced at once.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path

from .clock import wait_until
from .proc import Proc, run
from .topology import Lab


@dataclass
class Capture:
    """A running (or stopped) tcpdump writing `pcap`."""

    lab: Lab
    proc: Proc
    pcap: Path

    @classmethod
    def start(cls, lab: Lab, iface: str, name: str, bpf: str = "tcp port 179",
              role: str = "rtr", extra: tuple[str, ...] = ()) -> "Capture":
        pcap = lab.path(name)
        proc = lab.spawn(role, f"capture-{name}", ["tcpdump", "-i", iface, "--immediate-mode", "-U",
                                                   "-n", "-s", "0", *extra, "-w", str(pcap),
                                                   *bpf.split()])
        if not wait_until(lambda: "listening on" in proc.log_text() or not proc.alive(), 5) \
                or not proc.alive():
            lab.stop(proc)
            raise RuntimeError(f"tcpdump on {role}:{iface} did not start: {proc.log_text()[-300:]}")
        return cls(lab, proc, pcap)

    def stop(self) -> Path:
        if self.proc.alive():
            self.lab.stop(self.proc, signal.SIGINT, 3)
        return self.pcap


def tshark(pcap: Path, display_filter: str, *fields: str) -> list[list[str]]:
    """One row per frame matching the filter: the requested fields (tab separated by tshark)."""
    argv = ["tshark", "-n", "-r", str(pcap), "-Y", display_filter]
    if fields:
        argv += ["-T", "fields", *[a for f in fields for a in ("-e", f)]]
    out = run(argv, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def count(pcap: Path, display_filter: str) -> int:
    return len(tshark(pcap, display_filter))


def messages(pcap: Path, display_filter: str, bgp_type: int) -> int:
    """BGP messages of that type in the matching frames (a frame may carry several)."""
    return sum(row[0].split(",").count(str(bgp_type)) for row in tshark(pcap, display_filter, "bgp.type") if row)


def frame_times_us(pcap: Path, display_filter: str) -> list[int]:
    times = []
    for (t,) in (row[:1] for row in tshark(pcap, display_filter, "frame.time_epoch")):
        sec, _, frac = t.partition(".")
        times.append(int(sec) * 1_000_000 + int(frac.ljust(6, "0")[:6]))
    return times


def first_us(pcap: Path, display_filter: str, since_us: int = 0) -> int | None:
    return next((t for t in frame_times_us(pcap, display_filter) if t >= since_us), None)


def bgp_payload(pcap: Path, display_filter: str) -> bytes:
    """The TCP payloads of the matching frames, concatenated (whole BGP messages)."""
    hexes = [row[0] for row in tshark(pcap, display_filter, "tcp.payload") if row and row[0]]
    return bytes.fromhex("".join(hexes).replace(":", ""))


@dataclass
class Md5Verdicts:
    segments: int
    valid: int
    invalid: int
    ipv6: int

    @property
    def all_valid(self) -> bool:
        return self.segments > 0 and self.valid == self.segments and self.invalid == 0


def md5_verdicts(pcap: Path, key: str, bpf: str = "tcp port 179") -> Md5Verdicts:
    """tcpdump -M KEY -v: per port-179 segment 'md5 valid' / 'md5 (invalid)'."""
    out = run(["tcpdump", "-n", "-r", str(pcap), "-M", key, "-v", *bpf.split()], timeout=60).stdout
    # -v: IPv4 segments take two lines (the second has the addresses), IPv6 ones one line.
    segs = [line for line in out.splitlines() if re.search(r" > [0-9a-f.:]+: Flags \[", line)]
    return Md5Verdicts(len(segs), sum("md5 valid" in s for s in segs),
                       sum(bool(re.search(r"md5 +\(invalid\)", s)) for s in segs),
                       sum(bool(re.search(r" 2001:db8:[0-9a-f:]*\.\d+ > ", s)) for s in segs))


def adv_events(pcap: Path, node: str, prefix4: str) -> list[tuple[int, str, str]]:
    """(epoch µs, node, 'A' announce | 'W' withdraw) per UPDATE carrying the IPv4 prefix."""
    rows = tshark(pcap, f"bgp.type == 2 && (bgp.nlri_prefix == {prefix4} || "
                  f"bgp.withdrawn_prefix == {prefix4})",
                  "frame.time_epoch", "bgp.nlri_prefix", "bgp.withdrawn_prefix")
    events = []
    for row in rows:
        row += [""] * (3 - len(row))
        sec, _, frac = row[0].partition(".")
        us = int(sec) * 1_000_000 + int(frac.ljust(6, "0")[:6])
        if prefix4 in row[1].split(","):
            events.append((us, node, "A"))
        if prefix4 in row[2].split(","):
            events.append((us, node, "W"))
    return events


@dataclass
class Overlap:
    total_us: int
    longest_us: int
    episodes: int


def overlap(events: list[tuple[int, str, str]]) -> Overlap:
    """How long more than one node was announcing, from sorted announce/withdraw events."""
    on: dict[str, bool] = {}
    up = total = longest = episodes = start = 0
    for us, node, kind in sorted(events):
        was = up
        on[node] = kind == "A"
        up = sum(on.values())
        if was < 2 <= up:
            start = us
        if was >= 2 > up:
            d = us - start
            total, episodes, longest = total + d, episodes + 1, max(longest, d)
    return Overlap(total, longest, episodes)
