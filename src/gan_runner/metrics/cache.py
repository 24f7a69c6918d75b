"""A disk cache for what is computed once and shared by every job of a sweep: reference feature
statistics and trained classifiers. An entry's file name is a hash of its description (written
beside it as JSON, for people). Concurrent callers compute once, under a file lock, and readers
never see half a file (the write is atomic)."""

import hashlib
import json
from pathlib import Path
from typing import IO, Callable, TypeVar

from filelock import FileLock

from ..files import atomic_write

T = TypeVar("T")


def entry(directory: Path, kind: str, key: dict, suffix: str) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return directory / f"{kind}-{digest}{suffix}"


def get_or_compute(path: Path, key: dict, compute: Callable[[], T], save: Callable[[T, IO[bytes]], None],
                   load: Callable[[Path], T]) -> T:
    if path.exists():
        return load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists():  # another job computed it while this one waited
            return load(path)
        value = compute()
        atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(key, indent=2).encode()))
        atomic_write(path, lambda f: save(value, f))
        return value
