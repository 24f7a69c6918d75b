"""The console: it may go away while a run trains (`gan-runner ... | head`, a closed ssh session's
pipe), and what the run records must not depend on it; log lines and the final line to a closed
console are dropped silently, every other logging error is reported as usual. And Ctrl-C before a
run has started training ends the command quietly, with the shell's status for it (130)."""

import errno
import functools
import logging
import os
import signal
import sys


def _gone(error: BaseException | None) -> bool:
    """A closed pipe (EPIPE), or a terminal that hung up (EIO)."""
    return isinstance(error, BrokenPipeError) or (
        isinstance(error, OSError) and error.errno == errno.EIO
    )


class ConsoleHandler(logging.StreamHandler):
    """Hydra's console handler (conf/train.yaml), quiet once its reader has gone."""

    def handleError(self, record: logging.LogRecord) -> None:
        if _gone(sys.exc_info()[1]):
            _detach()
        else:
            super().handleError(record)


def say(text: str) -> None:
    try:
        print(text, flush=True)
    except OSError as e:
        if not _gone(e):
            raise
        _detach()


def _detach() -> None:
    """Point stdout at /dev/null: later writes, and the flush at exit, then go nowhere quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def interrupted(signum: int, frame) -> None:
    """Ctrl-C before a run trains: nothing to save, so the process ends at once, with the shell's
    status for it. Not Python's KeyboardInterrupt, which lands inside whatever runs (an import half
    done, a library that catches it) and can leave the process broken instead of ended."""
    os._exit(130)


def count(n: int, word: str) -> str:
    """`1 thread`, `2 threads`."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """A time to wait, as a person says it: 40 s, 12 min, 7.5 h, 5 days."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= (2 if unit == "days" else 1) * size:
            value = seconds / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{seconds:.0f} s"


def entry_point(command):
    """A command-line entry point that a Ctrl-C during start-up ends without a traceback, and bad
    input (UserError) with its message alone. (Once a run trains, Ctrl-C stops it after the current
    step and saves: signals.py replaces this handler.)"""

    @functools.wraps(command)
    def run():
        from .errors import UserError

        signal.signal(signal.SIGINT, interrupted)
        try:
            return command()
        except UserError as e:  # bad input: one paragraph, exit status 1
            sys.exit(str(e))
        except BrokenPipeError:  # `gan-runner --help | head`: the reader has what it wanted
            _detach()

    return run
