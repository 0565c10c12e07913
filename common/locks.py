"""File locks that serialise this machine's processes around shared MLflow state.

Two places need it: a registration (champion lookup, gate, registration and alias move, per
model name), and the first use of a fresh sqlite store, whose schema migration MLflow runs
unguarded (several processes at once fail with "table ... already exists").
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.errors import UserInputError

LOCK_DIR = "tabular-training-locks"


@contextmanager
def held(key: str, *, what: str, timeout_s: float = 600.0) -> Iterator[None]:
    """Hold the machine-wide lock for ``key`` (any text) while the block runs.

    Args:
        what: Says in an error what waited, e.g. "registering model 'churn'".
        timeout_s: Give up with a clear error after this long.
    """
    folder = Path(tempfile.gettempdir()) / LOCK_DIR
    folder.mkdir(mode=0o1777, exist_ok=True)
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"
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
