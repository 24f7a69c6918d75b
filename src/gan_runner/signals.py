"""Turn SIGTERM, SIGUSR1, SIGUSR2 (Slurm's and submitit's pre-emption / time-limit warnings) and
SIGINT into a flag the training loop checks once per iteration, so a run stops between steps and
saves a checkpoint it can resume from.

The flag is process-wide and stays up: when a sweep runs its jobs one after another in one
process, a job that starts after the signal stops at once instead of training on.

When the handler this replaced was a Python function (submitit's USR2 handler, in a Slurm job: it
requeues the job), the signal is delivered to it again once the run has stopped and saved, so the
job is requeued after its checkpoint is written, not before. A SIGTERM handler a launcher already
installed (submitit ignores SIGTERM and lets Slurm kill and requeue the job) is left in place:
stopping early would report the job done while Slurm runs it again."""

import os
import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
_received: str | None = None  # the name of the first stop signal this process received


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = _received or signal.Signals(signum).name


def _launchers(s: int) -> bool:
    """A SIGTERM policy of a launcher's (a Python handler) is its own business."""
    current = signal.getsignal(s)
    return s == signal.SIGTERM and callable(current) and current is not signal.default_int_handler


class StopRequest:
    """`with StopRequest() as stop:` installs the handlers; `if stop:` / `stop.signal` read the flag."""

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}
        self._before: str | None = None

    @property
    def signal(self) -> str | None:
        return _received

    def __bool__(self) -> bool:
        return _received is not None

    def __enter__(self) -> "StopRequest":
        self._before = _received
        if threading.current_thread() is threading.main_thread():  # Python delivers signals there only
            self._previous = {s: signal.signal(s, _handle) for s in SIGNALS if not _launchers(s)}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        caught = _received != self._before and getattr(signal, _received)  # caught while this run trained
        previous = self._previous.get(caught)
        if callable(previous) and previous is not signal.default_int_handler:
            os.kill(os.getpid(), caught)  # now the previous handler's turn
