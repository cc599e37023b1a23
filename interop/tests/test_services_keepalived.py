"""A VRRP instance per service (issue 13): keepalived runs two instances on each node, dns's
MASTER on nodea and web's on nodeb, and anycastd follows each through keepalived's generic
`notify` hook (`anycastd notify INSTANCE VI_DNS MASTER 150`): each node advertises the service
it is MASTER for. dns's check failing on nodea moves only dns — through its own track file,
VI_DNS goes FAULT on nodea and MASTER on nodeb — while web stays on nodeb untouched. Runs
against every router.

     rtr: ROUTER, AS 65000, br0 192.0.2.1
       │ br0 (floods VRRP)
   nodea0 ─────┴───── nodeb0     <- tcpdump on nodeb0 (tcp port 179)
     │                  │
  nodea 192.0.2.11                      nodeb 192.0.2.12
  keepalived: VI_DNS vrid 53 prio 150,   VI_DNS prio 100, VI_WEB prio 150
              VI_WEB vrid 80 prio 100    (each tracking anycastd's track.<service>)
  anycastd: services dns 203.0.113.53/32 and web 203.0.113.80/32, each [service.role]
  keepalived with its instance, role.<service>, track.<service>; standby withdraw;
  file checks dns.ok / web.ok (100 ms, rise 1, fall 1)

Checks:
  1. dns's only path is nodea's, web's only path is nodeb's (VRRP elected, < 10 s)
  2. remove nodea's dns.ok: dns's only path becomes nodeb's (< 5 s); nodea's keepalived says
     VI_DNS FAULT; web's only path stays nodeb's in every sample; on nodeb0 no UPDATE from
     nodeb naming 203.0.113.80 after the failure
  3. restore dns.ok: VI_DNS preempts back, dns's only path is nodea's again (< 5 s)
  4. no ERROR in either anycastd log
"""

from __future__ import annotations

import time

import pytest

from lab import capture, plan
from lab.clock import ms, now_us, wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig
from lab.drivers.keepalived import Keepalived, KeepalivedConfig, VrrpInstance

NODEA, NODEB = plan.NODEA, plan.NODEB
DNS, WEB = "203.0.113.53/32", "203.0.113.80/32"
VIP = {"VI_DNS": ("192.0.2.53", 53), "VI_WEB": ("192.0.2.80", 80)}


def services(lab, node) -> str:
    d = lab.path(node.name)
    out = []
    for name, prefix in (("dns", DNS), ("web", WEB)):
        flag = lab.path(f"{node.name}-{name}.ok")
        flag.touch()
        out += ["[[service]]", f'name = "{name}"', f'prefixes = ["{prefix}"]', 'standby = "withdraw"',
                "[[service.check]]", 'name = "up"', 'type = "file"', f'path = "{flag}"',
                "interval_ms = 100", "rise = 1", "fall = 1",
                "[service.role]", 'source = "keepalived"', f'instance = "VI_{name.upper()}"',
                f'path = "{d / f"role.{name}"}"', f'track_file = "{d / f"track.{name}"}"',
                f'pidfile = "{d / "vrrp.pid"}"']
    return "\n".join(out)


@pytest.mark.router_config(nodes=(NODEA, NODEB))
@pytest.mark.timeout(150)
def test_a_vrrp_instance_per_service(lab, router, checks):
    acds, kas = {}, {}
    for node, (p_dns, p_web) in ((NODEA, (150, 100)), (NODEB, (100, 150))):
        acd = Anycastd(lab, AnycastdConfig(node, prefixes=(), extra=services(lab, node)))
        d = acd.dir
        inst = tuple(VrrpInstance(n, VIP[n][1], prio, VIP[n][0], d / f"track.{n[3:].lower()}")
                     for n, prio in (("VI_DNS", p_dns), ("VI_WEB", p_web)))
        acds[node.name], kas[node.name] = acd, Keepalived(lab, acd, KeepalivedConfig(0, instances=inst))
    a, b = acds["nodea"], acds["nodeb"]
    cap = capture.Capture.start(lab, NODEB.port, "nodeb.pcap")
    for acd in acds.values():
        acd.start()
    for ka in kas.values():
        ka.start()

    def only(prefix: str, node) -> bool:
        return [p.peer for p in router.paths(prefix)] == [node.addr4]

    checks.check("dns's only path via nodea, web's only path via nodeb (VRRP elected)",
                 wait_until(lambda: only(DNS, NODEA) and only(WEB, NODEB), 10, 0.05),
                 {p: router.paths(p) for p in (DNS, WEB)})
    st = {n: [(s.get("name"), s.get("role"), s.get("advertising")) for s in (acd.status() or {}).get("services", [])]
          for n, acd in acds.items()}
    checks.equal("status: each node primary for its instance's service only", st,
                 {"nodea": [("dns", "primary", [DNS]), ("web", "standby", [])],
                  "nodeb": [("dns", "standby", []), ("web", "primary", [WEB])]})
    time.sleep(0.5)

    t_fail = now_us()
    lab.path("nodea-dns.ok").unlink()
    web_moved = []
    moved = wait_until(lambda: web_moved.append(not only(WEB, NODEB)) or only(DNS, NODEB), 5, 0.05)
    checks.check("dns's only path via nodeb < 5 s after nodea's dns check failed (track file → VI_DNS FAULT)",
                 moved, f"{ms(now_us() - t_fail)} ms" if moved else router.paths(DNS))
    log = kas["nodea"].notify_log.read_text(errors="replace")
    checks.check("nodea's keepalived: VI_DNS FAULT", "INSTANCE VI_DNS FAULT" in log, log[-300:])
    for _ in range(10):
        web_moved.append(not only(WEB, NODEB))
        time.sleep(0.05)
    checks.equal("web's only path via nodeb in every sample through dns's failover", sum(web_moved), 0)

    lab.path("nodea-dns.ok").touch()
    checks.check("dns back on nodea < 5 s after its check recovered (VI_DNS preempts)",
                 wait_until(lambda: only(DNS, NODEA) and only(WEB, NODEB), 5, 0.05),
                 {p: router.paths(p) for p in (DNS, WEB)})
    time.sleep(0.3)
    cap.stop()
    ups = capture.tshark(cap.pcap, f"bgp.type == 2 && ip.src == {NODEB.addr4}", "frame.time_epoch",
                         "bgp.withdrawn_prefix", "bgp.nlri_prefix")
    web_named = [u for u in ups if float(u[0]) * 1e6 >= t_fail and "203.0.113.80" in "\t".join(u[1:])]
    checks.equal("on nodeb0: UPDATEs from nodeb naming 203.0.113.80 (web) after the failure", web_named, [])
    bad = [line for acd in acds.values() for line in acd.bad_lines(levels="ERROR")]
    checks.check("no ERROR in either anycastd log", not bad, bad[:2])
    checks.verify()
