"""The index's versioned manifest: what it was built with, checked on every open.

`manifest.json` records the schema version, the embedding model and its dimension, the chunking
parameters and the counts. An index built with other settings or an older schema cannot be
read as it is: opening it fails with a message that says to run `newsrag reindex`, which
rebuilds every derived part from the stored article texts.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import __version__
from rag.errors import IndexMismatchError

SCHEMA_VERSION = 2
FILENAME = "manifest.json"
_REINDEX = "Run `newsrag reindex` to rebuild the index with the current settings."


@dataclass(frozen=True)
class BuildInfo:
    """What the index must have been built with to be read by these settings."""

    embed_model: str
    embed_dim: int
    chunking: dict[str, int]


def exists(index_dir: Path) -> bool:
    return (index_dir / FILENAME).exists()


def read(index_dir: Path) -> dict[str, Any] | None:
    path = index_dir / FILENAME
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexMismatchError(
            f"The index manifest {path} is unreadable ({exc}).",
            hint="Run `newsrag reindex` to rebuild it from the stored articles.",
        ) from None
    return data


def check(index_dir: Path, build: BuildInfo) -> None:
    """Raise `IndexMismatchError` unless the index was built the way `build` says."""
    m = read(index_dir)
    if m is None:
        return
    if m.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"The index in {index_dir} has schema version {m.get('schema_version')}; "
            f"this newsrag reads version {SCHEMA_VERSION}.", hint=_REINDEX)
    if m.get("reindex_in_progress"):
        raise IndexMismatchError(f"A reindex of {index_dir} was interrupted.", hint=_REINDEX)
    built = (m.get("embed_model"), m.get("embed_dim"), m.get("chunking"))
    wanted = (build.embed_model, build.embed_dim, build.chunking)
    if built != wanted:
        raise IndexMismatchError(
            f"The index in {index_dir} was built with embedding model {built[0]!r} "
            f"(dim {built[1]}) and chunking {built[2]}; the settings ask for {wanted[0]!r} "
            f"(dim {wanted[1]}) and chunking {wanted[2]}.", hint=_REINDEX)


def write(index_dir: Path, build: BuildInfo, counts: dict[str, int], **extra: Any) -> None:
    """Replace the manifest atomically (write a temp file, then rename over the old one)."""
    try:
        old = read(index_dir) or {}
    except IndexMismatchError:  # an unreadable manifest is what `reindex` replaces
        old = {}
    now = time.time()
    data = {
        "schema_version": SCHEMA_VERSION,
        "newsrag_version": __version__,
        "embed_model": build.embed_model,
        "embed_dim": build.embed_dim,
        "chunking": build.chunking,
        "counts": counts,
        "created_at": old.get("created_at", now),
        "updated_at": now,
        **extra,
    }
    tmp = index_dir / (FILENAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, index_dir / FILENAME)
