"""Collections: independent archives (one per desk, say) in one index folder, one server.

Layout: the `main` collection is the index folder itself, so an index made before collections
existed is `main` as it was (nothing is moved); any other collection NAME lives in
`<index_dir>/collections/NAME/`, a whole index of its own (SQLite, Chroma, manifest, writer
lock). A name is checked against `NAME_PATTERN` before it touches a path, so it can never be
one. A collection exists once it has a manifest (its first write makes one); asking or
listing an unknown one is `NotFoundError`, while ingesting into a new name creates it.

`Collections` holds one `Pipeline` per collection, opened on first use and kept for the
`max_open` most recently used. Every pipeline takes its embedder, reader and LLM from the
first (`main`), so the models load once per process whatever the number of archives.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag import manifest
from rag.errors import CollectionUnavailableError, InputError, NotFoundError
from rag.settings import Settings

if TYPE_CHECKING:  # imported where used: `newsrag collections` loads no model code
    from rag.pipeline import Pipeline

DEFAULT = "main"
SUBDIR = "collections"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_OPEN = 16  # pipelines kept open; the least recently used beyond it is closed
_NAME_HINT = ("A collection name is 1-40 characters: lowercase letters, digits, '_' and '-', "
              "starting with a letter or digit (e.g. 'sports').")


def validate_name(name: str | None) -> str:
    """`name`, or `main` for None; `InputError` for anything that is not a plain name."""
    if name is None:
        return DEFAULT
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        shown = name if isinstance(name, str) and len(name) <= 60 else f"{str(name)[:60]}…"
        raise InputError(f"{shown!r} is not a valid collection name.", hint=_NAME_HINT)
    return name


def collection_dir(index_dir: Path, name: str) -> Path:
    name = validate_name(name)
    return Path(index_dir) if name == DEFAULT else Path(index_dir) / SUBDIR / name


def exists(index_dir: Path, name: str) -> bool:
    """`main` always exists (its first use may ingest the sample articles); another once it
    has a manifest."""
    name = validate_name(name)
    return name == DEFAULT or manifest.exists(collection_dir(index_dir, name))


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    articles: int
    chunks: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "articles": self.articles, "chunks": self.chunks}


def list_collections(index_dir: Path) -> list[CollectionInfo]:
    """Every collection, `main` first, then by name, with the counts of its manifest (no
    model is loaded and no store opened: the manifest is rewritten on every write)."""
    root = Path(index_dir) / SUBDIR
    names = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and NAME_PATTERN.fullmatch(p.name) and p.name != DEFAULT
                   and manifest.exists(p)) if root.is_dir() else []
    out = []
    for name in [DEFAULT, *names]:
        counts = (manifest.read(collection_dir(index_dir, name)) or {}).get("counts") or {}
        out.append(CollectionInfo(name, int(counts.get("articles", 0)),
                                  int(counts.get("chunks", 0))))
    return out


def available(settings: Settings) -> list[CollectionInfo]:
    """The collections these settings can serve: with `chroma_url`, `main` alone (the others'
    vectors would share the server's one Chroma collection); else all of them."""
    infos = list_collections(settings.index_dir)
    return infos[:1] if settings.chroma_url else infos


def settings_for(settings: Settings, name: str) -> Settings:
    """The settings of collection `name`: its own folder; only `main` gets the sample."""
    name = validate_name(name)
    if name == DEFAULT:
        return settings
    if settings.chroma_url:
        raise CollectionUnavailableError(
            f"Collection {name!r} needs the embedded Chroma store: with chroma_url set, "
            "only the 'main' collection is available.",
            hint="Unset NEWSRAG_CHROMA_URL to use collections.")
    return settings.model_copy(update={"index_dir": collection_dir(settings.index_dir, name),
                                       "sample_dir": None})


def resolve(settings: Settings, name: str | None, create: bool = False) -> Settings:
    """The settings of collection `name` (None: main), which must exist unless `create`
    (ingest), which makes its folder. Unknown names are `NotFoundError`."""
    name = validate_name(name)
    own = settings_for(settings, name)
    if create:
        own.index_dir.mkdir(parents=True, exist_ok=True)
    elif not exists(settings.index_dir, name):
        raise NotFoundError(f"There is no collection {name!r}.",
                            hint="`newsrag collections` lists them; ingest into a new name "
                            "to create one.")
    return own


def open_pipeline(settings: Settings, name: str | None, create: bool = False,
                  models_from: Pipeline | None = None) -> Pipeline:
    """The pipeline of one collection; see `resolve`."""
    from rag.pipeline import Pipeline

    return Pipeline(resolve(settings, name, create), models_from=models_from)


class Collections:
    """The server's collections: thread-safe, lazily opened, at most `max_open` kept."""

    def __init__(self, settings: Settings, main: Pipeline | None = None,
                 max_open: int = MAX_OPEN) -> None:
        from rag.pipeline import Pipeline

        self.settings = settings
        self.main = main if main is not None else Pipeline(settings)
        self.max_open = max(1, max_open)
        self._open: OrderedDict[str, Pipeline] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str | None = None, create: bool = False) -> Pipeline:
        """The pipeline of collection `name` (None: `main`)."""
        name = validate_name(name)
        if name == DEFAULT:
            return self.main
        with self._lock:
            pipe = self._open.get(name)
            if pipe is not None and (create or exists(self.settings.index_dir, name)):
                self._open.move_to_end(name)
                return pipe
            pipe = open_pipeline(self.settings, name, create=create, models_from=self.main)
            self._open[name] = pipe
            while len(self._open) > self.max_open:
                # Closing drops this thread's connection only: a request still using the
                # evicted pipeline keeps its own thread's connection and finishes.
                _, old = self._open.popitem(last=False)
                old.close()
            return pipe

    def names(self) -> list[CollectionInfo]:
        return available(self.settings)

    def close(self) -> None:
        with self._lock:
            for pipe in self._open.values():
                pipe.close()
            self._open.clear()
        self.main.close()
