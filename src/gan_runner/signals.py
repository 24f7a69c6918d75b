"""Turn SIGTERM, SIGUSR1 (Slurm's pre-emption warnings) and SIGINT into a flag the training loop
checks once per iteration, so a run stops between steps and saves a checkpoint it can resume from.

The flag is process-wide and stays up: when a sweep runs its jobs one after another in one
process, a job that starts after the signal stops at once instead of training on."""

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
_received: str | None = None  # the name of the first stop signal this process received


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = _received or signal.Signals(signum).name


class StopRequest:
    """`with StopRequest() as stop:` installs the handlers; `if stop:` / `stop.signal` read the flag."""

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}

    @property
    def signal(self) -> str | None:
        return _received

    def __bool__(self) -> bool:
        return _received is not None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():  # Python delivers signals there only
            self._previous = {s: signal.signal(s, _handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
