"""Damage to the index: the cheap checks run on every open, all of them by `newsrag doctor`.

An index is three parts that must agree: `store.sqlite` (articles, chunks, sentences, the
keyword index), Chroma (one vector per chunk) and `manifest.json` (how it was built, and the
counts). A removed `chroma/` would otherwise give silent keyword-only answers, an emptied
`store.sqlite` "no articles yet" over orphan vectors, and a missing manifest a sample corpus
ingested into a real archive. Article texts live only in `store.sqlite`: everything else can be
rebuilt from them by `newsrag reindex`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag import manifest
from rag.errors import IndexDamagedError, NewsragError

REINDEX = "Run `newsrag reindex`: it rebuilds the vectors, chunks and manifest from the " \
          "stored article texts."
RESTORE = "The article texts are lost from store.sqlite: restore it from a backup, or ingest " \
          "the articles again (`newsrag reindex` first clears what is left)."


class Inspectable(Protocol):
    dir: Path

    def counts(self) -> dict[str, int]: ...
    def vector_count(self) -> int: ...
    def pending_count(self) -> int: ...
    def integrity_problems(self) -> list[str]: ...


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    repair: str = ""


def cheap_findings(store: Inspectable) -> list[Finding]:
    """Checks that read counts only (milliseconds at a million chunks)."""
    counts = store.counts()
    out = []
    m: dict[str, Any] | None = None
    try:
        m = manifest.read(store.dir)
    except NewsragError as exc:  # unreadable: say so, and check the rest without it
        out.append(Finding("manifest", False, exc.message, REINDEX))
    if not out and m is None and counts["articles"]:
        out.append(Finding("manifest", False, f"manifest.json is missing from {store.dir}, which "
                           f"holds {counts['articles']:,} articles.", REINDEX))
    elif not out:
        out.append(Finding("manifest", True, "present" if m else "new index"))
    recorded = int(((m or {}).get("counts") or {}).get("articles", 0))
    if recorded and not counts["articles"]:
        out.append(Finding("articles", False, f"store.sqlite holds no articles; the manifest "
                           f"counts {recorded:,}.", RESTORE))
    else:
        out.append(Finding("articles", True, f"{counts['articles']:,} articles"))
    if store.pending_count():  # a live writer is between its journal and its commit
        out.append(Finding("vectors", True, "not compared while another process writes"))
        return out
    vectors = store.vector_count()
    if vectors != counts["chunks"]:
        out.append(Finding("vectors", False, f"Chroma holds {vectors:,} vectors for "
                           f"{counts['chunks']:,} chunks in store.sqlite.", REINDEX))
    else:
        out.append(Finding("vectors", True, f"{vectors:,} vectors, one per chunk"))
    return out


def all_findings(store: Inspectable) -> list[Finding]:
    """The cheap checks, then SQLite's integrity check and the write journal."""
    out = cheap_findings(store)
    problems = store.integrity_problems()
    out.append(Finding("sqlite", not problems, "; ".join(problems[:3]) or "integrity ok",
                       "" if not problems else RESTORE))
    pending = store.pending_count()
    out.append(Finding("journal", True, f"{pending} entries of a writer at work" if pending
                       else "empty"))
    return out


def diagnose(index_dir: Path, build: manifest.BuildInfo,
             chroma_url: str | None = None) -> list[Finding]:
    """Every check, on an index that may be too damaged to open the usual way."""
    from rag.store import Store  # the store runs the cheap checks on open: no import cycle

    out = []
    try:
        manifest.check(index_dir, build)
        out.append(Finding("settings", True, "built with the current settings"))
    except NewsragError as exc:
        out.append(Finding("settings", False, exc.message, exc.hint or REINDEX))
    try:
        store = Store(index_dir, build, chroma_url, check=False)
    except NewsragError as exc:
        return [*out, Finding("sqlite", False, exc.message, exc.hint or RESTORE)]
    try:
        return out + all_findings(store)
    finally:
        store.close()


def raise_if_damaged(store: Inspectable) -> None:
    for f in cheap_findings(store):
        if not f.ok:
            raise IndexDamagedError(f"The index is damaged: {f.detail}", hint=f.repair)


def report(findings: list[Finding]) -> dict[str, Any]:
    return {"ok": all(f.ok for f in findings),
            "checks": [{"check": f.check, "ok": f.ok, "detail": f.detail,
                        **({"repair": f.repair} if f.repair else {})} for f in findings]}
