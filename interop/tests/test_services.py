"""Two anycast services on each node (issue 13): each fails over on its own. Runs against
every router.

     rtr: ROUTER, AS 65000, br0 192.0.2.1
       │ br0
   nodea0 ─────┴───── nodeb0     <- tcpdump on nodea0 (tcp port 179)
     │                  │
  nodea 192.0.2.11                 nodeb 192.0.2.12
  role static, standby withdraw    role file "standby"; both services standby prepend 3
  service dns 203.0.113.53/32:     service dns 203.0.113.53/32 (no checks)
    file check dns.ok (event, 1/1)
  service web 203.0.113.80/32:     service web 203.0.113.80/32 (no checks)
    exec check `test -f web.ok`
    (polled 100 ms, rise 1, fall 1)

Checks:
  1. both sessions Established; for each service prefix the best path via nodea and
     nodeb's prepended path present; nodea's status lists both services advertising
  2. remove dns.ok: dns's best path moves to nodeb < 1 s; web's stays on nodea in every
     sample; on the wire from nodea exactly one UPDATE after the failure, withdrawing
     203.0.113.53, and none naming 203.0.113.80 (neither withdrawn nor announced)
  3. restore dns.ok: dns back on nodea
  4. `anycastd drain --service web --seconds 0` on nodea: web moves to nodeb, dns stays on
     nodea; `undrain --service web`: web back; `drain --service nosuch` refused (exit 1)
  5. no ERROR in either log; no WARN but the checks' and the drain's
"""

from __future__ import annotations

import time

import pytest

from lab import capture, plan
from lab.clock import ms, now_us, wait_until
from lab.drivers.anycastd import Anycastd, AnycastdConfig

NODEA, NODEB = plan.NODEA, plan.NODEB
DNS, WEB = "203.0.113.53/32", "203.0.113.80/32"


def services(dns_check: str, web_check: str, standby: str) -> str:
    out = []
    for name, prefix, check in (("dns", DNS, dns_check), ("web", WEB, web_check)):
        out += ["[[service]]", f'name = "{name}"', f'prefixes = ["{prefix}"]', standby]
        if check:
            out += ["[[service.check]]", check]
    return "\n".join(out)


@pytest.mark.router_config(nodes=(NODEA, NODEB))
@pytest.mark.timeout(120)
def test_two_services_fail_over_on_their_own(lab, router, checks):
    dns_ok, web_ok = lab.path("dns.ok"), lab.path("web.ok")
    dns_ok.touch()
    web_ok.touch()
    a_extra = services(
        f'name = "unbound"\ntype = "file"\npath = "{dns_ok}"\ninterval_ms = 100\nrise = 1\nfall = 1',
        f'name = "nginx"\ntype = "exec"\ncommand = ["/usr/bin/test", "-f", "{web_ok}"]\n'
        "interval_ms = 100\nrise = 1\nfall = 1",
        'standby = "withdraw"')
    a = Anycastd(lab, AnycastdConfig(NODEA, prefixes=(), role="static", extra=a_extra))
    b = Anycastd(lab, AnycastdConfig(NODEB, prefixes=(), role="file", extra=services("", "", 'standby = "prepend"\nprepend = 3')))
    b.role_file.write_text("standby\n")
    cap = capture.Capture.start(lab, NODEA.port, "nodea.pcap")
    a.start()
    b.start()

    def best_via(prefix: str, node) -> bool:
        best = router.best(prefix)
        return bool(best) and best.peer == node.addr4

    checks.check("both sessions Established; dns and web best via nodea, nodeb's paths present",
                 wait_until(lambda: all(router.established(n.addr4) for n in plan.NODES)
                            and all(best_via(p, NODEA) and len(router.paths(p)) == 2 for p in (DNS, WEB)), 15),
                 {p: router.paths(p) for p in (DNS, WEB)})
    st = a.status() or {}
    checks.equal("nodea's status: services and what each advertises",
                 [(s.get("name"), s.get("advertising")) for s in st.get("services", [])],
                 [("dns", [DNS]), ("web", [WEB])])
    time.sleep(0.5)  # nothing in flight

    t_fail = now_us()
    dns_ok.unlink()
    web_moved = []
    moved = wait_until(lambda: (web_moved.append(not best_via(WEB, NODEA)) or best_via(DNS, NODEB)), 1, 0.02)
    checks.check("dns's best path moved to nodeb < 1 s after dns.ok was removed", moved,
                 f"{ms(now_us() - t_fail)} ms" if moved else router.paths(DNS))
    for _ in range(10):  # 0.5 s more of web's route
        web_moved.append(not best_via(WEB, NODEA))
        time.sleep(0.05)
    checks.equal("web's best path via nodea in every sample through dns's failover", sum(web_moved), 0)
    st = a.status() or {}
    checks.equal("nodea's status after: dns withdrawn, web advertising",
                 [(s.get("name"), s.get("advertising"), s.get("healthy")) for s in st.get("services", [])],
                 [("dns", [], False), ("web", [WEB], True)])

    dns_ok.touch()
    checks.check("dns back on nodea < 1 s after dns.ok came back", wait_until(lambda: best_via(DNS, NODEA), 1, 0.02))
    time.sleep(0.3)
    cap.stop()
    ups = capture.tshark(cap.pcap, f"bgp.type == 2 && ip.src == {NODEA.addr4}", "frame.time_epoch",
                         "bgp.withdrawn_prefix", "bgp.nlri_prefix")
    after = [u for u in ups if float(u[0]) * 1e6 >= t_fail]
    withdraw = [u for u in after if len(u) > 1 and "203.0.113.53" in u[1]]
    web_named = [u for u in after if "203.0.113.80" in "\t".join(u[1:])]
    checks.check("on the wire: dns's withdraw UPDATE from nodea after the failure", len(withdraw) == 1, after)
    checks.equal("on the wire: UPDATEs from nodea naming 203.0.113.80 (web) after the failure", web_named, [])
    checks.equal("on the wire: UPDATEs from nodea after the failure (dns withdraw, dns announce)", len(after), 2)
    if withdraw:
        t_log = a.first_us(r"withdrawing", t_fail)
        if t_log:
            checks.note(f"dns.ok removed → 'withdrawing' logged {ms(t_log - t_fail)} ms → wire "
                        f"{ms(int(float(withdraw[0][0]) * 1e6) - t_log)} ms")

    r = a.socket_cli("drain", "--service", "web", "--seconds", "0")
    checks.equal("drain --service web: exit status", r.returncode, 0)
    checks.check("web moved to nodea's standby peer (nodeb) after the drain, dns stays on nodea",
                 wait_until(lambda: best_via(WEB, NODEB), 2, 0.02) and best_via(DNS, NODEA),
                 {p: router.paths(p) for p in (DNS, WEB)})
    r = a.socket_cli("undrain", "--service", "web")
    checks.check("undrain --service web: web back on nodea", r.returncode == 0 and wait_until(lambda: best_via(WEB, NODEA), 2, 0.02))
    r = a.socket_cli("drain", "--service", "nosuch")
    checks.check("drain --service nosuch: refused (exit 1) naming the services", r.returncode == 1 and "dns, web" in r.stderr + r.stdout,
                 (r.returncode, r.stdout, r.stderr))
    bad = a.bad_lines(allow=r"check `unbound` unhealthy|drain") + b.bad_lines()
    checks.check("no ERROR in either anycastd log, no WARN but the check's", not bad, bad[:2])
    checks.verify()
