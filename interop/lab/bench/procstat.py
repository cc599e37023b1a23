"""What /proc says about a process: RSS, CPU ticks, open file descriptors."""

from __future__ import annotations

import os


def rss_kb(*pids: int) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def cpu_ticks(*pids: int) -> tuple[int, int]:
    """(utime + stime, utime + stime + cutime + cstime) summed, in clock ticks."""
    own = with_children = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ut, st, cut, cst = (int(x) for x in fields[11:15])
        own += ut + st
        with_children += ut + st + cut + cst
    return own, with_children


def cpu_seconds(*pids: int) -> float:
    return cpu_ticks(*pids)[0] / os.sysconf("SC_CLK_TCK")


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def stop_all(procs, timeout: float = 5) -> None:
    """SIGTERM every still-running subprocess.Popen in `procs`, wait up to `timeout` s for each,
    then SIGKILL what is left (by PID, through its Popen)."""
    import signal
    import subprocess

    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
