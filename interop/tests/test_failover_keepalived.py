"""keepalived (VRRP) decides which node is primary; anycastd on each node follows it through
keepalived's notify hooks (`anycastd notify MASTER|BACKUP|FAULT|STOP`, [role] source =
"keepalived", standby withdraw): exactly one node advertises the anycast prefixes, the
MASTER. Runs against every router.

  client 198.51.100.10: ping -D -i 0.01 203.0.113.124 (bounded)
       │ client0
     rtr: ROUTER, AS 65000, br0 192.0.2.1      ip -ts monitor route; sampler (paths + FIB,
       │                                        every 50 ms)
   nodea0 ──── br0 (switch; floods VRRP multicast 224.0.0.18) ──── nodeb0   <- tcpdump
     │                                                                 │
  nodea 192.0.2.11                                               nodeb 192.0.2.12
  keepalived VRRPv3 vrid 124 prio 150                            keepalived prio 100
  VRRP address 192.0.2.124/24 on the MASTER's eth0, advert_int 0.5 s, preempt
  anycastd role keepalived (<node>/role), standby withdraw

Checks:
  1. both sessions Established, nothing advertised before keepalived reports (role unknown)
  2. keepalived on nodea → MASTER: the router's only paths (both families) are nodea's;
     keepalived on nodeb → BACKUP; status nodea 'primary 2', nodeb 'standby 0'; FIB via
     nodea (v4 and v6; N/A without a FIB); VRRP address on nodea
  3. keepalived on nodea stopped (SIGTERM by PID): notify STOP on nodea, MASTER on nodeb;
     the only paths are nodeb's (< 3 s), best 192.0.2.12 / 2001:db8:2::12; status nodea
     advertising nothing, nodeb 'primary 2'; nodea's log: withdrawing because keepalived STOP;
     FIB via nodeb; the VRRP address moved; no NOTIFICATION in the router's log so far
  4. anycastd on nodeb restarted while MASTER: its role file still says MASTER; back
     advertising (role from the persisted state)
  5. keepalived on nodea started again: it preempts, nodea advertises, nodeb withdraws;
     status nodea 'primary 2', nodeb 'standby 0'; FIB back via nodea
  6. the sampler (every 50 ms) never saw two paths for longer than the router's own withdraw
     lag (BIRD: never in two samples in a row); from the captures on both bridge ports both
     nodes announced at once < 50 ms (longest, ms printed); 6 announce/withdraw UPDATEs for
     203.0.113.124 in all; the client got replies before and after every move (gaps
     printed; N/A without a FIB); no ERROR in either anycastd log; both sessions Established
"""

from __future__ import annotations

import time

import pytest

from lab import capture, ha, kernel, plan, steps
from lab.clock import ms, now_us, wait_until

NODEA, NODEB = plan.NODEA, plan.NODEB
OVERLAP_MAX_MS = 50


@pytest.mark.router_config(nodes=(NODEA, NODEB))
@pytest.mark.timeout(150)
def test_failover_keepalived(lab, router, checks):
    a, b, ka_a, ka_b = ha.keepalived_pair(lab)
    caps = [capture.Capture.start(lab, n.port, f"{n.name}.pcap") for n in plan.NODES]
    a.start()
    b.start()
    fib = bool(router.fib_proto)

    def only(node) -> bool:
        return [p.peer for p in router.paths(plan.PREFIX4)] == [node.addr4] and \
            [p.peer for p in router.paths(plan.PREFIX6)] == [node.addr4]
    def fib_via(node) -> bool:
        return kernel.fib_nexthops(lab, plan.ANYCAST4) == [node.addr4] and \
            kernel.fib_nexthops(lab, plan.ANYCAST6) == [node.addr6]
    def best_hops() -> tuple:
        return tuple(getattr(router.best(p), "next_hop", None) for p in (plan.PREFIX4, plan.PREFIX6))

    checks.check("both sessions Established", wait_until(lambda: all(router.established(n.addr4) for n in plan.NODES), 10))
    time.sleep(0.3)
    checks.equal("before keepalived reports: RIB prefixes; status of nodea, nodeb",
                 (router.rib_count("ipv4"), router.rib_count("ipv6"), a.role_advertising(), b.role_advertising()),
                 (0, 0, "unknown 0", "unknown 0"))

    t0 = now_us()
    ka_a.start()
    up = wait_until(lambda: ka_a.state() == "MASTER" and only(NODEA), 6)
    checks.check("nodea MASTER and the router's only paths are nodea's", up,
                 f"{ms(now_us() - t0)} ms after keepalived started" if up else (ka_a.state(), router.paths(plan.PREFIX4)))
    ka_b.start()
    checks.check("nodeb BACKUP (notify hook)", wait_until(lambda: ka_b.state() == "BACKUP", 6), ka_b.state())
    time.sleep(0.3)
    checks.equal("status: nodea, nodeb", (a.role_advertising(), b.role_advertising()), ("primary 2", "standby 0"))
    checks.equal("best next hops (v4, v6)", best_hops(), (NODEA.addr4, NODEA.addr6))
    if fib:
        checks.check("FIB via nodea (v4 and v6)", wait_until(lambda: fib_via(NODEA), 1))
    else:
        checks.not_applicable("FIB via nodea", steps.no_fib(router))
    checks.check("VRRP address on nodea only", ka_a.has_vip() and not ka_b.has_vip())

    w = ha.watch(lab, router, samples=500, pings=1500)
    t_stop = now_us()
    ka_a.signal_stop()
    moved = wait_until(lambda: only(NODEB), 3, 0.02)
    checks.check("the router's only paths are nodeb's after SIGTERM to nodea's keepalived (polled)", moved,
                 f"{ms(now_us() - t_stop)} ms" if moved else (router.paths(plan.PREFIX4), ka_b.state()))
    ka_a.stop()  # reap it (keepalived takes ~1 s to exit)
    checks.equal("notify hooks: nodea, nodeb", (ka_a.state(), ka_b.state()), ("STOP", "MASTER"))
    checks.equal("best next hops (v4, v6)", best_hops(), (NODEB.addr4, NODEB.addr6))
    sa = a.role_advertising()
    checks.check("status: nodea not primary and advertising nothing, nodeb 'primary 2'",
                 sa != "primary 2" and sa.endswith(" 0") and b.role_advertising() == "primary 2", (sa, b.role_advertising()))
    checks.check("nodea's log: withdrawing because keepalived STOP", a.first_us(r"withdrawing .*keepalived STOP", t_stop),
                 a.first_line("withdrawing ", t_stop)[:140])
    checks.check("FIB via nodeb (v4, v6), VRRP address moved to nodeb",
                 wait_until(lambda: (fib_via(NODEB) or not fib) and ka_b.has_vip() and not ka_a.has_vip(), 2))
    t_wd_a, t_adv_b = a.first_us("withdrawing ", t_stop), b.first_us("advertising ", t_stop)
    t_ka_b = next((us for us, s in reversed(ka_b.states()) if s == "MASTER"), None)
    steps.router_quiet(checks, router)
    time.sleep(0.5)

    t_rs = now_us()
    b.stop()
    # its first line is the state (since issue 12 boot id and keepalived's pid follow)
    checks.equal("nodeb's role file after anycastd stopped: the state", b.role_file.read_text().split("\n", 1)[0], "MASTER")
    b.start()
    back = wait_until(lambda: only(NODEB) and b.role_advertising() == "primary 2", 8 + router.reconnect_delay_s)
    checks.check(f"restarted anycastd on nodeb advertises again (role from the persisted state; "
                 f"< {8 + router.reconnect_delay_s:.0f} s)", back,
                 f"{ms(now_us() - t_rs)} ms after the stop" if back else (b.role_advertising(), router.paths(plan.PREFIX4)))
    time.sleep(0.5)

    t_back = now_us()
    ka_a.start()
    pre = wait_until(lambda: only(NODEA) and ka_b.state() == "BACKUP", 6)
    checks.check("nodea MASTER again (preempt), nodeb BACKUP, the only paths nodea's", pre,
                 f"{ms(now_us() - t_back)} ms after keepalived started" if pre else (ka_a.state(), ka_b.state()))
    checks.check("status: nodea 'primary 2', nodeb 'standby 0'",
                 wait_until(lambda: (a.role_advertising(), b.role_advertising()) == ("primary 2", "standby 0"), 2))
    if fib:
        checks.check("FIB back via nodea", wait_until(lambda: fib_via(NODEA), 2))
    time.sleep(0.5)

    samples = w.stop(lab)
    for c in caps:
        c.stop()
    checks.note(f"sampler: {len(samples)} samples every {w.sampler.step_ms():.0f} ms; best/paths: {w.sampler.timeline()}")
    runs, run, start = [], 0, 0
    for s in samples:
        if s.paths > 1:
            start = s.t_us if run == 0 else start
            run += 1
            runs.append((run, s.t_us - start))
        else:
            run = 0
    longest = max(runs, default=(0, 0))
    span_ms = max((span for _, span in runs), default=0) / 1000
    checks.check(f"sampler: >= 50 samples; two paths for at most {router.withdraw_lag_ms} ms "
                 f"({router.kind}'s withdraw lag) at a time",
                 len(samples) >= 50 and span_ms <= router.withdraw_lag_ms,
                 f"{sum(s.paths > 1 for s in samples)} samples with two paths, longest run {longest[0]} "
                 f"spanning {span_ms:.0f} ms")
    events = capture.adv_events(caps[0].pcap, "nodea", plan.ANYCAST4) + capture.adv_events(caps[1].pcap, "nodeb", plan.ANYCAST4)
    for us, node, kind in sorted(events):
        checks.note(f"wire: {(us - t_stop) / 1000:+10.3f} ms {node} {'announce' if kind == 'A' else 'withdraw'}")
    ov = capture.overlap(events)
    checks.check(f"captures: both nodes announcing at once < {OVERLAP_MAX_MS} ms", ov.longest_us < OVERLAP_MAX_MS * 1000,
                 f"{ov.episodes} time(s), longest {ms(ov.longest_us)} ms")
    # a A (start), a W + b A (VRRP move), b A (restarted daemon; its Cease withdrew
    # implicitly), b W + a A (preempt)
    checks.equal("captures: announce/withdraw UPDATEs for 203.0.113.124", len(events), 6)
    times = kernel.reply_times(w.ping.log)
    gaps = [kernel.longest_gap(times, f, t) for f, t in ((t_stop - 500_000, t_rs), (t_rs - 200_000, t_back), (t_back - 200_000, 0))]
    if fib:
        checks.check("client: replies before and after every move (gaps measured)", all(gaps))
    else:
        checks.not_applicable("client: replies before and after every move", steps.no_fib(router))
    t_fib = w.monitor.route_us(plan.ANYCAST4, via=NODEB.addr4, since_us=t_stop)
    for label, t in (("keepalived a stopped → nodea 'withdrawing'", t_wd_a),
                     ("keepalived a stopped → nodeb notify MASTER", t_ka_b),
                     ("keepalived a stopped → nodeb 'advertising'", t_adv_b),
                     ("keepalived a stopped → rtr FIB via nodeb", t_fib)):
        if t:
            checks.note(f"{label:44} {ms(t - t_stop)} ms")
    for label, g in zip(("nodea → nodeb (VRRP)", "anycastd restart on nodeb", "nodeb → nodea (preempt)"), gaps):
        if g:
            checks.note(f"client outage, {label:28} {ms(g.gap_us)} ms (longest reply gap)")
    checks.note(f"both announcing at once: total {ms(ov.total_us)} ms in {ov.episodes} episode(s)")
    bad = a.bad_lines("ERROR") + b.bad_lines("ERROR")
    checks.check("no ERROR in either anycastd log", not bad, bad[:2])
    checks.check(f"{router.kind}: both sessions still Established", all(router.established(n.addr4) for n in plan.NODES))
    checks.verify()
