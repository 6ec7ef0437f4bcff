"""One writer per index: a thread lock inside the process, an flock across processes.

Chroma's embedded store is not safe for two writing processes, so a second writer is refused
at once (IndexLockedError) rather than left to hang or corrupt the index. Re-entrant in the
thread that holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from rag.errors import IndexLockedError


class WriterLock:
    def __init__(self, index_dir: Path) -> None:
        self.dir = index_dir
        self._lock = threading.RLock()
        self._local = threading.local()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if getattr(self._local, "depth", 0):
                self._local.depth += 1
                try:
                    yield
                finally:
                    self._local.depth -= 1
                return
            fd = os.open(self.dir / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise IndexLockedError(
                        f"Another newsrag process is writing to the index in {self.dir}.",
                        hint="Wait for it to finish, or point NEWSRAG_INDEX_DIR elsewhere.",
                    ) from None
                self._local.depth = 1
                try:
                    yield
                finally:
                    self._local.depth = 0
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
