"""The SQLite side of the index: its tables, the triggers that keep row counts, and the
migration of older indexes, run on every open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, date_inferred INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL, url TEXT, author TEXT, origin TEXT NOT NULL, text TEXT NOT NULL,
    chunk_count INTEGER NOT NULL, added_at REAL NOT NULL, group_id TEXT
);
CREATE INDEX IF NOT EXISTS articles_origin ON articles(origin);
CREATE INDEX IF NOT EXISTS articles_date ON articles(date);
CREATE INDEX IF NOT EXISTS articles_added ON articles(added_at);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, article_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE TABLE IF NOT EXISTS sentences (
    article_id TEXT NOT NULL, idx INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    vec BLOB NOT NULL, spans TEXT, PRIMARY KEY (article_id, idx)
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(terms, chunk_id UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TABLE IF NOT EXISTS pending (article_id TEXT PRIMARY KEY, op TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tallies (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
""" + "".join(
    # Row counts kept by triggers in the same transaction as the rows: COUNT(*) reads the whole
    # table (seconds at a million chunks), and /api/health and every manifest write need them.
    f"CREATE TRIGGER IF NOT EXISTS {t}_tally_{op} AFTER {event} ON {t} BEGIN "
    f"UPDATE tallies SET n = n {sign} 1 WHERE name = '{t}'; END;\n"
    for t in ("articles", "chunks", "sentences")
    for op, event, sign in (("ins", "INSERT", "+"), ("del", "DELETE", "-"))
)
TALLIED = ("articles", "chunks", "sentences")



def connect(path: Path) -> sqlite3.Connection:
    """A connection as the store uses it (one per thread: connections are not shared)."""
    con = sqlite3.connect(path, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA recursive_triggers=ON")  # a REPLACE's delete updates tallies too
    return con


def open_tables(con: sqlite3.Connection) -> None:
    """Create what is missing and bring an older index up to this schema."""
    with con:
        con.executescript(SCHEMA)
        cols = {r[1] for r in con.execute("PRAGMA table_info(articles)")}
        if "group_id" not in cols:  # a version-1 index being reindexed
            con.execute("ALTER TABLE articles ADD COLUMN group_id TEXT")
        if "spans" not in {r[1] for r in con.execute("PRAGMA table_info(sentences)")}:
            # An index from before spans were found at ingest: its sentences are read at
            # question time until `newsrag reindex` (NULL = not found yet).
            con.execute("ALTER TABLE sentences ADD COLUMN spans TEXT")
        con.execute("CREATE INDEX IF NOT EXISTS articles_group ON articles(group_id)")
        # Copies are few: a partial index of them makes counting copy groups instant.
        con.execute("CREATE INDEX IF NOT EXISTS articles_copies ON articles(group_id) "
                    "WHERE group_id != id")
        if con.execute("SELECT COUNT(*) FROM tallies").fetchone()[0] < len(TALLIED):
            # An index from before the tallies (or a new one): count once, from then on
            # the triggers keep the figures.
            con.executemany("INSERT OR REPLACE INTO tallies VALUES (?, ?)", [
                (t, con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in TALLIED])
