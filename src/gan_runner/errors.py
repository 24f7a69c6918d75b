"""Bad user input: the bottom layer, importable anywhere (no torch, no config store)."""

from hydra.errors import CompactHydraException


class ConfigError(CompactHydraException):
    """Bad user input. Hydra prints the message alone (no traceback) and exits with status 1;
    the other entry points print it as one paragraph and exit 1."""
