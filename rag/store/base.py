"""What every part of the Store stands on: its directory and build settings, one SQLite
connection per thread, the Chroma client and collection, the writer lock, the manifest and
the trigger-kept tallies. The write path (writes.py), the reads (reads.py) and the searches
(search.py) are mixins over this class; `Store` (rag/store/__init__.py) joins them and opens
the index.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

from rag import manifest
from rag.manifest import BuildInfo
from rag.store.lock import WriterLock
from rag.store.schema import TALLIED, connect


class StoreBase:
    dir: Path
    build: BuildInfo
    chroma_url: str | None
    _writer: WriterLock
    _local: threading.local
    _client: Any  # Chroma objects never leave the store (rag/store/vectors.py)
    _collection: Any

    # --- plumbing --------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """One connection per thread: SQLite connections must not be shared across threads."""
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = connect(self.dir / "store.sqlite")
            self._local.con = con
        return con

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Exclusive write access: one thread in this process, one process on this index
        (rag/store/lock.py)."""
        return self._writer.held()

    # --- manifest (format and checks: rag/manifest.py) --------------------------------------

    def read_manifest(self) -> dict[str, Any] | None:
        return manifest.read(self.dir)

    def _check_manifest(self) -> None:
        manifest.check(self.dir, self.build)

    def write_manifest(self, **extra: Any) -> None:
        manifest.write(self.dir, self.build, self.counts(), **extra)

    @property
    def initialised(self) -> bool:
        return manifest.exists(self.dir)

    def counts(self) -> dict[str, int]:
        """Articles, chunks and sentences stored (kept by triggers: no table scan)."""
        rows = dict(self._conn().execute("SELECT name, n FROM tallies").fetchall())
        return {t: int(rows.get(t, 0)) for t in TALLIED}
