"""A disk cache for what is computed once and shared by every job of a sweep: reference feature
statistics and trained classifiers. An entry's file name is a hash of its description (written
beside it as JSON, for people). Concurrent callers compute once, under a file lock, and readers
never see half a file (the write is atomic)."""

import hashlib
import json
import logging
from pathlib import Path
from typing import IO, Callable, TypeVar

from filelock import FileLock

from ..errors import first_line
from ..files import atomic_write

T = TypeVar("T")
log = logging.getLogger("gan_runner")


def entry(directory: Path, kind: str, key: dict, suffix: str) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return directory / f"{kind}-{digest}{suffix}"


def get_or_compute(
    path: Path,
    key: dict,
    compute: Callable[[], T],
    save: Callable[[T, IO[bytes]], None],
    load: Callable[[Path], T],
) -> T:
    """The entry's value: read from the cache, or computed and cached. An entry that cannot be read
    (truncated by a killed machine, garbled) is recomputed and replaced, with one warning."""
    if path.exists():
        try:
            return load(path)
        except (
            Exception
        ):  # whatever the reader raises on a bad file: it is replaced under the lock below
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists():  # another job computed it while this one waited, or it is the bad one
            try:
                return load(path)
            except Exception as e:
                log.warning(
                    "the metrics cache entry %s is unreadable (%s): computing it again",
                    path,
                    first_line(e),
                )
        value = compute()
        atomic_write(
            path.with_suffix(".json"), lambda f: f.write(json.dumps(key, indent=2).encode())
        )
        atomic_write(path, lambda f: save(value, f))
        return value
