"""The lab topology: network namespaces, veths, the node-LAN bridge inside rtr, addresses,
routes and sysctls; unique names per run and cleanup on every exit path.

                      anycast 203.0.113.124/32, 2001:db8:124::1/128 on lo
      nodea (AS 65124)              nodeb (AS 65124)
      eth0 192.0.2.11               eth0 192.0.2.12
           2001:db8:2::11                2001:db8:2::12
        |                              |
  +-----|------------------------------|------------------------ rtr (AS 65000)
  |   nodea0 (bridge port)          nodeb0 (bridge port)       router id 192.0.2.1
  |     +------------ br0 -------------+   192.0.2.1/24, 2001:db8:2::1/64
  |                                         (node LAN: a switch inside rtr)
  |   client0 198.51.100.1/24, 2001:db8:100::1/64
  +-----|--------------------------------------------------------------------
        |
      eth0 198.51.100.10, 2001:db8:100::10                         client

Namespaces are PREFIX + role (rtr, nodea, nodeb, client). The prefix is `l<pid hex>-<n>-`
(process id and a per-process counter), so two runs, even two pytest processes at once, never
collide; interface names are local to their namespace (br0, nodea0, eth0 ...). MACs are fixed
(02:00:00:00:0x:yy) so link-local addresses are stable. IPv6: nodad, accept_dad=0,
accept_ra=0, keep_addr_on_down=1 everywhere. Owns: creating all of that, a lock per prefix,
removing a crashed run's leftovers (namespaces of a dead `l<pid>` run, or of the same prefix;
their processes stopped by PID from `ip netns pids`), and `close()` — idempotent, called on
normal exit, failure, exception, SIGINT/SIGTERM/SIGHUP (see `install_exit_cleanup`) and at
interpreter exit. Must not touch namespaces it did not name, nor end processes by name.
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from . import plan
from .clock import wait_until
from .proc import Argv, Proc, ProcessTable, alive, run, signal_and_wait

_COUNTER = itertools.count(1)
_OPEN: list["Lab"] = []
_STALE = re.compile(r"^l([0-9a-f]+)-\d+-")


def next_prefix() -> str:
    """A prefix no other live run uses: this process's PID and a counter."""
    return f"l{os.getpid():x}-{next(_COUNTER)}-"


def log(msg: str) -> None:
    """A timestamped line on stderr (the scenario's running commentary); under pytest-xdist
    the worker's name too (gw0, gw1: their lines interleave)."""
    t = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    print(f"[{stamp}{' ' + worker if worker else ''}] {msg}", file=sys.stderr, flush=True)


def namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], timeout=5).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def remove_namespace(ns: str) -> None:
    """Stop the processes inside `ns` (by PID, from `ip netns pids`), then delete it."""
    pids = [int(p) for p in run(["ip", "netns", "pids", ns], timeout=5).stdout.split()]
    for pid in pids:
        if pid != os.getpid() and not signal_and_wait(pid, signal.SIGTERM, 2):
            signal_and_wait(pid, signal.SIGKILL, 2)
    run(["ip", "netns", "del", ns], timeout=10)


def sweep_stale_runs() -> list[str]:
    """Remove the namespaces of lab runs (`l<pid>-…`) whose process no longer exists."""
    removed = []
    for ns in namespaces():
        m = _STALE.match(ns)
        if m and not alive(int(m.group(1), 16)):
            remove_namespace(ns)
            removed.append(ns)
    return removed


def install_exit_cleanup() -> None:
    """SIGTERM/SIGHUP raise SystemExit (so `finally` blocks and fixtures run, like Ctrl-C's
    KeyboardInterrupt); whatever lab is still open at interpreter exit is closed. Only from the
    main thread, the only one Python lets set handlers: a pytest-xdist worker (execnet runs it
    in another thread) keeps the default, and a worker killed so leaves its namespaces to the
    next lab's sweep of dead runs (`sweep_stale_runs`)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


@atexit.register
def _close_all() -> None:
    for lab in list(_OPEN):
        lab.close()


class Lab:
    """One lab run: its namespaces, run directory and processes."""

    def __init__(self, prefix: str | None = None, keep: bool | None = None) -> None:
        prefix = prefix or os.environ.get("LAB_PREFIX") or next_prefix()
        if not prefix.endswith("-"):
            prefix += "-"
        if not re.fullmatch(r"[a-z0-9-]{2,12}", prefix):
            raise ValueError(f"lab prefix {prefix!r}: 2-12 of [a-z0-9-]")
        self.prefix = prefix
        self.keep = os.environ.get("LAB_KEEP") == "1" if keep is None else keep
        self.dir = Path(tempfile.mkdtemp(prefix=f"{prefix}lab."))
        self.procs = ProcessTable()
        self.roles: list[str] = []
        self._lock_fd: int | None = None
        self._cleanups: list = []
        self.closed = False
        _OPEN.append(self)

    # ---- names and commands ----------------------------------------------------------
    def ns(self, role: str) -> str:
        return f"{self.prefix}{role}"

    def sh(self, role: str | None, *argv: str, timeout: float = 10,
           check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a command in `role`'s namespace (None: the host), bounded."""
        return run(argv, self.ns(role) if role else None, timeout=timeout, check=check)

    def out(self, role: str | None, *argv: str, timeout: float = 10) -> str:
        """stdout of `sh` (empty when it failed)."""
        r = self.sh(role, *argv, timeout=timeout)
        return r.stdout if r.returncode == 0 else ""

    def spawn(self, role: str | None, label: str, argv: Argv, log_name: str | None = None,
              env: dict[str, str] | None = None) -> Proc:
        """A tracked background process in `role`'s namespace; output to the run dir."""
        name = log_name or re.sub(r"[^A-Za-z0-9_.-]", "_", label) + ".log"
        return self.procs.spawn(label, argv, self.dir / name,
                                self.ns(role) if role else None, env)

    def stop(self, proc: Proc, sig: int = signal.SIGTERM, timeout: float = 3) -> int | None:
        return self.procs.stop(proc, sig, timeout)

    def path(self, name: str) -> Path:
        return self.dir / name

    def scratch_dir(self, name: str) -> Path:
        """A directory on tmpfs (/dev/shm) for data that must not wait on the disk (etcd's
        WAL: a slow fsync on this shared machine would look like a dead member), removed by
        close() like the run dir (kept with LAB_KEEP=1)."""
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else self.dir
        d = Path(tempfile.mkdtemp(prefix=f"{self.prefix}{name}.", dir=base))
        if not self.keep:
            self._cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
        return d

    # ---- building ----------------------------------------------------------------------
    def _lock(self) -> None:
        lockdir = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
        fd = os.open(lockdir / f"anycastd-lab-{self.prefix}lock", os.O_CREAT | os.O_RDWR, 0o600)
        deadline = time.monotonic() + 5
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise RuntimeError(f"another lab with prefix {self.prefix} is running")
                time.sleep(0.1)
        self._lock_fd = fd

    def init(self) -> None:
        """Lock the prefix and remove leftovers: this prefix's namespaces (a crashed run
        with the same prefix) and those of dead `l<pid>` runs."""
        if os.geteuid() != 0:
            raise PermissionError("the lab needs root (network namespaces)")
        self._lock()
        for ns in namespaces():
            if ns.startswith(self.prefix):
                log(f"removing stale namespace {ns} (previous run with prefix {self.prefix})")
                remove_namespace(ns)
        for ns in sweep_stale_runs():
            log(f"removed namespace {ns} of a dead lab run")
        for d in self.dir.parent.glob(f"{self.prefix}lab.*"):  # we hold the prefix's lock
            if d != self.dir and not self.keep:
                shutil.rmtree(d, ignore_errors=True)
        for d in Path("/dev/shm").glob(f"{self.prefix}*.*"):  # a crashed run's scratch_dir
            if d.is_dir() and not self.keep:
                shutil.rmtree(d, ignore_errors=True)

    def add_netns(self, role: str) -> str:
        """An empty namespace PREFIX+role (lo up, the lab's IPv6 sysctls) that close() removes."""
        ns = self.ns(role)
        run(["ip", "netns", "add", ns], check=True)
        self.roles.append(role)
        self.ip(role, "link set lo up")
        self._sysctl(role, *(f"net.ipv6.conf.{s}.{k}" for s in ("all", "default")
                             for k in ("accept_dad=0", "dad_transmits=0", "accept_ra=0",
                                       "keep_addr_on_down=1")))
        return ns

    def ip(self, role: str, *commands: str) -> None:
        """`ip -n NS -batch -` with one command per argument; raises on any failure."""
        r = run(["ip", "-n", self.ns(role), "-batch", "-"], input="\n".join(commands) + "\n")
        if r.returncode != 0:
            raise RuntimeError(f"ip -n {self.ns(role)}: {r.stderr.strip()}")

    def _sysctl(self, role: str, *settings: str) -> None:
        self.sh(role, "sysctl", "-q", "-w", *settings, check=True)

    def _iface_sysctls(self, role: str, ifname: str) -> None:
        self._sysctl(role, *(f"net.ipv6.conf.{ifname}.{k}" for k in
                             ("accept_dad=0", "accept_ra=0", "keep_addr_on_down=1")))

    def up(self, nodes: tuple[plan.Node, ...] = plan.NODES, hosts: tuple[plan.Node, ...] = ()) -> "Lab":
        """Build the topology drawn above — with `nodes` as the anycast nodes (default nodea,
        nodeb) and `hosts` as further namespaces on the node LAN without the anycast address
        (the etcd lab's members); raises if rtr cannot reach them in 5 s."""
        t0 = time.monotonic()
        self.init()
        for role in ("rtr", *(n.name for n in nodes + hosts), "client"):
            self.add_netns(role)
        rtr = self.ns
        self._sysctl("rtr", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        cmds = ["link add br0 address 02:00:00:00:01:01 type bridge stp_state 0 forward_delay 0"
                " mcast_snooping 0"]
        for n in nodes + hosts:
            cmds += [f"link add {n.port} address 02:00:00:00:01:{n.mac_id:02x} type veth peer name"
                     f" eth0 address 02:00:00:00:00:{n.mac_id:02x} netns {rtr(n.name)}",
                     f"link set {n.port} master br0", f"link set {n.port} up"]
        cmds += [f"link add client0 address 02:00:00:00:01:10 type veth peer name eth0 address"
                 f" 02:00:00:00:00:10 netns {rtr('client')}"]
        self.ip("rtr", *cmds)
        for role, ifname in ((*((n.name, "eth0") for n in nodes + hosts), ("client", "eth0"),
                              ("rtr", "br0"), ("rtr", "client0"))):
            self._iface_sysctls(role, ifname)
        self.ip("rtr", f"addr add {plan.RTR_LAN4}/24 dev br0",
                f"addr add {plan.RTR_LAN6}/64 dev br0 nodad",
                f"addr add {plan.RTR_CLIENT4}/24 dev client0",
                f"addr add {plan.RTR_CLIENT6}/64 dev client0 nodad",
                "link set br0 up", "link set client0 up")
        for n in nodes + hosts:
            anycast = [f"addr add {plan.ANYCAST4}/32 dev lo",
                       f"addr add {plan.ANYCAST6}/128 dev lo nodad"] if n in nodes else []
            self.ip(n.name, f"addr add {n.addr4}/24 dev eth0",
                    f"addr add {n.addr6}/64 dev eth0 nodad", "link set eth0 up", *anycast,
                    f"route add default via {plan.RTR_LAN4}", f"route add default via {plan.RTR_LAN6}")
        self.ip("client", f"addr add {plan.CLIENT4}/24 dev eth0",
                f"addr add {plan.CLIENT6}/64 dev eth0 nodad", "link set eth0 up",
                f"route add default via {plan.RTR_CLIENT4}",
                f"route add default via {plan.RTR_CLIENT6}")
        reach = [*(("rtr", n.addr4) for n in nodes + hosts), ("rtr", nodes[0].addr6),
                 ("client", plan.RTR_CLIENT4)]
        for role, addr in reach:
            if not wait_until(lambda: self.sh(role, "ping", "-c1", "-W1", "-q", addr).returncode == 0, 5):
                raise RuntimeError(f"topology: {role} cannot ping {addr}")
        log(f"topology up in {(time.monotonic() - t0) * 1000:.0f} ms: prefix {self.prefix}, dir {self.dir}")
        return self

    def relink_node(self, node: plan.Node) -> None:
        """After `ip link set eth0 up` in a node: the default routes the link-down flushed."""
        self.ip(node.name, f"route replace default via {plan.RTR_LAN4}",
                f"route replace default via {plan.RTR_LAN6}")

    def own_namespaces(self) -> list[str]:
        return [ns for ns in namespaces() if ns.startswith(self.prefix)]

    # ---- teardown ----------------------------------------------------------------------
    def close(self) -> None:
        """Stop every process (captures first, newest first), remove the namespaces and the
        run dir (kept with LAB_KEEP=1). Idempotent; safe on a half-built lab."""
        if self.closed:
            return
        self.closed = True
        try:
            self.procs.stop_all()
            for ns in self.own_namespaces():
                remove_namespace(ns)
        finally:
            for cleanup in self._cleanups:
                cleanup()
            if self.keep:
                log(f"kept lab dir {self.dir} (LAB_KEEP=1)")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            if self in _OPEN:
                _OPEN.remove(self)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

