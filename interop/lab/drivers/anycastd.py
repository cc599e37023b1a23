"""anycastd in a node namespace: its config (TOML) from `AnycastdConfig`, `anycastd run`
under a tracked PID, its log (ANSI codes stripped, RFC 3339 UTC timestamps), `status
--json`, `notify`, `decode`, `md5 verify` and `check-config`.

The binary ($ANYCASTD_BIN, default target/release/anycastd) is copied into the run dir once
per lab, so that a concurrent `cargo build` cannot swap it in the middle of a run. Every node
gets its own control socket and state dir under the run dir (two labs never share one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import plan
from ..clock import parse_iso_us, wait_until
from ..proc import Proc, run
from ..topology import Lab, log
from .router import Bfd

REPO = Path(__file__).resolve().parents[3]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def binary(lab: Lab) -> Path:
    """The lab's copy of $ANYCASTD_BIN (copied on first use); raises if it does not run."""
    copy = lab.path("anycastd")
    if not copy.exists():
        src = Path(os.environ.get("ANYCASTD_BIN") or REPO / "target/release/anycastd")
        if not os.access(src, os.X_OK):
            raise FileNotFoundError(f"anycastd binary {src} missing: cargo build --release --bin "
                                    "anycastd (or set ANYCASTD_BIN)")
        shutil.copy2(src, copy)
        if run([str(copy), "--version"]).returncode != 0:
            raise RuntimeError(f"{src} --version failed")
    return copy


@dataclass
class FileCheck:
    """A [[health.check]] of type file."""

    name: str
    path: Path
    interval_ms: int = 100
    rise: int = 2
    fall: int = 1
    timeout_ms: int | None = None

    def render(self) -> list[str]:
        """The check's `[[health.check]]` table."""
        return ["", "[[health.check]]", f'name = "{self.name}"', *self.kind_lines(),
                f"interval_ms = {self.interval_ms}", f"rise = {self.rise}", f"fall = {self.fall}",
                *([f"timeout_ms = {self.timeout_ms}"] if self.timeout_ms is not None else [])]

    def kind_lines(self) -> list[str]:
        return ['type = "file"', f'path = "{self.path}"']


@dataclass
class ProcessCheck(FileCheck):
    """type = "process": `path` is the pidfile, or `pattern` (+ `full`) instead."""

    path: Path | None = None
    pattern: str | None = None
    full: bool = False

    def kind_lines(self) -> list[str]:
        if self.pattern is not None:
            return ['type = "process"', f"pattern = {toml_str(self.pattern)}",
                    *(["full = true"] if self.full else [])]
        return ['type = "process"', f'pidfile = "{self.path}"']


@dataclass
class AddressCheck(FileCheck):
    """type = "address": `address` present on `interface` (anycastd's default: [anycast] interface)."""

    path: Path | None = None
    address: str = plan.ANYCAST4
    interface: str | None = None

    def kind_lines(self) -> list[str]:
        return ['type = "address"', f'address = "{self.address}"',
                *([f'interface = "{self.interface}"'] if self.interface else [])]


@dataclass
class SystemdCheck(FileCheck):
    """type = "systemd": `unit` active (the bus from DBUS_SYSTEM_BUS_ADDRESS in anycastd's env)."""

    path: Path | None = None
    unit: str = "svc.service"

    def kind_lines(self) -> list[str]:
        return ['type = "systemd"', f"unit = {toml_str(self.unit)}"]


def toml_str(s: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML ones)."""
    return json.dumps(s)


@dataclass(frozen=True)
class ExtraNeighbor:
    """A further [[bgp.neighbor]] with its own local address (a second uplink, say)."""

    remote_ip: str
    remote_as: int
    local_ip: str
    md5: str | None = None
    passive: bool = False


@dataclass(frozen=True)
class EtcdRole:
    """`[role]` / `[service.role]` with `source = "etcd"` (an election) or `"etcd-key"`
    (primary while `key` holds `value`): the keys after `source`."""

    endpoints: tuple[str, ...]
    election: str = "/anycastd/dns"
    candidate: str | None = None      # anycastd's default: the router id
    lease_ttl_ms: int = 3000
    fence_margin_ms: int = 500
    key: str | None = None            # etcd-key only
    value: str | None = None

    @property
    def source(self) -> str:
        return "etcd-key" if self.key is not None else "etcd"

    def lines(self) -> list[str]:
        out = [f'source = "{self.source}"', "endpoints = [" + ", ".join(toml_str(e) for e in self.endpoints) + "]"]
        if self.key is not None:
            out += [f"key = {toml_str(self.key)}", f"value = {toml_str(self.value or '')}"]
        else:
            out.append(f"election = {toml_str(self.election)}")
            if self.candidate:
                out.append(f"candidate = {toml_str(self.candidate)}")
        return out + [f"lease_ttl_ms = {self.lease_ttl_ms}", f"fence_margin_ms = {self.fence_margin_ms}"]


def service_block(name: str, prefixes: tuple[str, ...], etcd: EtcdRole | None = None,
                  standby: str = "withdraw") -> str:
    """One `[[service]]` table (issue 13), with its own `[service.role]` when `etcd` is set."""
    lines = ["[[service]]", f"name = {toml_str(name)}",
             "prefixes = [" + ", ".join(toml_str(p) for p in prefixes) + "]", f'standby = "{standby}"']
    if etcd:
        lines += ["[service.role]", *etcd.lines()]
    return "\n".join(lines) + "\n"


@dataclass
class AnycastdConfig:
    """anycastd's config for one node: one neighbor (the router over IPv4), optionally a
    second over IPv6 transport, then any `extra_neighbors` (each with its own local_ip);
    IPv6 prefixes ride the IPv4 session with next_hop_ipv6."""

    node: plan.Node
    md5: str | None = plan.MD5_KEY
    hold: int = 9
    connect_retry: int = 2
    v6_session: bool = False          # a neighbor 2001:db8:2::1 over IPv6 transport
    v6_md5: str | None = plan.MD5_KEY  # its key
    prefixes: tuple[str, ...] = (plan.PREFIX4, plan.PREFIX6)
    med: int | None = None            # the neighbor's MED
    standby: str | None = None        # withdraw | prepend
    prepend: int | None = None
    standby_med: int | None = None
    manage_loopback: bool = False     # anycastd adds (and keeps) the prefixes on `interface`
    interface: str | None = None      # [anycast] interface (anycastd's default: lo)
    role: str | None = None           # static | file | keepalived | etcd (the keys: `etcd`)
    role_path: Path | None = None
    etcd: EtcdRole | None = None      # [role] source = "etcd"/"etcd-key" and its keys (issue 14)
    checks: list[FileCheck] = field(default_factory=list)
    extra_neighbors: tuple[ExtraNeighbor, ...] = ()  # after the router's session(s)
    bfd: Bfd | None = None            # `bfd = { … }` on the router's IPv4 session
    bfd_strict: bool | None = None    # its `strict` (None: anycastd's default, true)
    bfd_key_file: Path | None = None  # the key in a file (0600) instead of `key`
    # issue 12 ([role] keepalived keys; with role keepalived, track_file and pidfile default to
    # the node dir's `track` and `vrrp.pid` (the keepalived driver's -r), never the host's /run)
    track_file: Path | None = None
    track_weight: int | None = None
    pidfile: Path | None = None
    grace_ms: int | None = None
    vrid: int | None = None           # [role] vrid: "split brain suspected" watch
    preference: int | None = None     # [anycast] preference (0-255, higher preferred)
    preference_via: str | None = None  # med | as-path | both
    boot_id: bool = False             # ANYCASTD_BOOT_ID_FILE = the node dir's boot_id (simulated boots)
    env: dict[str, str] = field(default_factory=dict)  # more environment (DBUS_SYSTEM_BUS_ADDRESS, say)
    issue12_keys: bool = True         # False: none of the keys above (a build from before them)
    extra: str = ""                   # TOML appended as is (e.g. [[service]] tables, issue 13)

    def render(self, control_dir: Path) -> str:
        n = self.node
        for key in (self.md5, self.v6_md5, *(x.md5 for x in self.extra_neighbors)):
            if key and any(c in key for c in '"\\'):
                raise ValueError("MD5 keys must not contain quotes or backslashes")
        lines = ["# Generated by interop/lab/drivers/anycastd.py.", "[bgp]",
                 f"local_as = {plan.NODE_AS}", f'router_id = "{n.addr4}"', f'local_ip = "{n.addr4}"',
                 f"hold_time = {self.hold}", f"connect_retry = {self.connect_retry}",
                 f'next_hop_ipv6 = "{n.addr6}"']
        if self.v6_session:
            lines.append(f'next_hop_ipv4 = "{n.addr4}"')
        lines += ["", "[[bgp.neighbor]]", f'remote_ip = "{plan.RTR_LAN4}"', f"remote_as = {plan.RTR_AS}"]
        if self.md5:
            lines.append(f'md5 = "{self.md5}"')
        if self.med is not None:
            lines.append(f"med = {self.med}")
        if self.bfd:
            lines.append(self.bfd_line())
        if self.v6_session:
            lines += ["", "[[bgp.neighbor]]", f'remote_ip = "{plan.RTR_LAN6}"',
                      f"remote_as = {plan.RTR_AS}", f'local_ip = "{n.addr6}"']
            if self.v6_md5:
                lines.append(f'md5 = "{self.v6_md5}"')
        for x in self.extra_neighbors:
            lines += ["", "[[bgp.neighbor]]", f'remote_ip = "{x.remote_ip}"', f"remote_as = {x.remote_as}",
                      f'local_ip = "{x.local_ip}"']
            if x.md5:
                lines.append(f'md5 = "{x.md5}"')
            if x.passive:
                lines.append("passive = true")
        lines += ["", "[anycast]", "prefixes = [" + ", ".join(f'"{p}"' for p in self.prefixes) + "]"]
        if self.standby:
            lines.append(f'standby = "{self.standby}"')
        if self.prepend is not None:
            lines.append(f"prepend = {self.prepend}")
        if self.standby_med is not None:
            lines.append(f"standby_med = {self.standby_med}")
        if self.manage_loopback:
            lines.append("manage_loopback = true")
        if self.interface is not None:
            lines.append(f'interface = "{self.interface}"')
        if self.preference is not None and self.issue12_keys:
            lines.append(f"preference = {self.preference}")
        if self.preference_via is not None and self.issue12_keys:
            lines.append(f'preference_via = "{self.preference_via}"')
        if self.etcd:
            lines += ["", "[role]", *self.etcd.lines()]
        elif self.role:
            lines += ["", "[role]", f'source = "{self.role}"']
            if self.role != "static":
                lines.append(f'path = "{self.role_path or control_dir / "role"}"')
            if self.role == "keepalived" and self.issue12_keys:
                lines += [f'track_file = "{self.track_file or control_dir / "track"}"',
                          f'pidfile = "{self.pidfile or control_dir / "vrrp.pid"}"']
                lines += [f"{k} = {v}" for k, v in (("track_weight", self.track_weight),
                          ("grace_ms", self.grace_ms), ("vrid", self.vrid)) if v is not None]
        for c in self.checks:
            lines += c.render()
        lines += ["", "[control]", f'socket = "{control_dir / "anycastd.sock"}"',
                  f'state_dir = "{control_dir / "state"}"']
        if self.extra:
            lines += ["", self.extra.strip()]
        return "\n".join(lines) + "\n"


    def bfd_line(self) -> str:
        """The neighbor's `bfd = { … }` inline table."""
        b = self.bfd
        items = [f"interval_ms = {b.interval_ms}", f"multiplier = {b.multiplier}"]
        if b.auth:
            items += [f'auth = "{b.auth}"', f"key_id = {b.key_id}"]
            items.append(f'key_file = "{self.bfd_key_file}"' if self.bfd_key_file else f'key = "{b.key}"')
        if self.bfd_strict is not None:
            items.append(f"strict = {'true' if self.bfd_strict else 'false'}")
        return "bfd = { " + ", ".join(items) + " }"


class Anycastd:
    """One anycastd daemon in `config.node`'s namespace."""

    def __init__(self, lab: Lab, config: AnycastdConfig, conf_name: str | None = None) -> None:
        self.lab = lab
        self.config = config
        self.bin = binary(lab)
        self.node = config.node
        self.dir = lab.path(self.node.name)
        (self.dir / "state").mkdir(parents=True, exist_ok=True)
        self.conf = lab.path(conf_name or f"anycastd-{self.node.name}.toml")
        self.log_path = lab.path(f"anycastd-{self.node.name}.log")
        self.proc: Proc | None = None

    @property
    def role_file(self) -> Path:
        return self.config.role_path or self.dir / "role"

    @property
    def track_file(self) -> Path:
        return self.config.track_file or self.dir / "track"

    @property
    def boot_id_file(self) -> Path:
        """The simulated boot's id (ANYCASTD_BOOT_ID_FILE), when `config.boot_id`."""
        return self.dir / "boot_id"

    @property
    def env(self) -> dict[str, str]:
        """The environment of this node's anycastd processes (daemon, CLI, keepalived's hooks)."""
        boot = {"ANYCASTD_BOOT_ID_FILE": str(self.boot_id_file)} if self.config.boot_id else {}
        return {**self.config.env, **boot}

    def new_boot(self) -> str:
        """A simulated boot: a new boot id in `boot_id_file`."""
        boot = str(uuid.uuid4())
        self.boot_id_file.write_text(boot + "\n")
        return boot

    # ---- life cycle ------------------------------------------------------------------
    def write_config(self) -> Path:
        self.conf.write_text(self.config.render(self.dir))
        self.conf.chmod(0o600)  # it holds a key
        return self.conf

    def start(self) -> Proc:
        """`anycastd run`; returns once the log says 'anycastd running' (<= 5 s)."""
        self.write_config()
        if self.config.boot_id and not self.boot_id_file.exists():
            self.new_boot()
        before = self.count("anycastd running")
        self.proc = self.lab.spawn(self.node.name, f"anycastd-{self.node.name}",
                                   [str(self.bin), "run", "--config", str(self.conf)],
                                   log_name=self.log_path.name, env=self.env)
        proc = self.proc
        if not wait_until(lambda: self.count("anycastd running") > before or not proc.alive(), 5) \
                or not proc.alive():
            raise RuntimeError(f"anycastd in {self.node.name} did not start: {self.log()[-600:]}")
        log(f"anycastd up in {self.node.name} (pid {proc.pid}, config {self.conf.name})")
        return proc

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if not self.proc:
            return None
        rc = self.lab.stop(self.proc, sig, 3)
        return rc

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def alive(self) -> bool:
        return bool(self.proc and self.proc.alive())

    # ---- the log ---------------------------------------------------------------------
    def log(self) -> str:
        try:
            return _ANSI.sub("", self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def lines(self, regex: str = "", since_us: int = 0) -> list[tuple[int, str]]:
        """(epoch µs, text without the timestamp) of log lines matching `regex`."""
        out = []
        for line in self.log().splitlines():
            if regex and not re.search(regex, line):
                continue
            us = parse_iso_us(line.split(" ", 1)[0])
            if us is not None and us >= since_us:
                out.append((us, line.split(" ", 1)[1].strip() if " " in line else ""))
        return out

    def count(self, regex: str) -> int:
        return sum(1 for line in self.log().splitlines() if re.search(regex, line))

    def has(self, regex: str) -> bool:
        return self.count(regex) > 0

    def first_us(self, regex: str, since_us: int = 0) -> int | None:
        found = self.lines(regex, since_us)
        return found[0][0] if found else None

    def first_line(self, regex: str, since_us: int = 0) -> str:
        found = self.lines(regex, since_us)
        return found[0][1] if found else ""

    def bad_lines(self, levels: str = "WARN|ERROR", allow: str | None = None) -> list[str]:
        """WARN/ERROR lines, except those matching `allow`."""
        return [line for line in self.log().splitlines() if re.search(rf" ({levels}) ", line)
                and not (allow and re.search(allow, line))]

    # ---- the CLI ---------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 5):
        return run([str(self.bin), *args], timeout=timeout, env=self.env or None)

    def socket_cli(self, *args: str, timeout: float = 5):
        """A client command addressed by `--socket` (does not read the config file)."""
        return self.cli(*args, "--socket", str(self.socket), timeout=timeout)

    @property
    def socket(self) -> Path:
        return self.dir / "anycastd.sock"

    def status(self) -> dict | None:
        r = self.cli("status", "--json", "--config", str(self.conf))
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def neighbor_status(self, remote_ip: str = plan.RTR_LAN4) -> dict | None:
        """`status --json`'s entry for the neighbor `remote_ip`."""
        st = self.status() or {}
        return next((n for n in st.get("neighbors") or [] if n.get("remote_ip") == remote_ip), None)

    def bfd_status(self, remote_ip: str = plan.RTR_LAN4) -> dict | None:
        """The neighbor's `bfd` object of `status --json` (None: no BFD, or no answer)."""
        n = self.neighbor_status(remote_ip)
        return n.get("bfd") if n else None

    def bfd_state(self, remote_ip: str = plan.RTR_LAN4) -> str:
        return (self.bfd_status(remote_ip) or {}).get("state", "")

    def status_rc(self) -> int:
        return self.cli("status", "--config", str(self.conf)).returncode

    def status_text(self) -> str:
        r = self.cli("status", "--config", str(self.conf))
        return r.stdout + r.stderr

    def role_advertising(self) -> str:
        """'ROLE N': the status's role and how many prefixes it advertises."""
        st = self.status() or {}
        return f"{st.get('role')} {len(st.get('advertising') or [])}"

    def advertising(self) -> bool:
        return bool((self.status() or {}).get("advertising"))

    def notify(self, state: str) -> int:
        return self.cli("notify", state, "--config", str(self.conf)).returncode

    def check_config(self) -> tuple[int, str]:
        r = self.cli("check-config", "--config", str(self.write_config()))
        return r.returncode, r.stdout + r.stderr

    def decode(self, data: bytes, name: str = "decode.bin") -> list[dict]:
        """`anycastd decode FILE`: one JSON object per message."""
        f = self.lab.path(name)
        f.write_bytes(data)
        r = self.cli("decode", str(f), timeout=30)
        return json_stream(r.stdout)

    def md5_verify(self, pcap: Path, *args: str, json_out: bool = False) -> tuple[int, str]:
        r = self.cli("md5", "verify", *(["--json"] if json_out else []), "--pcap", str(pcap), *args,
                     timeout=30)
        return r.returncode, r.stdout + ("" if json_out else r.stderr)

    def version(self) -> str:
        return self.cli("--version").stdout.strip()


def json_stream(text: str) -> list[dict]:
    """A stream of JSON objects (one per line or concatenated)."""
    dec, i, out = json.JSONDecoder(), 0, []
    text = text.strip()
    while i < len(text):
        obj, j = dec.raw_decode(text, i)
        out.append(obj)
        i = j
        while i < len(text) and text[i].isspace():
            i += 1
    return out
