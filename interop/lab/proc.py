"""Processes of a lab: every one started is tracked by PID, stopped by PID and reaped.

Owns `ProcessTable` (spawn in a namespace, stop = signal + bounded wait + SIGKILL, stop all
newest first) and `run` (a bounded foreground command). Nothing here finds a process by
name: no pkill, no killall, no `ps | grep`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

Argv = Sequence[str]


def netns_argv(ns: str | None, argv: Argv) -> list[str]:
    """`ip netns exec NS argv...` (ip execs the command: the PID is the command's own)."""
    return ["ip", "netns", "exec", ns, *argv] if ns else list(argv)


def run(argv: Argv, ns: str | None = None, timeout: float = 10, check: bool = False,
        input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (bounded by `timeout` s), text output captured; `env` is
    added to the environment. A command that times out is killed and reported with
    returncode -9."""
    try:
        return subprocess.run(netns_argv(ns, argv), capture_output=True, text=True,
                              timeout=timeout, check=check, input=input,
                              env={**os.environ, **env} if env else None,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return subprocess.CompletedProcess(list(argv), -9, out, f"timed out after {timeout} s")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def signal_and_wait(pid: int, sig: int, timeout: float) -> bool:
    """Send `sig` to `pid` (not our child: no reaping); True if it is gone within timeout."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


@dataclass
class Proc:
    """A process the lab started: its label, log file and Popen handle."""

    label: str
    log: Path
    popen: subprocess.Popen[bytes]
    ns: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def survives(self, what: str, grace: float) -> "Proc":
        """Raise if the process dies within `grace` s (a daemon that refused to start)."""
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            return self
        raise RuntimeError(f"{what} (pid {self.pid}) died: {self.log_text()[-400:]}")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class ProcessTable:
    """All processes of one lab, in start order."""

    procs: list[Proc] = field(default_factory=list)

    def spawn(self, label: str, argv: Argv, log: Path, ns: str | None = None,
              env: dict[str, str] | None = None) -> Proc:
        """Start `argv` in namespace `ns` (None: here) in its own session, stdin closed,
        stdout and stderr appended to `log`."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            popen = subprocess.Popen(netns_argv(ns, argv), stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **(env or {})})
        proc = Proc(label, log, popen, ns)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, sig: int = signal.SIGTERM, timeout: float = 3) -> int | None:
        """Signal, wait up to `timeout` s, then SIGKILL; reaped; returns the exit status."""
        if proc.alive():
            proc.signal(sig)
            if proc.wait(timeout) is None:
                proc.signal(signal.SIGKILL)
                proc.wait(3)
        rc = proc.popen.poll()
        if proc in self.procs:
            self.procs.remove(proc)
        return rc

    def stop_all(self) -> None:
        """Stop every tracked process, newest first (captures first: they must flush)."""
        captures = [p for p in self.procs if p.label.startswith("capture")]
        for p in reversed(captures):
            self.stop(p, signal.SIGINT, 3)
        for p in reversed(list(self.procs)):
            self.stop(p)
