"""Graceful Ctrl-C for long jobs (dataset generation, training)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Interrupted(RuntimeError):
    """A long job stopped on request (Ctrl-C); what it wrote is consistent and a rerun resumes."""


class StopFlag:
    """Within ``with StopFlag() as flag:``, the first SIGINT only sets ``flag.stop``, which the
    job checks between units of work (so it can leave its files consistent); a second SIGINT
    raises KeyboardInterrupt. Outside the main thread it does nothing."""

    def __init__(self) -> None:
        self.stop = False
        self._old: Any = None

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
