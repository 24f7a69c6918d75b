"""The console may go away while a run trains (`gan-runner ... | head`, a closed ssh session's
pipe): what the run records must not depend on it. Log lines and the final line to a closed
console are dropped silently; every other logging error is reported as usual."""

import logging
import os
import sys


class ConsoleHandler(logging.StreamHandler):
    """Hydra's console handler (conf/train.yaml), quiet once its reader has gone."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError):
            _detach()
        else:
            super().handleError(record)


def say(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        _detach()


def _detach() -> None:
    """Point stdout at /dev/null: later writes, and the flush at exit, then go nowhere quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
