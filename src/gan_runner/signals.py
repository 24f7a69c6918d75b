"""Turn SIGTERM, SIGUSR1, SIGUSR2 (Slurm's and submitit's pre-emption / time-limit warnings) and
SIGINT into a flag the training loop checks once per iteration, so a run stops between steps and
saves a checkpoint it can resume from.

The flag is process-wide and stays up: when a sweep runs its jobs one after another in one
process, a job that starts after the signal stops at once instead of training on.

When the handler this replaced was a Python function (submitit's USR2 handler, in a Slurm job: it
requeues the job), that handler gets the signal once the run has stopped and saved, so the job is
requeued with its newest checkpoint; or after GRACE_S, should the run not have got there (a long
evaluation), so the requeue still happens before Slurm's kill: the job then resumes from its last
periodic checkpoint. A run that completed instead hands nothing on. A SIGTERM handler a launcher
already installed (submitit ignores SIGTERM and lets Slurm kill and requeue the job) is left in
place: stopping early would report the job done while Slurm runs it again."""

import os
import signal
import threading
from types import FrameType
from typing import Callable

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
GRACE_S = 60  # within submitit's warning (hydra.launcher.signal_delay_s, 120 s by default)
_received: list[str] = []  # the stop signals this process received, in order
_hand_on: dict[int, Callable] = {}  # signal -> the launcher's handler it goes on to
_grace: dict[int, threading.Timer] = {}  # signal -> the timer of its grace period
_expired: set[int] = set()  # signals whose grace period is over


def _expire(signum: int) -> None:
    _expired.add(signum)
    os.kill(os.getpid(), signum)  # back in the main thread, where Python runs handlers


def _handle(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if name not in _received:
        _received.append(name)
    if (
        signum in _expired and signum in _hand_on
    ):  # the grace period is over: the launcher's turn, now
        _hand_on.pop(signum)(signum, frame)
    elif (
        signum in _hand_on and signum not in _grace
    ):  # a thread, not SIGALRM: the alarm may be someone else's
        _grace[signum] = threading.Timer(GRACE_S, _expire, (signum,))
        _grace[signum].daemon = True
        _grace[signum].start()


def _python_handler(handler: object) -> bool:
    """A launcher's own handler, to hand the signal on to (not Python's, nor the console's start-up one)."""
    from .console import interrupted

    return callable(handler) and handler not in (signal.default_int_handler, interrupted)


class StopRequest:
    """`with StopRequest() as stop:` installs the handlers; `if stop:` / `stop.signal` read the flag;
    `stop.honoured()` says the run stopped and saved because of it."""

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}
        self._honoured = False

    @property
    def signal(self) -> str | None:
        return _received[0] if _received else None

    def __bool__(self) -> bool:
        return bool(_received)

    def honoured(self) -> None:
        self._honoured = True

    def __enter__(self) -> "StopRequest":
        if (
            threading.current_thread() is threading.main_thread()
        ):  # Python delivers signals there only
            for s in SIGNALS:
                if not (
                    s == signal.SIGTERM and _python_handler(signal.getsignal(s))
                ):  # the launcher's policy
                    self._previous[s] = signal.signal(s, _handle)
            _hand_on.update({s: h for s, h in self._previous.items() if _python_handler(h)})
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._previous:
            return
        for timer in _grace.values():
            timer.cancel()
            timer.join()  # one already firing has sent its signal, and _handle takes it, before the restore
        _grace.clear()
        _expired.clear()
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        due = (
            [s for s in list(_hand_on) if signal.Signals(s).name in _received]
            if self._honoured
            else []
        )
        _hand_on.clear()
        for s in due:  # now the launcher's turn (submitit: requeue, and exit)
            self._previous[s](s, None)
