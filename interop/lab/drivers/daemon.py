"""The life cycle shared by drivers whose daemon is one tracked process (keepalived, ExaBGP):
stop (SIGTERM by PID, bounded, then SIGKILL), kill (SIGKILL), restart."""

from __future__ import annotations

import signal


class OneProcessDaemon:
    """Mixin for a driver with `self.lab`, `self.proc` (None until started) and `start()`."""

    stop_timeout: float = 5

    def stop(self) -> None:
        if self.proc:
            self.lab.stop(self.proc, signal.SIGTERM, self.stop_timeout)

    def kill(self) -> None:
        if self.proc:
            self.lab.stop(self.proc, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()
