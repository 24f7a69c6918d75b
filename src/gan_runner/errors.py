"""Bad user input: the bottom layer, importable anywhere (no torch, no config store)."""

from hydra.errors import CompactHydraException


class UserError(CompactHydraException):
    """Bad user input, whatever it is in: a config, a command line, a file (a checkpoint, a dataset,
    weights), the machine (no GPU). Hydra prints the message alone (no traceback) and exits with
    status 1; the other entry points print it as one paragraph and exit 1 (console.entry_point)."""


def first_line(e: BaseException | str) -> str:
    """What an exception says, in one line, for a message of our own: its first line, else its type."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
