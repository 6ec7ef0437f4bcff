"""Kept conversations and feedback on answers: one SQLite file beside the index
(`<index_dir>/chats.sqlite`).

A conversation belongs to one browser client (the page's `nr_client` cookie, ui/clients.py).
The cookie is a bearer secret, so only its SHA-256 is stored: the file alone does not let
anyone open another browser's conversations. A client that asks for a conversation it does not
own gets the same "not found" as for an id that never existed.

Each turn stores the answer in the JSON contract (`Answer.to_dict()`), which `answer_from_dict`
turns back into our frozen types, so a reopened conversation renders from `Answer.citations`
exactly as it did the first time. Feedback copies the question, the answer and its citations at
the moment it is given: deleting the conversation later does not lose the verdict.

A conversation belongs to one collection (rag/collections.py), the archive it was asked
against, so it reopens on that archive; feedback copies the name, since it outlives the
conversation. Version 1 of the store had no collection: opening one adds the column, every
existing row `main` (all there was then).

Every write is one transaction (WAL mode, one writer at a time), so a crash leaves either all of
it or none of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.collections import DEFAULT, validate_name
from rag.errors import IndexDamagedError, IndexMismatchError, InputError, NotFoundError
from rag.text import require_unicode
from rag.types import Answer, Chunk, Citation, Passage, ShortAnswer

SCHEMA_VERSION = 2  # 2: conversations and feedback name their collection
FILENAME = "chats.sqlite"
MAX_COMMENT_CHARS = 2_000
MAX_TITLE_CHARS = 80
MAX_TURNS = 1_000  # per conversation; past this a new conversation is needed
LISTED = 50  # conversations in a client's list, newest first

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
  id TEXT PRIMARY KEY, client TEXT NOT NULL, title TEXT NOT NULL,
  created_at REAL NOT NULL, updated_at REAL NOT NULL,
  collection TEXT NOT NULL DEFAULT 'main');
CREATE INDEX IF NOT EXISTS conversations_client ON conversations(client, updated_at);
CREATE TABLE IF NOT EXISTS turns (
  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  n INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, created_at REAL NOT NULL,
  PRIMARY KEY (conversation_id, n));
CREATE TABLE IF NOT EXISTS feedback (
  id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL, turn INTEGER NOT NULL,
  client TEXT NOT NULL, rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
  comment TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, created_at REAL NOT NULL,
  collection TEXT NOT NULL DEFAULT 'main', UNIQUE (conversation_id, turn));
"""
# Version 1 -> 2: the column `collection` on these tables (ALTER TABLE fills it with 'main').
_ADDED_IN_2 = ("conversations", "feedback")


# --- our types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationSummary:
    """A row of a client's list of past conversations."""

    id: str
    title: str
    created_at: float
    updated_at: float
    turns: int
    collection: str = DEFAULT


@dataclass(frozen=True)
class ChatTurn:
    n: int  # 0-based: the n-th answer of its conversation
    question: str
    answer: Answer
    created_at: float


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created_at: float
    updated_at: float
    turns: tuple[ChatTurn, ...]
    collection: str = DEFAULT


@dataclass(frozen=True)
class Feedback:
    """A 👍 (+1) or 👎 (-1) on one answer, with what was asked and answered."""

    id: int
    conversation_id: str
    turn: int
    rating: int
    comment: str
    question: str
    answer: Answer
    created_at: float
    collection: str = DEFAULT

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": _iso(self.created_at),
            "rating": "up" if self.rating > 0 else "down",
            "comment": self.comment,
            "question": self.question,
            "answer": self.answer.text,
            "abstained": self.answer.abstained,
            "citations": [c.to_dict() for c in self.answer.citations],
            "conversation_id": self.conversation_id,
            "turn": self.turn,
            "collection": self.collection,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the JSON contract back into our types ---------------------------------------------------


def answer_from_dict(d: Mapping[str, Any]) -> Answer:
    """The inverse of `Answer.to_dict()` for what it serialises (timings, citations, nearest
    passages, short answer): `answer_from_dict(a.to_dict()).to_dict() == a.to_dict()`."""
    try:
        short = d.get("short_answer")
        return Answer(
            question=str(d["question"]), text=str(d["answer"]), abstained=bool(d["abstained"]),
            citations=tuple(_citation(c) for c in d.get("citations", [])),
            passages=tuple(_passage(p) for p in d.get("nearest_passages", [])),
            timings_ms={str(k): float(v) for k, v in d.get("timings_ms", {}).items()},
            standalone_question=d.get("standalone_question"),
            confidence=float(d.get("confidence", 0.0)),
            backend=str(d.get("backend", "extractive")),
            removed=tuple(d.get("removed", ())),
            backend_error=d.get("backend_error"),
            short_answer=ShortAnswer(str(short["text"]), str(short["article_id"]),
                                     int(short["start"]), int(short["end"]),
                                     int(short["citation"])) if short else None,
            as_of=d.get("as_of"),
            undated_left_out=int(d.get("undated_left_out", 0)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"A stored answer is malformed ({type(exc).__name__}: {exc}).",
                         hint="Delete that conversation; newer answers are stored whole.") from exc


def _citation(c: Mapping[str, Any]) -> Citation:
    return Citation(
        n=int(c["n"]), article_id=str(c["article_id"]), title=str(c["title"]), date=c["date"],
        source=str(c["source"]), chunk_id=str(c["chunk_id"]), quote=str(c["quote"]),
        start=int(c["start"]), end=int(c["end"]), score=float(c["score"]),
        also_reported_by=tuple(c.get("also_reported_by", ())), url=c.get("url"),
        date_inferred=bool(c.get("date_inferred", False)))


def _passage(p: Mapping[str, Any]) -> Passage:
    chunk_id = str(p["chunk_id"])
    index = chunk_id.rpartition(":")[2]
    chunk = Chunk(chunk_id, str(p["article_id"]), int(index) if index.isdigit() else 0,
                  str(p["text"]), int(p["start"]), int(p["end"]))
    return Passage(chunk, str(p["title"]), p["date"], str(p["source"]), float(p["score"]))


def _answer_json(answer: Answer) -> str:
    try:  # allow_nan=False: NaN is not JSON, and would not read back
        return json.dumps(answer.to_dict(), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise InputError(f"The answer cannot be stored: {exc}.",
                         hint="This is a bug in the answerer; the chat still shows it.") from exc


# --- the store -------------------------------------------------------------------------------


class History:
    """Conversations and feedback in one SQLite file. Thread-safe (the page's events run in
    worker threads): one connection, one lock, one transaction per write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                    timeout=10)
        try:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA foreign_keys=ON")
            version = self._con.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._con.close()
            raise IndexDamagedError(
                f"The chat store {self.path} is damaged ({exc}).",
                hint="Move it away to start a new chat history; the article index is not "
                "affected.") from exc
        if version > SCHEMA_VERSION:
            self._con.close()
            raise IndexMismatchError(
                f"{self.path} was written by a newer newsrag (chat store version {version}, "
                f"this one reads {SCHEMA_VERSION}).",
                hint="Upgrade newsrag, or move the file away to start a new chat history.")
        self._create_or_migrate()

    def _create_or_migrate(self) -> None:
        """The schema, any column an older store lacks, and the version: one transaction."""
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            for table in _ADDED_IN_2:
                columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
                if "collection" not in columns:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN "
                                f"collection TEXT NOT NULL DEFAULT '{DEFAULT}'")
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            con.execute("ROLLBACK")
            con.close()
            raise
        con.execute("COMMIT")

    @classmethod
    def beside(cls, index_dir: Path) -> History:
        return cls(Path(index_dir) / FILENAME)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    class _Tx:
        def __init__(self, history: History) -> None:
            self.h = history

        def __enter__(self) -> sqlite3.Connection:
            self.h._lock.acquire()
            self.h._con.execute("BEGIN IMMEDIATE")
            return self.h._con

        def __exit__(self, exc_type: object, *_: object) -> None:
            try:
                self.h._con.execute("COMMIT" if exc_type is None else "ROLLBACK")
            finally:
                self.h._lock.release()

    def _tx(self) -> History._Tx:
        return History._Tx(self)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    # --- conversations ----------------------------------------------------------------------

    def start(self, client: str, question: str, first: Answer | None = None,
              collection: str = DEFAULT) -> str:
        """A new conversation titled by its first question, asked against `collection`; with
        `first`, that answer is its turn 0 in the same transaction. Returns its id."""
        owner = _owner(client)
        collection = validate_name(collection)
        title = _title(question)
        conv = uuid.uuid4().hex[:16]
        now = time.time()
        answer = _answer_json(first) if first is not None else None
        with self._tx() as con:
            con.execute("INSERT INTO conversations (id, client, title, created_at, "
                        "updated_at, collection) VALUES (?, ?, ?, ?, ?, ?)",
                        (conv, owner, title, now, now, collection))
            if answer is not None:
                con.execute("INSERT INTO turns VALUES (?, 0, ?, ?, ?)",
                            (conv, question.strip(), answer, now))
        return conv

    def add_turn(self, client: str, conversation_id: str, question: str,
                 answer: Answer) -> int:
        """Appends a question and its answer; returns the turn's number."""
        owner = _owner(client)
        require_unicode(question, "The question")
        stored = _answer_json(answer)
        now = time.time()
        with self._tx() as con:
            self._own(con, owner, conversation_id)
            n = con.execute("SELECT COUNT(*) FROM turns WHERE conversation_id = ?",
                            (conversation_id,)).fetchone()[0]
            if n >= MAX_TURNS:
                raise InputError(f"This conversation has {MAX_TURNS} answers already.",
                                 hint="Start a new chat.")
            con.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?)",
                        (conversation_id, n, question.strip(), stored, now))
            con.execute("UPDATE conversations SET updated_at = ? WHERE id = ?",
                        (now, conversation_id))
        return int(n)

    def conversations(self, client: str, limit: int = LISTED) -> list[ConversationSummary]:
        rows = self._read(
            "SELECT c.id, c.title, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id), c.collection "
            "FROM conversations c WHERE c.client = ? ORDER BY c.updated_at DESC, c.rowid DESC "
            "LIMIT ?", (_owner(client), limit))
        return [ConversationSummary(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def conversation(self, client: str, conversation_id: str) -> Conversation:
        owner = _owner(client)
        with self._lock:
            head = self._con.execute(
                "SELECT id, title, created_at, updated_at, collection FROM conversations "
                "WHERE id = ? AND client = ?", (conversation_id, owner)).fetchone()
            rows = self._con.execute(
                "SELECT n, question, answer, created_at FROM turns WHERE conversation_id = ? "
                "ORDER BY n", (conversation_id,)).fetchall()
        if head is None:
            raise _no_conversation(conversation_id)
        turns = tuple(ChatTurn(r[0], r[1], answer_from_dict(json.loads(r[2])), r[3])
                      for r in rows)
        return Conversation(head[0], head[1], head[2], head[3], turns, head[4])

    def delete(self, client: str, conversation_id: str) -> None:
        owner = _owner(client)
        with self._tx() as con:
            self._own(con, owner, conversation_id)
            con.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    @staticmethod
    def _own(con: sqlite3.Connection, owner: str, conversation_id: str) -> None:
        row = con.execute("SELECT 1 FROM conversations WHERE id = ? AND client = ?",
                          (conversation_id, owner)).fetchone()
        if row is None:
            raise _no_conversation(conversation_id)

    # --- feedback ---------------------------------------------------------------------------

    def rate(self, client: str, conversation_id: str, turn: int, rating: int,
             comment: str = "") -> Feedback:
        """👍 (`rating` +1) or 👎 (-1) on answer `turn`; rating it again replaces the verdict."""
        owner = _owner(client)
        if rating not in (-1, 1):
            raise InputError(f"A rating is +1 or -1, not {rating!r}.",
                             hint="Send 1 for a good answer, -1 for a bad one.")
        require_unicode(comment, "The comment")
        comment = comment.strip()
        if len(comment) > MAX_COMMENT_CHARS:
            raise InputError(f"The comment is longer than {MAX_COMMENT_CHARS:,} characters "
                             f"({len(comment):,}).", hint="Shorten it.")
        now = time.time()
        with self._tx() as con:
            self._own(con, owner, conversation_id)
            row = con.execute(
                "SELECT t.question, t.answer, c.collection FROM turns t JOIN conversations c "
                "ON c.id = t.conversation_id WHERE t.conversation_id = ? AND t.n = ?",
                (conversation_id, turn)).fetchone()
            if row is None:
                raise NotFoundError(f"Conversation {conversation_id!r} has no answer {turn}.",
                                    hint="Reload the page: the chat may have been deleted.")
            cur = con.execute(
                "INSERT INTO feedback (conversation_id, turn, client, rating, comment, question,"
                " answer, created_at, collection) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (conversation_id, turn) DO UPDATE SET rating = excluded.rating, "
                "comment = excluded.comment, created_at = excluded.created_at RETURNING id",
                (conversation_id, turn, owner, rating, comment, row[0], row[1], now, row[2]))
            fid = cur.fetchone()[0]
        return Feedback(fid, conversation_id, turn, rating, comment, row[0],
                        answer_from_dict(json.loads(row[1])), now, row[2])

    def clear_rating(self, client: str, conversation_id: str, turn: int) -> None:
        """The 👍 clicked again: the answer has no verdict any more."""
        owner = _owner(client)
        with self._tx() as con:
            self._own(con, owner, conversation_id)
            con.execute("DELETE FROM feedback WHERE conversation_id = ? AND turn = ?",
                        (conversation_id, turn))

    def feedback(self) -> Iterator[Feedback]:
        """Every verdict, oldest first (the export)."""
        rows = self._read("SELECT id, conversation_id, turn, rating, comment, question, answer,"
                          " created_at, collection FROM feedback ORDER BY created_at, id")
        for r in rows:
            yield Feedback(r[0], r[1], r[2], r[3], r[4], r[5],
                           answer_from_dict(json.loads(r[6])), r[7], r[8])


def export_feedback(history: History, out: Path) -> int:
    """Every verdict as JSON lines in `out`, written whole or not at all (a temporary file in
    the same folder, renamed over `out`). Returns how many were written."""
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for fb in history.feedback():
                f.write(json.dumps(fb.to_dict(), ensure_ascii=False) + "\n")
                n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def _owner(client: str | None) -> str:
    if not client or not client.strip():
        raise InputError("This browser has no client id, so its chats cannot be kept.",
                         hint="Allow cookies for this site and reload the page.")
    return hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()


def _title(question: str) -> str:
    require_unicode(question, "The question")
    words = " ".join(question.split())
    if not words:
        raise InputError("A conversation starts with a question.", hint="Ask something first.")
    return words if len(words) <= MAX_TITLE_CHARS else words[:MAX_TITLE_CHARS - 1] + "…"


def _no_conversation(conversation_id: str) -> NotFoundError:
    return NotFoundError(f"No conversation {conversation_id!r}.",
                         hint="It may have been deleted; the list shows the ones kept.")

