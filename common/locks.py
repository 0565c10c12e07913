"""File locks that serialise this machine's processes around shared MLflow state.

Two places need it: a registration (champion lookup, gate, registration and alias move, per
model name), and the first use of a fresh sqlite store, whose schema migration MLflow runs
unguarded (several processes at once fail with "table ... already exists").
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.errors import UserInputError

LOCK_DIR = "tabular-training-locks"


def store_key(uri: str) -> str:
    """One spelling per store: a sqlite database by its resolved path, else the URI."""
    if uri.startswith("sqlite:///"):
        return f"sqlite {Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri.rstrip("/")


def folder_for(uri: str) -> Path:
    """Where the locks for a store live: beside a local sqlite database (every process using it
    sees that folder, whatever its TMPDIR), else one fixed folder of this machine."""
    if uri.startswith("sqlite:////"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent
    return Path("/tmp") / LOCK_DIR  # not tempfile.gettempdir(): TMPDIR differs between processes


@contextmanager
def held(key: str, *, what: str, uri: str, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the lock for ``key`` (any text) among processes using store ``uri``.

    Args:
        what: Says in an error what waited, e.g. "registering model 'churn'".
        uri: The tracking or registry URI the lock guards (see ``folder_for``).
        timeout_s: Give up with a clear error after this long.
    """
    folder = folder_for(uri)
    folder.mkdir(mode=0o1777, parents=True, exist_ok=True)
    path = folder / f".tabular-training-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserInputError(
                        f"{what}: another process on this machine held the lock for over "
                        f"{timeout_s:.0f} s ({path})"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
