"""The persistent index: Chroma for chunk vectors, SQLite for articles, chunks, sentences and
the keyword (FTS5/BM25) index, and `manifest.json` describing how it was built.

Chroma objects never leave the store: callers get our types. Its parts: `schema.py` (SQLite
tables, tallies, migration), `vectors.py` (Chroma, the index's only module importing chromadb),
`lock.py` (one writer per index), `base.py` (connections, manifest, tallies), `writes.py` (the
write path and its crash-safety journal), `reads.py` (articles, groups, chunks, sentences),
`search.py` (dense and keyword search), `records.py` (the types it hands out). `Store`, here,
joins them and opens an index: it checks the manifest, opens the tables and the collection,
and rolls back a dead writer's journal (writes.py says how a crash is survived).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from rag import health
from rag.errors import IndexDamagedError
from rag.manifest import BuildInfo
from rag.store import vectors
from rag.store.lock import WriterLock
from rag.store.reads import StoreReads
from rag.store.records import ArticleMeta, Derived, StoredSentence, decode_spans, encode_spans
from rag.store.schema import open_tables
from rag.store.search import StoreSearch
from rag.store.writes import StoreWrites

__all__ = ["ArticleMeta", "Derived", "Store", "StoredSentence", "decode_spans", "encode_spans"]


class Store(StoreWrites, StoreReads, StoreSearch):
    def __init__(self, index_dir: Path, build: BuildInfo, chroma_url: str | None = None,
                 check: bool = True) -> None:
        self.dir = Path(index_dir)
        self.build = build
        self.chroma_url = chroma_url
        self._writer = WriterLock(self.dir)
        self._local = threading.local()
        if check:
            self._check_manifest()
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._open_tables()
        except sqlite3.DatabaseError as exc:  # not a database, or a corrupt page
            raise IndexDamagedError(f"The index is damaged: {self.dir / 'store.sqlite'} "
                                    f"cannot be read ({exc}).", hint=health.RESTORE) from None
        self._collection = self._open_collection()
        self._recover()
        if check:
            health.raise_if_damaged(self)

    def _open_tables(self) -> None:
        open_tables(self._conn())

    def _open_collection(self) -> Any:
        self._client = vectors.open_client(self.dir, self.chroma_url)
        return vectors.collection(self._client)

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
