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
import tempfile
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
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(notes, f, indent=1)
    notes_file = Path(f.name)
    r = run([PYTHON, str(HERE / "fixtures-extract.py"), "--pcap", str(pcap), "--out", str(out),
             "--notes", str(notes_file), "--src", src, "--pcap-path", pcap_path, "--name-prefix", name_prefix,
             "--vendor", vendor, "--timeline", str(timeline), "--tools", str(tools), "--command", command],
            timeout=120)
    notes_file.unlink(missing_ok=True)
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


BIRD_NOTES = {
    "open-": "BIRD's OPEN to an eBGP peer (hold time 9 from 'hold time 9'; BIRD offers GR helper, 4-octet AS, enhanced route refresh).",
    "keepalive-": "BIRD KEEPALIVE (every 'keepalive time 3' s); all of BIRD's KEEPALIVEs in the capture are identical, kept once.",
    "update-bird-lab-ipv4-": "Export filter fixture_out on static routes: MED 50, communities (65000,100) + NO_EXPORT, large (65000,1,2), ext (rt,65000,42); eBGP next hop self 192.0.2.1; AS_PATH 65000 prepended. Both prefixes share attributes and are packed in one UPDATE.",
    "update-bird-lab-mp-reach-ipv6-": "Same attributes over the IPv4 session (MP-BGP): MP_REACH_NLRI first, next hop length 32 = 'next hop address 2001:db8:2::1' + br0 link-local (fixed MAC 02:00:00:00:01:01). No NEXT_HOP attribute.",
    "update-bird-lab-end-of-rib-ipv4": "RFC 4724 End-of-RIB for IPv4 unicast: empty UPDATE (length 23), sent right after the initial IPv4 routes.",
    "update-bird-lab-end-of-rib-ipv6": "RFC 4724 End-of-RIB for IPv6 unicast: UPDATE with only an empty MP_UNREACH_NLRI.",
    "update-bird-lab-withdraw-": "After 'birdc disable fx4': both IPv4 prefixes in Withdrawn Routes, no attributes.",
    "update-bird-lab-mp-unreach-": "After 'birdc disable fx6': both IPv6 prefixes in MP_UNREACH_NLRI (flags O+E: BIRD sets Extended Length).",
    "route-refresh-": "'birdc reload in nodea': one ROUTE-REFRESH per negotiated family (normal, subtype 0; GoBGP did not offer enhanced route refresh).",
    "notification-": "'birdc disable nodea \"anycastd lab fixture: admin shutdown\"': Cease / Administrative Shutdown with an RFC 9003 Shutdown Communication.",
}


def capture_bird(lab, checks, out_dir: str | None) -> int:
    """Re-capture fixtures/lab/'s BIRD set: BIRD in rtr exports two IPv4 and two IPv6 static
    routes (MED, communities incl. NO_EXPORT, large and extended community) to gobgpd in
    nodea; then withdraws, `birdc reload in` (ROUTE-REFRESH), `birdc disable nodea "msg"`
    (NOTIFICATION); captured on nodea0, split and cross-checked by fixtures-extract.py."""
    from . import plan
    from .capture import Capture, count
    from .clock import wait_until
    from .drivers import ExportRoute, Neighbor, RouterConfig, make_router, router_config
    from .drivers.gobgp import GoBgp
    out = Path(out_dir or HERE.parent / "fixtures/lab").resolve()
    out.mkdir(parents=True, exist_ok=True)
    pcap_name, message = "bird-2.0.12-gobgp-session.pcap", "anycastd lab fixture: admin shutdown"
    timeline = Timeline(out / "capture-timeline.txt")
    exports = [ExportRoute(p, ext_communities=("rt:65000:42",)) for p in
               ("198.51.100.128/25", "203.0.113.0/25", "2001:db8:fe::/48", "2001:db8:ff:1::/64")]
    bird = make_router("bird", lab, router_config(md5=None, exports=exports))
    node = plan.NODEA
    speaker = GoBgp(lab, RouterConfig([Neighbor("rtr", plan.RTR_LAN4, node.addr4, plan.RTR_AS)], asn=plan.NODE_AS,
                                      router_id=node.addr4), role="nodea", local_addresses=[node.addr4], export_all=True)
    cap = Capture.start(lab, node.port, pcap_name)
    timeline.step("start BIRD (rtr) and gobgpd (nodea); BIRD connects after 'connect delay time 1'")
    bird.start()
    speaker.start()
    adj = lambda fam: speaker.adj_count(plan.RTR_LAN4, "in", fam)
    if not checks.check("session Established", wait_until(lambda: bird.established(node.addr4), 15)):
        return 1
    checks.check("nodea received 2 IPv4 + 2 IPv6 routes from BIRD", wait_until(lambda: (adj("ipv4"), adj("ipv6")) == (2, 2), 10))
    timeline.step("routes received by nodea; waiting for a periodic KEEPALIVE (keepalive 3 s)")
    time.sleep(3.5)
    timeline.step("birdc disable fx4 (IPv4 withdraw)")
    bird.birdc("disable", "fx4")
    checks.check("IPv4 withdraw reached nodea", wait_until(lambda: adj("ipv4") == 0, 5))
    timeline.step("birdc disable fx6 (IPv6 withdraw, MP_UNREACH)")
    bird.birdc("disable", "fx6")
    checks.check("IPv6 withdraw reached nodea", wait_until(lambda: adj("ipv6") == 0, 5))
    timeline.step("birdc reload in nodea (ROUTE-REFRESH)")
    checks.check("birdc reload in nodea", "reload" in bird.birdc("reload in", "nodea").stdout.lower())
    time.sleep(0.5)
    timeline.step(f'birdc disable nodea "{message}" (NOTIFICATION Cease)')
    bird.admin_down(node.addr4, message)
    checks.check("BIRD protocol nodea down after disable", wait_until(lambda: " down " in bird.show("show protocols", "nodea"), 5))
    time.sleep(0.5)
    pcap = cap.stop()
    timeline.step("capture stopped")
    tools = tools_file(out / "capture-tools.txt", {"bird": bird.version(), "gobgpd": speaker.version()})
    checks.check("pcap has BGP segments", count(pcap, "tcp.port == 179 && tcp.flags.push == 1") > 5)
    ex = extract(pcap, out, BIRD_NOTES, plan.RTR_LAN4, f"fixtures/lab/{pcap_name}", "bird-lab", "BIRD 2.0.12",
                 timeline.path, tools, "python3 -m lab capture-bird-fixtures (BIRD 2.0.12 in rtr exporting to gobgpd in "
                 "nodea; tcpdump -i nodea0 on rtr's bridge port)")
    print(ex.log)
    checks.check("fixtures extracted and cross-checked with tshark", ex.ok)
    for name, src in ((pcap_name, pcap), ("capture-bird.conf", bird.config_path), ("capture-gobgp.toml", speaker.conf)):
        shutil.copyfile(src, out / name)
        (out / name).chmod(0o644)
    return 0


def capture_ipv6_md5(lab, checks, out_dir: str | None) -> int:
    """fixtures/tcp-md5/ipv6-md5*.pcap*: one TCP-MD5 protected IPv6 connection between two
    namespaces of the lab (h1a [2001:db8:6::1] — veth — h1b [2001:db8:6::2], md5peer.py,
    key "anycast-lab-key"), captured four ways: Ethernet on the veth, `-i any` (SLL2),
    `-i any -y LINUX_SLL`, and snaplen 100 (SYN headers and BGP data cut: not verifiable);
    plus a pcapng copy (editcap) for the pcapng reader."""
    from .capture import Capture, md5_verdicts
    from .proc import run as run_cmd
    out = Path(out_dir or HERE.parent / "fixtures/tcp-md5").resolve()
    out.mkdir(parents=True, exist_ok=True)
    a, b = lab.add_netns("h1a"), lab.add_netns("h1b")
    run_cmd(["ip", "link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b], check=True)
    lab.ip("h1a", "addr add 2001:db8:6::1/64 dev va nodad", "link set va up")
    lab.ip("h1b", "addr add 2001:db8:6::2/64 dev vb nodad", "link set vb up")
    ways = {"ipv6-md5": ("vb", ()), "ipv6-md5-any": ("any", ()), "ipv6-md5-sll": ("any", ("-y", "LINUX_SLL")),
            "ipv6-md5-snap100": ("vb", ("-s", "100"))}
    caps = [Capture.start(lab, iface, f"{name}.pcap", role="h1b", extra=extra) for name, (iface, extra) in ways.items()]
    peer = str(HERE / "tools/md5peer.py")
    server = lab.spawn("h1b", "md5peer-server", ["timeout", "15", PYTHON, peer, "server", "2001:db8:6::2", "2001:db8:6::1",
                                                 "anycast-lab-key"])
    time.sleep(1)
    client = lab.sh("h1a", "timeout", "15", PYTHON, peer, "client", "2001:db8:6::1", "2001:db8:6::2", "anycast-lab-key",
                    timeout=20)
    checks.equal("md5peer client exit status", client.returncode, 0)
    checks.equal("md5peer server exit status", server.wait(15), 0)
    time.sleep(1)
    for cap, name in zip(caps, ways):
        shutil.copyfile(cap.stop(), out / f"{name}.pcap")
        v = md5_verdicts(out / f"{name}.pcap", "anycast-lab-key")
        log(f"{name}: {v.segments} segments, {v.valid} md5 valid, {v.invalid} invalid")
    checks.check("ipv6-md5.pcap: every segment md5 valid", md5_verdicts(out / "ipv6-md5.pcap", "anycast-lab-key").all_valid)
    checks.equal("editcap -F pcapng", run_cmd(["editcap", "-F", "pcapng", str(out / "ipv6-md5.pcap"),
                                                 str(out / "ipv6-md5.pcapng")]).returncode, 0)
    return 0
