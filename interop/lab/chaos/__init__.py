"""The chaos suite (issue 12, item 6), a package: bounds.py (the timers, the per-fault bounds
and their derivation), observe.py (FIB monitor, path sampler, pings), run.py (the lab, the
faults, convergence), evaluate.py (the checker), report.py (the table and the results files).

Two nodes, each anycastd + keepalived (real VRRPv3 on
the node LAN), a router with BFD, a client pinging the anycast address every 10 ms, and a
seeded, bounded random sequence of faults, each followed by its recovery and a bounded wait
until the system has converged. A checker evaluates the HA invariant per fault: the route is
at the router iff some node is the healthy primary, it goes within a bound derived from the
configured timers when that stops, and two equally preferred paths are never there at once.

  client 198.51.100.10: ping -D -i 0.01 203.0.113.124 (bounded count, restarted per segment)
       │ client0
     rtr: BIRD 2 or FRR 8.4 (--router), AS 65000, BFD 50 ms × 3 with both nodes;
       │  `ip -ts monitor route` (exact FIB change times); path sampler (router's paths for
       │  203.0.113.124: peer, MED, AS path length, best; every ~25 ms, FRR: as fast as vtysh)
   nodea0 ──── br0 (node LAN; VRRP multicast) ──── nodeb0
     │                                               │
  nodea 192.0.2.11                               nodeb 192.0.2.12
  keepalived VRRPv3 vrid 124 prio 150, advert    keepalived prio 100; both nopreempt
  0.1 s; track_file (anycastd's track file);     anycastd: role keepalived, standby withdraw,
  vrrp_script `anycastd check --quiet` (1 s);    file check `flag` (100 ms, fall 1, rise 2),
  vrrp_notify_fifo → `anycastd notify-fifo`      BFD 50×3, preference 200 (nodea) / 100
  (when this anycastd has them; else notify)     (nodeb) → MED 55 / 155, vrid 124, boot id file

Faults (FAULT_KINDS; target = the MASTER or the BACKUP at the time, chosen by the seed):
  check       the node's flag file removed; recovery: restored
  kill        SIGKILL anycastd; recovery: started again (as systemd would)
  stop        SIGSTOP anycastd for ~1 s, then SIGCONT
  kakill      SIGKILL every keepalived process (by PID from its pid files); recovery: started
  vrrp-sym    VRRP (IP protocol 112) dropped arriving in both nodes (split brain); healed
  vrrp-asym   VRRP dropped arriving in the target only; healed
  link        the node's bridge port (nodeX0 in rtr) down; recovery: up
  router      the router restarted (SIGTERM, start)
  reload      `anycastd reload` with a changed check interval (100 ↔ 150 ms)
  drain       `anycastd drain 0`; recovery: `undrain`
  poweroff    the node's port down first (no FIN/RST reaches the router), every process of the
              node SIGKILLed by PID; boot: /run cleared (pid files, track file), a new boot id,
              port up, anycastd then keepalived started (the persisted role file stays)

Bounds (Timers.bounds; the derivation is in BOUNDS_DOC and the results file): per fault the
failing node's path gone (FIB monitor), the outage (longest client reply gap − 10 ms), and
zero overlap of two preferred paths (two paths with equal AS path length and MED, or two FIB
next hops). A fault that does not converge within its timeout is a violation too.

Every loop and wait is bounded (fault count, per-fault timeouts, a total budget); results
(table + raw event log) are written every 100 faults and at the end.
"""

from __future__ import annotations

from .bounds import FAULT_KINDS, Timers  # noqa: F401
from .run import Chaos, main, parse  # noqa: F401
