"""Turning a lab capture into fixtures: the step timeline, the tool versions, the run of
interop/fixtures-extract.py (split, decode with bgpdecode.py, cross-check with tshark), the
review of its disagreements (only the spelling of an address, e.g. IPv4-mapped IPv6
"::ffff:c000:201" vs "::ffff:192.0.2.1", is tolerated) and the installation into
FIXTURES_OUT (fixtures with such a disagreement go to pending/, out of the suites' glob).
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .proc import run
from .topology import log

HERE = Path(__file__).resolve().parents[1]
PYTHON = "/usr/bin/python3"  # Debian's: a pyenv shim may shadow python3


class Timeline:
    """What was done when: each fixture's origin.step comes from here."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def step(self, text: str) -> None:
        t = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"
        log(f"STEP: {text}")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {text}\n")


def tools_file(path: Path, daemons: dict[str, str]) -> Path:
    lines = [f"{name}: {version}" for name, version in daemons.items()]
    lines += [f"tcpdump: {run(['tcpdump', '--version']).stdout.splitlines()[0]}",
              f"tshark: {run(['tshark', '--version']).stdout.splitlines()[0]}",
              f"kernel: {os.uname().release}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Extracted:
    ok: bool
    log: str
    messages: int  # messages fixtures-extract.py found from the source address


def extract(pcap: Path, out: Path, notes: dict[str, str], src: str, pcap_path: str, name_prefix: str,
            vendor: str, timeline: Path, tools: Path, command: str) -> Extracted:
    out.mkdir(parents=True, exist_ok=True)
    notes_file = out.parent / f"{name_prefix}-notes.json"
    notes_file.write_text(json.dumps(notes, indent=1))
    r = run([PYTHON, str(HERE / "fixtures-extract.py"), "--pcap", str(pcap), "--out", str(out),
             "--notes", str(notes_file), "--src", src, "--pcap-path", pcap_path, "--name-prefix", name_prefix,
             "--vendor", vendor, "--timeline", str(timeline), "--tools", str(tools), "--command", command],
            timeout=120)
    text = r.stdout + r.stderr
    m = re.search(r"\((\d+) messages from", text)
    return Extracted(r.returncode == 0, text, int(m.group(1)) if m else 0)


def _norm(values) -> list:
    out = []
    for v in values or []:
        try:
            out.append(str(ipaddress.ip_address(v)))
        except (ValueError, TypeError):
            out.append(v)
    return sorted(out)


def review(out: Path) -> tuple[bool, list[str]]:
    """Every tshark disagreement in `out`'s fixtures, and whether all are address spelling."""
    ok, lines = True, []
    for f in sorted(glob.glob(str(out / "*.json"))):
        d = json.loads(Path(f).read_text())
        for x in d.get("crosscheck", {}).get("disagrees", []):
            same = isinstance(x.get("ours"), list) and _norm(x["ours"]) == _norm(x.get("tshark"))
            ok &= same
            lines.append(f"{d['name']} {x['field']} {x.get('ours')} vs {x.get('tshark')} "
                         f"{'(same address)' if same else '(DIFFERENT)'}")
    return ok, lines


def install(src: Path, out: Path, extra: dict[str, Path]) -> None:
    """Fixtures to `out` (those with a disagreement to out/pending/), plus `extra` files
    (destination name -> source), all mode 0644."""
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.glob("*.json")):
        disagrees = json.loads(f.read_text()).get("crosscheck", {}).get("disagrees", [])
        dest = out / "pending" if disagrees else out
        dest.mkdir(exist_ok=True)
        shutil.copyfile(f, dest / f.name)
        (dest / f.name).chmod(0o644)
    for name, path in extra.items():
        shutil.copyfile(path, out / name)
        (out / name).chmod(0o644)
    log(f"fixtures, pcap and capture notes written to {out}")
