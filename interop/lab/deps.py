"""The packages the lab needs, installed with apt-get when a binary is missing (services kept
from starting by a temporary policy-rc.d; tshark preseeded non-interactive)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BINARIES = {"bird": "bird2", "birdc": "bird2", "tcpdump": "tcpdump", "tshark": "tshark",
            "gobgpd": "gobgpd", "gobgp": "gobgpd", "/usr/lib/frr/zebra": "frr", "/usr/lib/frr/bgpd": "frr",
            "vtysh": "frr", "keepalived": "keepalived", "ping": "iputils-ping", "nstat": "iproute2",
            "ss": "iproute2"}
ETCD = {"/usr/bin/etcd": "etcd-server", "/usr/bin/etcdctl": "etcd-client", "nft": "nftables"}
EXABGP = {"/usr/sbin/exabgp": "exabgp", "/usr/bin/exabgp-healthcheck": "python3-exabgp"}


def missing(binaries: dict[str, str]) -> list[str]:
    return sorted({pkg for b, pkg in binaries.items() if not (os.access(b, os.X_OK) if "/" in b else shutil.which(b))})


def install(binaries: dict[str, str] = BINARIES) -> list[str]:
    """apt-get install what is missing (idempotent); returns the packages installed."""
    pkgs = missing(binaries)
    if not pkgs:
        return []
    prc = Path("/usr/sbin/policy-rc.d")
    created = not prc.exists()
    if created:
        prc.write_text("#!/bin/sh\nexit 101\n")
        prc.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["debconf-set-selections"], input="wireshark-common wireshark-common/install-setuid boolean false\n",
                       text=True, check=False)
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs], env=env, check=True,
                       timeout=600)
    finally:
        if created:
            prc.unlink(missing_ok=True)
    still = missing(binaries)
    if still:
        raise RuntimeError(f"still missing after install: {still}")
    return pkgs
