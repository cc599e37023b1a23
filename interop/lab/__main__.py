"""The lab's command line: `python3 -m lab COMMAND [ARGS]` (interop/ on sys.path), used by
the shell entry points interop/demo.sh and interop/bench-*.sh.

  demo                      the README's live failover demo
  bench-failover [ARGS]     anycastd vs ExaBGP + exabgp-healthcheck (--quick, --runs N, --med)
  bench-events [ARGS]       event-driven checks vs ExaBGP's polling, per kind of failure
                            (--quick, --runs N, --kinds file,process,systemd,address)
  bench-silent-death [ARGS] silent node death → router FIB via the backup, BFD vs hold timers vs
                            ExaBGP (--quick, --runs N, --router bird|frr, --configs ..., --faults ...,
                            --budget S, --out DIR)
  bench-full-table [ARGS]   full-table flood (--v4 N --v6 N --group N --timeout S --receivers ...
                            --feeder bird|frr|gobgp)
  bench-flap-soak [ARGS]    session flap soak (--flaps N --kinds ... --hold N --max-recovery S
                            --budget S --router bird|frr|gobgp)
  chaos [ARGS]              the chaos suite: seeded random faults on a keepalived pair, the HA
                            invariant checked per fault (--seed N --faults N --router bird|frr
                            --kinds ... --budget S --legacy --out DIR)
  bench-etcd [ARGS]         the etcd role (issue 14): faults against the election's leader, or --fleet
                            (--runs N --faults ... --fleet --role etcd|static --budget S --out FILE)
  roots                     build the Debian 13 roots of today's routers if missing (lab.roots;
                            minutes, once per machine), print their versions
  capture-bird-fixtures [OUT]  re-capture fixtures/lab/'s BIRD set (BIRD exporting to GoBGP)
  capture-ipv6-md5 [OUT]    re-capture fixtures/tcp-md5/ipv6-md5*.pcap* (tools/md5peer.py)
"""

from __future__ import annotations

import os
import sys

from . import deps
from .checks import Checks
from .topology import Lab, install_exit_cleanup


def with_lab(body) -> int:
    """Root check, packages, a lab whatever happens, checks → exit status."""
    if os.geteuid() != 0:
        print("must run as root (network namespaces)", file=sys.stderr)
        return 1
    deps.install()
    checks = Checks()
    with Lab() as lab:
        lab.up()
        rc = body(lab, checks)
    if checks.results:
        print(f"{sum(r.status == 'PASS' for r in checks.results)} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else (rc or 0)


def main(argv: list[str]) -> int:
    install_exit_cleanup()
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    if cmd == "demo":
        from .demo import demo
        return demo()
    if cmd == "bench-failover":
        from .bench import failover
        a = failover.parse(args)
        deps.install(deps.BINARIES | deps.EXABGP) if os.geteuid() == 0 else None
        return with_lab(lambda lab, _checks: failover.Bench(lab, a).run())
    if cmd == "bench-events":
        from .bench import events
        a = events.parse(args)
        deps.install(deps.BINARIES | deps.EXABGP) if os.geteuid() == 0 else None
        return with_lab(lambda lab, _checks: events.Bench(lab, a).run())
    if cmd == "bench-silent-death":
        from .bench import silent_death
        a = silent_death.parse(args)
        deps.install(deps.BINARIES | deps.EXABGP) if os.geteuid() == 0 else None
        return with_lab(lambda lab, _checks: silent_death.Bench(lab, a).run())
    if cmd == "bench-full-table":
        from .bench import full_table
        o = full_table.parse(args)
        if "exabgp" in o.receivers and os.geteuid() == 0:
            deps.install(deps.BINARIES | deps.EXABGP)
        return with_lab(lambda lab, checks: full_table.bench(lab, o, checks) and 0)
    if cmd == "bench-flap-soak":
        from .bench import flap_soak
        o = flap_soak.parse(args)
        return with_lab(lambda lab, checks: flap_soak.bench(lab, o, checks))
    if cmd == "chaos": from . import chaos; return chaos.main(args, with_lab)
    if cmd == "bench-etcd": from .bench import etcd; return etcd.main(args)
    if cmd == "bench-bfd-cpu": from .bench import bfd_cpu; return bfd_cpu.main(args, with_lab)
    if cmd == "bench-bfd-flood": from .bench import bfd_flood; return bfd_flood.main(args, with_lab)
    if cmd == "roots":
        from . import roots
        return roots.main()
    if cmd == "capture-ipv6-md5":
        from .fixtures import capture_ipv6_md5
        return with_lab(lambda lab, checks: capture_ipv6_md5(lab, checks, args[0] if args else None))
    if cmd == "capture-bird-fixtures":
        from .fixtures import capture_bird
        return with_lab(lambda lab, checks: capture_bird(lab, checks, args[0] if args else None))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
