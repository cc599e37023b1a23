"""An etcd v3 cluster in the lab (Debian 12's etcd-server 3.4): one member per namespace on
the node LAN, short raft timers (heartbeat 100 ms, election timeout 1000 ms: the shortest
lease TTL is then 2 s), the WAL on tmpfs; each member under a tracked PID, killed and
restarted by PID. Read through `etcdctl` run in rtr (which has an address on the node LAN):
the members' health, which one is the raft leader, and an election's leader as etcd itself
sees it (the oldest key under the election prefix, the rule of etcd's concurrency package).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from .. import plan
from ..clock import wait_until
from ..proc import Proc
from ..topology import Lab, log

HEARTBEAT_MS = 100
ELECTION_TIMEOUT_MS = 1000


def client_url(m: plan.Node) -> str:
    return f"http://{m.addr4}:{plan.ETCD_CLIENT_PORT}"


def peer_url(m: plan.Node) -> str:
    return f"http://{m.addr4}:{plan.ETCD_PEER_PORT}"


class EtcdCluster:
    """The members `members` (default plan.ETCD_MEMBERS), each in its own namespace."""

    def __init__(self, lab: Lab, members: tuple[plan.Node, ...] = plan.ETCD_MEMBERS) -> None:
        self.lab = lab
        self.members = members
        self.data = lab.scratch_dir("etcd")
        self.token = f"{lab.prefix}etcd"  # a cluster of this run only
        self.procs: dict[str, Proc] = {}

    @property
    def endpoints(self) -> list[str]:
        return [client_url(m) for m in self.members]

    def member(self, name: str) -> plan.Node:
        return next(m for m in self.members if m.name == name)

    def argv(self, m: plan.Node) -> list[str]:
        cluster = ",".join(f"{x.name}={peer_url(x)}" for x in self.members)
        return ["etcd", "--name", m.name, "--data-dir", str(self.data / m.name),
                "--listen-client-urls", client_url(m), "--advertise-client-urls", client_url(m),
                "--listen-peer-urls", peer_url(m), "--initial-advertise-peer-urls", peer_url(m),
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_TIMEOUT_MS),
                "--logger", "zap", "--log-outputs", "stderr"]

    # ---- life cycle ------------------------------------------------------------------
    def start_member(self, name: str) -> Proc:
        """Start (or, with its data dir from before, restart) one member."""
        m = self.member(name)
        proc = self.lab.spawn(m.name, f"etcd-{m.name}", self.argv(m), log_name=f"etcd-{m.name}.log")
        self.procs[name] = proc
        return proc

    def start(self, timeout: float = 20) -> None:
        """Every member; returns once every one answers healthy (raises otherwise)."""
        for m in self.members:
            self.start_member(m.name)
        if not wait_until(self.healthy, timeout, 0.2):
            raise RuntimeError(f"etcd cluster not healthy in {timeout} s: {self.health()}")
        log(f"etcd cluster up: {', '.join(self.endpoints)}; raft leader {self.raft_leader()}")

    def kill(self, name: str) -> None:
        """SIGKILL the member (by PID), reaped."""
        proc = self.procs.pop(name, None)
        if proc:
            self.lab.stop(proc, signal.SIGKILL, 3)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return bool(proc and proc.alive())

    def restart_dead(self) -> list[str]:
        """Start the members that are not running again; their names."""
        dead = [m.name for m in self.members if not self.alive(m.name)]
        for name in dead:
            self.start_member(name)
        return dead

    # ---- reading ---------------------------------------------------------------------
    def ctl(self, *args: str, endpoints: list[str] | None = None, timeout: float = 5):
        """`etcdctl` (v3 API) from rtr against `endpoints` (default: all)."""
        eps = ",".join(endpoints or self.endpoints)
        return self.lab.sh("rtr", "env", "ETCDCTL_API=3", "etcdctl", "--endpoints", eps,
                           "--dial-timeout", "1s", "--command-timeout", "2s", *args, timeout=timeout)

    def health(self) -> dict[str, bool]:
        """endpoint → healthy (`etcdctl endpoint health`, each member asked on its own)."""
        r = self.ctl("endpoint", "health", "-w", "json")
        out = {ep: False for ep in self.endpoints}
        try:
            for e in json.loads(r.stdout or "[]"):
                out[e.get("endpoint", "")] = bool(e.get("health"))
        except ValueError:
            pass
        return out

    def healthy(self) -> bool:
        return all(self.health().values())

    def statuses(self) -> dict[str, dict]:
        """member name → its `endpoint status` (member_id, leader, raft_term, ...) for the
        members that answer."""
        r = self.ctl("endpoint", "status", "-w", "json")
        by_url = {client_url(m): m.name for m in self.members}
        out = {}
        try:
            for e in json.loads(r.stdout or "[]"):
                st = e.get("Status") or {}
                out[by_url.get(e.get("Endpoint", ""), e.get("Endpoint", ""))] = {
                    "member_id": (st.get("header") or {}).get("member_id"), "leader": st.get("leader"),
                    "raft_term": st.get("raftTerm"), "revision": (st.get("header") or {}).get("revision")}
        except ValueError:
            pass
        return out

    def raft_leader(self) -> str | None:
        """The member the answering members agree is the raft leader (None: no agreement)."""
        st = self.statuses()
        leaders = {s["leader"] for s in st.values()}
        if len(leaders) != 1:
            return None
        lid = leaders.pop()
        return next((name for name, s in st.items() if s["member_id"] == lid), None)

    def election_leader(self, election: str) -> str | None:
        """The value of the oldest key under `election`/ (etcd's concurrency election: the
        campaigner whose key has the lowest create revision leads); None: no candidate."""
        r = self.ctl("get", election.rstrip("/") + "/", "--prefix", "--sort-by=CREATE", "--order=ASCEND",
                     "--limit=1", "--print-value-only")
        value = r.stdout.strip() if r.returncode == 0 else ""
        return value.splitlines()[0] if value else None

    def log_path(self, name: str) -> Path:
        return self.lab.path(f"etcd-{name}.log")
