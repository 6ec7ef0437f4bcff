"""The Pipeline: the one object the CLI, the UI, the HTTP API and the eval talk to.

articles -> ingest -> chunk -> embed -> store -> retrieve -> answer (cite) -> Answer.
Thread-safe: reads run concurrently; writes are serialised by the store's write lock.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag import __version__
from rag.chunk import ChunkParams, chunk_article, split_sentences
from rag.cite import Candidate, sentence_candidates
from rag.confidence import answer_model_for
from rag.dates import DateRange, date_range, parse_date
from rag.dedup import group_peers, regroup
from rag.embed import Embedder, load_embedder
from rag.errors import BackendError, IngestCancelledError, InputError
from rag.followup import Query, condense, is_followup
from rag.generate import REPLY_TOKENS, Generator
from rag.ingest import load_sources, parse_bytes, to_article
from rag.learned import LearnedAnswerer, load_learned
from rag.llm import make_llm
from rag.manifest import BuildInfo
from rag.nlp import span_candidates
from rag.retrieve import HybridRetriever
from rag.settings import Settings
from rag.store import Store
from rag.text import terms
from rag.types import Answer, Article, ArticleSummary, IngestReport, Passage, Turn

Progress = Callable[[int, int, str], None]  # (done, total, label)
Cancelled = Callable[[], bool]  # true once nobody waits for the ingest any more
_CANCEL_SLICE = 256  # texts embedded between two looks at `cancelled` (one large article)

_SAFE_NAME = re.compile(r"[^\w.\- ]+")


class Pipeline:
    """Thread-safe facade over ingest -> chunk -> embed -> store -> retrieve -> answer -> cite."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 models_from: Pipeline | None = None) -> None:
        """`models_from`: another pipeline (another collection, rag/collections.py) whose
        embedder, reader and LLM this one uses, so they are loaded once per process."""
        self.settings = settings
        self._embedder = embedder
        self._models_from = models_from
        self._store: Store | None = None
        self._generator: Generator | None = None
        self._learned: LearnedAnswerer | None = None
        self._init_lock = threading.Lock()
        self.chunk_params = ChunkParams(
            target_words=settings.chunk_target_words, max_words=settings.chunk_max_words,
            min_words=settings.chunk_min_words, overlap_words=settings.chunk_overlap_words,
        )

    # --- lazily built parts ----------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None and self._models_from is not None:
            self._embedder = self._models_from.embedder
        if self._embedder is None:
            with self._init_lock:
                if self._embedder is None:
                    self._embedder = load_embedder(self.settings.embed_model,
                                                   self.settings.embed_batch_size)
        return self._embedder

    def _build_info(self) -> BuildInfo:
        return BuildInfo(embed_model=self.embedder.name, embed_dim=self.embedder.dim,
                         chunking=self.chunk_params.as_dict())

    @property
    def store(self) -> Store:
        if self._store is None:
            build = self._build_info()
            with self._init_lock:
                if self._store is None:
                    self._store = Store(self.settings.index_dir, build, self.settings.chroma_url)
        return self._store

    # --- ingest ----------------------------------------------------------------------------

    def ensure_sample_corpus(self, progress: Progress | None = None) -> IngestReport | None:
        """On first use of a new index, ingest `settings.sample_dir`. None if nothing done."""
        sample = self.settings.sample_dir
        if self.store.initialised or not sample or not Path(sample).is_dir():
            return None
        return self.ingest([sample], progress=progress)

    def ingest(self, paths: Sequence[str | Path], progress: Progress | None = None,
               skip_errors: bool = False) -> IngestReport:
        """Ingest files and folders. Any bad input fails the whole run before anything is
        written, unless `skip_errors`, which ingests the good files and reports the rest."""
        articles, errors = load_sources(paths, self.settings.max_file_bytes)
        if errors and not skip_errors:
            detail = "; ".join(msg for _, msg in errors[:5])
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise InputError(f"Nothing was ingested. {detail}{more}",
                             hint="Fix or remove these files, or pass --skip-errors.")
        report = self._store_articles(articles, progress)
        return IngestReport(**{**report.__dict__, "errors": tuple(errors)})

    def ingest_bytes(self, filename: str, data: bytes, replace: bool = False) -> IngestReport:
        """Ingest one uploaded file; see `ingest_uploads`."""
        return self.ingest_uploads([(filename, data)], replace=replace)

    def ingest_uploads(self, files: Sequence[tuple[str, bytes]], replace: bool = False,
                       cancelled: Cancelled | None = None) -> IngestReport:
        """Ingest uploaded files, all or none: any bad file fails the request before anything
        is written. A name only decides the format (never a path). An upload keeps earlier
        uploads of the same name unless `replace`, which replaces all of them. Once
        `cancelled()` is true the ingest stops between articles (or between embedding batches
        of one) and raises `IngestCancelledError`: the articles stored so far are whole and
        indexed, the rest are not stored."""
        from rag.errors import NewsragError, TooLargeError, UploadRejectedError

        articles: list[Article] = []
        problems: list[tuple[str, NewsragError]] = []
        for filename, data in files:
            name = _SAFE_NAME.sub("_", Path(filename.replace("\\", "/")).name).strip() or "upload"
            try:
                if len(data) > self.settings.max_file_bytes:
                    raise TooLargeError(f"{name} is larger than the limit of "
                                        f"{self.settings.max_file_bytes:,} bytes.",
                                        hint="Split it, or raise NEWSRAG_MAX_FILE_BYTES.")
                raws = parse_bytes(name, data, origin=f"upload:{name}")
                articles += [to_article(r) for r in raws]
            except NewsragError as exc:
                problems.append((name, exc))
        if len(files) == 1 and problems:
            raise problems[0][1]
        if problems:
            raise UploadRejectedError(problems)
        return self._store_articles(articles, None, replace=replace, cancelled=cancelled)

    def _store_articles(
        self, articles: Sequence[Article], progress: Progress | None, replace: bool = True,
        cancelled: Cancelled | None = None,
    ) -> IngestReport:
        store = self.store
        added: list[str] = []
        replaced: list[str] = []
        unchanged: list[str] = []
        removed: list[str] = []
        chunks_added = 0
        stopped = False
        with store.writing():
            if not store.initialised:
                # Written first, so even an interrupted first ingest leaves an index whose
                # settings are known and checked on the next open.
                store.write_manifest()
            seen: set[str] = set()
            for i, art in enumerate(articles):
                if cancelled is not None and cancelled():
                    stopped = True
                    break
                if art.id in seen or store.has_article(art.id):
                    unchanged.append(art.id)
                else:
                    seen.add(art.id)
                    # Changed content from the same origin replaces the old version.
                    old_ids = [x for x in store.ids_for_origin(art.origin)
                               if x != art.id and replace]
                    try:
                        chunks_added += self._add(art, cancelled)
                    except _Stopped:  # nothing of this article was stored
                        stopped = True
                        break
                    for old in old_ids:
                        store.delete_article(old)
                        removed.append(old)
                    (replaced if old_ids else added).append(art.id)
                if progress:  # after the commit: `done` articles are safely stored
                    progress(i + 1, len(articles), art.title)
            if added or replaced:
                regroup(store, added + replaced)  # against their nearest stored articles
                store.write_manifest()
        report = IngestReport(added=tuple(added), replaced=tuple(replaced),
                              unchanged=tuple(unchanged), removed=tuple(removed),
                              chunks_added=chunks_added)
        if stopped:  # after regrouping and the manifest: what was stored is fully indexed
            raise IngestCancelledError(report, len(articles))
        return report

    def _derive(self, art: Article, cancelled: Cancelled | None = None) -> tuple[Any, ...]:
        sentences = split_sentences(art)
        chunks = chunk_article(art, self.chunk_params, sentences)
        texts = [c.text for c in chunks] + [s.text for s in sentences]
        if cancelled is None:
            vecs = self.embedder.embed(texts)
        else:  # a large article is embedded in slices, looking at `cancelled` between them
            parts = []
            for at in range(0, len(texts), _CANCEL_SLICE):
                if cancelled():
                    raise _Stopped
                parts.append(self.embedder.embed(texts[at:at + _CANCEL_SLICE]))
            vecs = np.concatenate(parts) if parts else self.embedder.embed([])
        if cancelled is not None and cancelled():
            raise _Stopped
        # The reader's candidate answers (named entities, noun chunks), found once here
        # rather than on every question that reads the sentence.
        spans = span_candidates([s.text for s in sentences])
        sentences = [replace(s, spans=tuple(sp)) for s, sp in zip(sentences, spans, strict=True)]
        return chunks, vecs[:len(chunks)], sentences, vecs[len(chunks):]

    def _add(self, art: Article, cancelled: Cancelled | None = None) -> int:
        chunks, cvecs, sents, svecs = self._derive(art, cancelled)
        self.store.add_article(art, chunks, cvecs, sents, svecs)
        return len(chunks)

    def reindex(self, progress: Progress | None = None) -> IngestReport:
        """Rebuild chunks, vectors and the keyword index from the stored article texts, with
        the current settings. Works on an index whose manifest no longer matches."""
        build = self._build_info()
        store = Store(self.settings.index_dir, build, self.settings.chroma_url, check=False)
        with store.writing():
            store.write_manifest(reindex_in_progress=True)
            store.clear_derived()
            articles = store.all_articles()
            total = 0
            for i, art in enumerate(articles):
                if progress:
                    progress(i, len(articles), art.title)
                chunks, cvecs, sents, svecs = self._derive(art)
                store.rederive_article(art, chunks, cvecs, sents, svecs)
                total += len(chunks)
            if progress:
                progress(len(articles), len(articles), "done")
            regroup(store)
            store.write_manifest()
        if self._store is not None:
            self._store.close()
        self._store = store
        return IngestReport(unchanged=tuple(a.id for a in articles), chunks_added=total)

    # --- articles --------------------------------------------------------------------------

    def list_articles(self, limit: int | None = None, offset: int = 0) -> list[ArticleSummary]:
        """Newest first; all of them, or the page `limit`/`offset`."""
        return self.store.list_articles(limit, offset)

    def article_count(self) -> int:
        return self.store.counts()["articles"]

    def find_articles(self, query: str, limit: int, offset: int = 0
                      ) -> tuple[list[ArticleSummary], int]:
        """Articles whose title, source or URL contains `query` (any case), newest first: the
        page `limit`/`offset` and how many match. An empty query matches all. A scan of the
        summaries (no text): fast enough for an archive a page browses, and no new index."""
        q = query.strip().casefold()
        if not q:
            return self.list_articles(limit, offset), self.article_count()
        hits = [a for a in self.list_articles()
                if q in a.title.casefold() or q in a.source.casefold()
                or q in (a.url or "").casefold()]
        return hits[offset:offset + limit], len(hits)

    def get_article(self, article_id: str) -> Article:
        return self.store.get_article(article_id)

    def delete_article(self, article_id: str) -> None:
        with self.store.writing():
            peers = group_peers(self.store, article_id)
            self.store.delete_article(article_id)
            regroup(self.store, peers, reset=True)  # it may have tied its group together
            self.store.write_manifest()

    # --- asking ----------------------------------------------------------------------------

    def validate_question(self, question: str) -> str:
        """The cleaned question, or `InputError` saying what is wrong with it."""
        if not isinstance(question, str):
            raise InputError("The question must be text.")
        q = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", question).strip()
        if not q:
            raise InputError("The question is empty.", hint="Ask something about the articles.")
        if len(q) > self.settings.max_question_chars:
            raise InputError(
                f"The question is {len(q):,} characters; the limit is "
                f"{self.settings.max_question_chars:,}.", hint="Ask a shorter question.")
        return q

    def _as_of(self, value: str | None) -> str | None:
        """The day a question is asked on: the given day, else the newest article's date."""
        if value is not None and str(value).strip():
            iso = parse_date(str(value))
            if iso is None:
                raise InputError(f"Unreadable as_of date {value!r}.", hint="Use YYYY-MM-DD.")
            return iso
        return self.store.date_span()[1]

    def _retriever(self) -> HybridRetriever:
        s = self.settings
        return HybridRetriever(self.store, s.candidate_k, s.rrf_k, s.keyword_max_postings)

    def retrieve(self, question: str, top_k: int | None = None, since: str | None = None,
                 until: str | None = None, include_undated: bool | None = None) -> list[Passage]:
        """The fused ranking (best first) without answering; used by the eval."""
        q = self.validate_question(question)
        return self._retriever().retrieve(
            q, self.embedder.embed_query(q), top_k or self.settings.top_k,
            self._date_range(since, until, include_undated))

    def _date_range(self, since: str | None, until: str | None,
                    include_undated: bool | None) -> DateRange:
        """since/until as a range; undated articles in it as asked, else as the settings say."""
        return date_range(since, until, self.settings.include_undated
                          if include_undated is None else include_undated)

    def ask(self, question: str, history: Sequence[Turn] | None = None,
            top_k: int | None = None, since: str | None = None,
            until: str | None = None, as_of: str | None = None,
            include_undated: bool | None = None) -> Answer:
        """Answer from the articles; `since`/`until` (YYYY-MM-DD) keep only articles dated
        inside that range (and undated ones with `include_undated`, default from the
        settings); `as_of` (YYYY-MM-DD, default the newest article's date) is the day
        "now", "this week" and "latest" mean."""
        if self.settings.backend != "extractive":  # LLM backends: see the section below
            return _final(self._generative(question, history, top_k, since, until, as_of,
                                           include_undated))
        return self._extractive(question, history, top_k, since, until, as_of,
                                include_undated)[0]

    def _extractive(self, question: str, history: Sequence[Turn] | None,
                    top_k: int | None, since: str | None = None,
                    until: str | None = None, as_of: str | None = None,
                    include_undated: bool | None = None) -> tuple[Answer, Sequence[Candidate]]:
        """The extractive answer and the ranked sentences it chose from."""
        t0 = time.perf_counter()
        q = self.validate_question(question)
        dates = self._date_range(since, until, include_undated)
        as_of = self._as_of(as_of)
        if top_k is not None and not 1 <= top_k <= 50:
            raise InputError(f"top_k must be between 1 and 50, not {top_k}.")
        query = self._condense(q, history)
        q_vec = self.embedder.embed_query(query.retrieval_text)
        retriever = self._retriever()
        found = retriever.search(query.retrieval_text, q_vec, top_k or self.settings.top_k, dates)
        passages = found.passages
        timings = {"retrieve": (time.perf_counter() - t0) * 1000}
        empty = not passages and not self.store.counts()["articles"]
        answer, ranked = self.learned.answer(
            query, q_vec, passages, sentence_candidates(self.store, passages), as_of, timings,
            empty_index=empty)
        timings.setdefault("rerank", 0.0)
        timings.setdefault("answer", 0.0)
        timings["total"] = (time.perf_counter() - t0) * 1000
        return replace(answer, question=q, timings_ms=timings,
                       standalone_question=query.standalone, as_of=as_of,
                       undated_left_out=found.undated_left_out), ranked

    @property
    def learned(self) -> LearnedAnswerer:
        """The learned reader (rag/learned.py), its models loaded once."""
        if self._learned is None and self._models_from is not None:
            self._learned = self._models_from.learned
        if self._learned is None:
            embedder = self.embedder  # outside the lock: the embedder takes it too
            with self._init_lock:
                if self._learned is None:
                    self._learned = load_learned(self.settings, embedder.embed)
        return self._learned

    def ask_stream(self, question: str, history: Sequence[Turn] | None = None,
                   top_k: int | None = None, since: str | None = None,
                   until: str | None = None, as_of: str | None = None,
                   include_undated: bool | None = None) -> Iterator[str | Answer]:
        """Yield text deltas (str) as the answer is produced, then the final `Answer` last.

        The extractive answer is complete at once; it is streamed in word groups so that every
        client handles one streaming protocol, whatever the backend. With an LLM backend the
        deltas are the model's reply as generated (its short answer first); the final `Answer`
        holds only what the checks accepted, cited from provenance, so its text may differ from
        the streamed reply.
        """
        if self.settings.backend != "extractive":
            yield from self._generative(question, history, top_k, since, until, as_of,
                                        include_undated)
            return
        answer = self.ask(question, history, top_k, since, until, as_of, include_undated)
        yield from re.findall(r"\S+\s*", answer.text)
        yield answer

    # --- LLM backends (issues 5 and 14; rag/generate.py) -------------------------------------

    @property
    def generator(self) -> Generator:
        if self._generator is None and self._models_from is not None:
            self._generator = self._models_from.generator
        if self._generator is None:
            with self._init_lock:
                if self._generator is None:
                    self._generator = Generator(
                        make_llm(self.settings),
                        max_tokens=min(self.settings.llm_max_tokens, REPLY_TOKENS),
                        n_sources=self.settings.llm_sources, fallback=self.settings.llm_fallback,
                        min_confidence=self.settings.llm_min_confidence,
                        answer_model=answer_model_for(self.settings),
                        answer_threshold=self.settings.llm_answer_threshold)
        return self._generator

    def _condense(self, q: str, history: Sequence[Turn] | None) -> Query:
        """Follow-ups: rewritten by the LLM when one is configured, else by rule."""
        query = condense(q, history)
        if self.settings.backend == "extractive" or not history or not is_followup(q):
            return query
        try:
            standalone = self.generator.condense(q, history)
        except BackendError:
            if not self.settings.llm_fallback:
                raise
            return query  # the answer step reports the backend error
        if not standalone:
            return query
        # A rewrite may drop what the user said ("Which president did they overthrow?" ->
        # "Who did the military overthrow?"): the words it lost still count, as context.
        lost = tuple(t for t in terms(q) if t not in set(terms(standalone)))
        if not lost:
            return Query(text=standalone, retrieval_text=standalone)
        return Query(text=standalone, retrieval_text=f"{standalone} {q}", context_terms=lost)

    def _generative(self, question: str, history: Sequence[Turn] | None,
                    top_k: int | None, since: str | None = None,
                    until: str | None = None, as_of: str | None = None,
                    include_undated: bool | None = None) -> Iterator[str | Answer]:
        # The model reads the learned reader's best-ranked sentences, whatever the reader
        # decided: it may find an answer the reader missed, or say NONE to one it chose.
        answer, ranked = self._extractive(question, history, top_k, since, until, as_of,
                                          include_undated)
        try:
            generator = self.generator
        except BackendError as exc:  # misconfigured: no model file, no server URL, ...
            if not self.settings.llm_fallback:
                raise
            yield from re.findall(r"\S+\s*", answer.text)
            yield replace(answer, backend_error=str(exc))
            return
        yield from generator.stream(answer.standalone_question or answer.question,
                                    answer, ranked)

    def stats(self) -> dict[str, Any]:
        counts = self.store.counts()
        manifest = self.store.read_manifest() or {}
        return {
            "version": __version__,
            "articles": counts["articles"],
            "chunks": counts["chunks"],
            "sentences": counts["sentences"],
            "embed_model": self.settings.embed_model,
            "backend": self.settings.backend,
            "index_dir": str(self.settings.index_dir),
            "updated_at": manifest.get("updated_at"),
            **self._coverage(),
        }

    def _coverage(self) -> dict[str, Any]:
        """What the index covers: date range, copy groups, when it last changed (readable)."""
        from datetime import UTC, datetime

        oldest, newest, _ = self.store.date_span()
        updated = (self.store.read_manifest() or {}).get("updated_at")
        return {
            "oldest_date": oldest,
            "newest_date": newest,
            "copy_groups": self.store.copy_group_count(),
            "last_changed": datetime.fromtimestamp(updated, UTC).isoformat(
                timespec="seconds") if updated else None,
        }

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


class _Stopped(Exception):
    """Raised inside an article's embedding when its ingest is cancelled."""


def _final(stream: Iterable[str | Answer]) -> Answer:
    """The `Answer` an answer stream ends with (the deltas before it are the draft)."""
    answer = None
    for item in stream:
        if isinstance(item, Answer):
            answer = item
    if answer is None:
        raise BackendError("The answer stream ended without an answer.")
    return answer
