"""Debian 13 (trixie) roots with today's routers, and running a daemon from one.

The host is Debian 12 (BIRD 2.0.12, FRR 8.4, GoBGP 3.10). Newer routers come from Debian 13's
packages, installed into a root of their own (never into the host: they pull a newer libc):

- `trixie`: bird2 (2.17), frr (10.3), gobgpd (3.36);
- `trixie-bird3`: bird3 (3.1), which conflicts with bird2.

A root is built once per machine with `debootstrap --variant=minbase trixie` and apt-get inside
it (services kept from starting by a policy-rc.d; ~1-2 min each, from Debian's package
registry), under /var/cache/anycastd-lab (outside the work tree; ANYCASTD_LAB_ROOTS names
another), and rebuilt when missing or incomplete (a root is renamed into place only once its
packages are in, under a lock, so parallel workers build it once).

`Root.wrap(argv)` runs a command from the root: in a private mount namespace (`unshare -m`, so
nothing is mounted on the host and nothing needs unmounting), with /proc, /sys, /dev and the
directory the labs' run directories live in (/tmp) bind-mounted at their own paths, then
`chroot`. The PID is the daemon's own (sh and chroot exec). `HOST` is the identity: the host's
own packages.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
#: root name → the packages apt-get installs into it
PACKAGES = {"trixie": ("bird2", "frr", "gobgpd"), "trixie-bird3": ("bird3",)}
_READY = ".anycastd-lab-root-ready"

# $1 root, $2 the run directories' parent, the rest the command. /sys is the namespace's own
# (ip netns exec remounts it); /dev for /dev/null and friends.
_WRAP = ('r=$1; d=$2; shift 2; mkdir -p "$r$d" && mount --bind "$d" "$r$d" && mount -t proc proc "$r/proc" '
         '&& mount --bind /sys "$r/sys" && mount --bind /dev "$r/dev" && exec chroot "$r" "$@"')


def base_dir() -> Path:
    return Path(os.environ.get("ANYCASTD_LAB_ROOTS") or "/var/cache/anycastd-lab")


@dataclass(frozen=True)
class Root:
    """Where a router's binaries come from: the host (path None) or a built root."""

    name: str
    path: Path | None = None

    def wrap(self, argv: list[str]) -> list[str]:
        if self.path is None:
            return list(argv)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _WRAP, "sh", str(self.path),
                tempfile.gettempdir(), *argv]

    def ids(self, user: str) -> tuple[int, int]:
        """(uid, gid) of `user` as the root's /etc/passwd has it (the daemons drop to it)."""
        etc = (self.path or Path("/")) / "etc"
        for line in (etc / "passwd").read_text().splitlines():
            f = line.split(":")
            if f[0] == user:
                return int(f[2]), int(f[3])
        raise KeyError(f"no user {user} in {etc}/passwd")

    def has(self, binary: str) -> bool:
        return ((self.path or Path("/")) / binary.lstrip("/")).exists()


HOST = Root("host")


def ensure(name: str, timeout: float = 900) -> Root:
    """The root `name` (built now if missing: minutes), under an exclusive lock."""
    base = base_dir()
    base.mkdir(parents=True, exist_ok=True)
    path = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / _READY).exists():
            _build(name, path, timeout)
        _isolate(path)
    return Root(name, path)


def _isolate(path: Path) -> None:
    """Name resolution that never leaves the lab: `localhost` in /etc/hosts (gobgpd looks it
    up) and a resolv.conf with no name server (debootstrap copies the host's)."""
    hosts = path / "etc/hosts"
    if not hosts.exists():
        hosts.write_text("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n")
    resolv = path / "etc/resolv.conf"
    if resolv.is_symlink() or not resolv.exists() or "nameserver" in resolv.read_text():
        resolv.unlink(missing_ok=True)
        resolv.write_text("# anycastd lab root: no name server (lab.roots)\n")


def main() -> int:
    """`python3 -m lab roots`: every root built (if missing), each one's routers' versions."""
    if os.geteuid() != 0:
        print("must run as root (debootstrap, chroot)", file=sys.stderr)
        return 1
    for name in PACKAGES:
        t0 = time.monotonic()
        root = ensure(name)
        versions = subprocess.run(["chroot", str(root.path), "dpkg-query", "-W", *PACKAGES[name]],
                                  capture_output=True, text=True, timeout=30).stdout.split()
        print(f"root {name}: {root.path} ({' '.join(versions)}), ready after {time.monotonic() - t0:.0f} s")
    return 0


def _build(name: str, path: Path, timeout: float) -> None:
    new = path.with_name(path.name + ".new")
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)
    log = path.with_name(path.name + ".log")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(log, "w") as out:
        def step(argv: list[str]) -> None:
            r = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise RuntimeError(f"building the {name} root: {' '.join(argv[:4])} … failed "
                                   f"(exit {r.returncode}); see {log}")
        # debootstrap's own --include cannot resolve trixie's systemd pre-dependency from
        # bookworm's debootstrap: base system first, the routers with apt-get inside it.
        step(["debootstrap", "--variant=minbase", "trixie", str(new), MIRROR])
        policy = new / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        step(["chroot", str(new), "apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES[name]])
        step(["chroot", str(new), "apt-get", "clean"])
    (new / _READY).write_text(" ".join(PACKAGES[name]) + "\n")
    new.rename(path)
