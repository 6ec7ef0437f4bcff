"""Cached newsrag indexes of RealTimeQA articles, so re-running the eval does not re-embed.

An index is keyed by a sha256 of its articles (url, title, text, date, in order), the embedding
model, the chunking parameters and the index schema: the same week with the same settings is
built once. A build writes into `<key>.tmp-<pid>-<random>/` and is renamed to `<key>/` only
when complete (the rename is atomic), so an interrupted build leaves no half index behind; its
leftover is removed by the next build of that key once its process is gone.

What the key does not see: a change to the ingest code (cleaning, dates, sentence splitting)
that changes the stored articles. Pass `--rebuild` after one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rag.eval.rtqa import RtqaArticle
from rag.manifest import SCHEMA_VERSION
from rag.settings import Settings

CACHE_FORMAT = 2  # bump when what a cached folder holds changes (2: spans found at ingest)
_META = "build.json"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsrag" / "rtqa"


def index_key(articles: Sequence[RtqaArticle], settings: Settings) -> str:
    h = hashlib.sha256(json.dumps({
        "format": CACHE_FORMAT, "schema": SCHEMA_VERSION, "embed_model": settings.embed_model,
        "chunking": [settings.chunk_target_words, settings.chunk_max_words,
                     settings.chunk_min_words, settings.chunk_overlap_words],
    }, sort_keys=True).encode())
    for a in articles:
        h.update(json.dumps([a.url, a.title, a.text, a.date]).encode())
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class BuildStats:
    articles: int  # given
    added: int  # stored (copies and unreadable ones are not)
    chunks: int
    errors: int  # articles ingest refused (no text after boilerplate, too large)
    seconds: float

    @property
    def articles_per_s(self) -> float:
        return self.articles / self.seconds if self.seconds else 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0


def index_settings(settings: Settings, index_dir: Path) -> Settings:
    return settings.model_copy(update={"index_dir": index_dir, "sample_dir": None,
                                       "chroma_url": None})


def write_sources(articles: Sequence[RtqaArticle], folder: Path) -> list[Path]:
    """One JSON file per article, read by newsrag's own ingest (which takes the source from the
    URL's host); one file each, so one unreadable article is skipped alone."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, a in enumerate(articles):
        path = folder / f"{i:05d}.json"
        rec = {"title": a.title, "text": a.text, "date": a.date, "url": a.url or None,
               "author": ", ".join(a.authors) or None}
        path.write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(root: Path, key: str) -> None:
    for tmp in root.glob(f"{key}.tmp-*"):
        pid = tmp.name.split(".tmp-", 1)[1].split("-")[0]
        if not pid.isdigit() or not _alive(int(pid)) or int(pid) == os.getpid():
            shutil.rmtree(tmp, ignore_errors=True)


def cached_stats(folder: Path) -> BuildStats | None:
    try:
        data = json.loads((folder / _META).read_text(encoding="utf-8"))
        return BuildStats(**data["stats"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_index(articles: Sequence[RtqaArticle], settings: Settings, embedder: Any,
                 root: Path, rebuild: bool = False,
                 log: Callable[[str], None] | None = None) -> tuple[Path, BuildStats | None]:
    """The index folder of `articles` (build it unless cached) and the build's stats (None
    when it was cached)."""
    from rag.pipeline import Pipeline

    key = index_key(articles, settings)
    final = root / key
    if final.is_dir() and not rebuild and cached_stats(final) is not None:
        return final / "index", None
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root, key)
    # A new name every time: Chroma keeps a client per path for the life of the process, and
    # one left on a moved-away folder would make a second build here read-only.
    tmp = root / f"{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    files = write_sources(articles, tmp / "src")
    pipe = Pipeline(index_settings(settings, tmp / "index"), embedder=embedder)
    started = time.perf_counter()
    try:
        report = pipe.ingest(files, skip_errors=True)
    finally:
        pipe.close()
    stats = BuildStats(len(articles), len(report.added) + len(report.replaced),
                       report.chunks_added, len(report.errors),
                       round(time.perf_counter() - started, 2))
    shutil.rmtree(tmp / "src")  # the publishers' text stays only inside the index
    (tmp / _META).write_text(json.dumps({
        "stats": asdict(stats), "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "embed_model": settings.embed_model}, indent=2) + "\n", encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if log:
        log(f"built {key}: {stats.added}/{stats.articles} articles, {stats.chunks} chunks in "
            f"{stats.seconds:.1f}s ({stats.articles_per_s:.1f} articles/s, "
            f"{stats.chunks_per_s:.1f} chunks/s)")
    return final / "index", stats
