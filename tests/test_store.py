import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexDamagedError, IndexLockedError, IndexMismatchError, NotFoundError
from rag.manifest import SCHEMA_VERSION, BuildInfo
from rag.pipeline import Pipeline
from rag.store import Store
from rag.types import Article, Chunk, Sentence
from tests.conftest import FakeEmbedder, make_settings

BUILD = BuildInfo(embed_model="fake", embed_dim=4, chunking={"target_words": 1})


def _article(i: int) -> tuple[Article, list[Chunk], np.ndarray, list[Sentence], np.ndarray]:
    text = f"Article {i} says one thing. It says another."
    art = Article(id=f"art{i}", title=f"Title {i}", text=text, origin=f"/o/{i}")
    chunks = [Chunk(id=f"art{i}:0", article_id=art.id, index=0, text=text, start=0,
                    end=len(text))]
    sents = [Sentence(art.id, 0, 0, 27, text[:27]), Sentence(art.id, 1, 28, len(text), text[28:])]
    vec = np.eye(4, dtype=np.float32)[[i % 4]]
    return art, chunks, vec, sents, np.eye(4, dtype=np.float32)[[0, 1]]


def test_add_get_search_delete_round_trip(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    for i in range(3):
        store.add_article(*_article(i))
    store.write_manifest()
    assert store.counts() == {"articles": 3, "chunks": 3, "sentences": 6}
    assert store.get_article("art1").text.startswith("Article 1")
    assert store.dense_search(np.eye(4, dtype=np.float32)[1], 1)[0][0] == "art1:0"
    assert store.keyword_search(["1"], 5)[0][0] == "art1:0"
    assert [s[1:3] for s in store.sentences_in("art1", 0, 999)] == [(0, 27), (28, 42)]
    store.delete_article("art1")
    assert store.counts()["articles"] == 2 and store.vector_count() == 2
    with pytest.raises(NotFoundError):
        store.get_article("art1")
    with pytest.raises(NotFoundError):
        store.delete_article("art1")


def test_manifest_mismatch_asks_for_reindex(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    store.write_manifest()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["embed_model"] == "fake"
    other = BuildInfo(embed_model="other", embed_dim=4, chunking=BUILD.chunking)
    with pytest.raises(IndexMismatchError, match="newsrag reindex"):
        Store(tmp_path, other)
    manifest["schema_version"] = 99
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="schema version 99"):
        Store(tmp_path, BUILD)


def test_a_second_writer_process_is_refused_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
         str(tmp_path / "write.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError, match="Another newsrag process"):
            store.add_article(*_article(0))
    finally:
        holder.kill()
        holder.wait()
    store.add_article(*_article(0))  # free again once the other writer is gone
    assert store.counts()["articles"] == 1


def test_interrupted_add_is_rolled_back_on_open(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    art, chunks, vec, _, _ = _article(0)
    # Simulate a crash after the vectors were written but before the article committed.
    con = store._conn()
    with con:
        con.execute("INSERT INTO pending VALUES (?, 'add')", (art.id,))
    store._upsert_vectors(art, chunks, vec)
    assert store.vector_count() == 1
    store.close()
    reopened = Store(tmp_path, BUILD)
    assert reopened.vector_count() == 0 and reopened.counts()["articles"] == 0
    assert reopened._conn().execute("SELECT COUNT(*) FROM pending").fetchone()[0] == 0


def test_a_reader_opens_beside_a_live_writer_and_leaves_its_journal(tmp_path: Path) -> None:
    writer = Store(tmp_path, BUILD)
    writer.add_article(*_article(1))
    writer.write_manifest()
    art, chunks, vec, _, _ = _article(0)
    with writer.writing():  # a live writer, between its journal entry and its commit
        con = writer._conn()
        with con:
            con.execute("INSERT INTO pending VALUES (?, 'add')", (art.id,))
        writer._upsert_vectors(art, chunks, vec)
        reader = Store(tmp_path, BUILD)  # `newsrag list` meanwhile: never refused
        assert [a.id for a in reader.list_articles()] == ["art1"]
        assert reader._conn().execute("SELECT COUNT(*) FROM pending").fetchone()[0] == 1
        assert reader.vector_count() == 2  # the writer's vectors are left alone
        reader.close()
    writer.close()  # it died before its commit: the next open rolls its entry back
    reopened = Store(tmp_path, BUILD)
    assert reopened.vector_count() == 1
    assert reopened._conn().execute("SELECT COUNT(*) FROM pending").fetchone()[0] == 0


def test_reindex_rebuilds_derived_data_and_keeps_every_article(tmp_path: Path) -> None:
    pipe = Pipeline(make_settings(tmp_path / "i"), embedder=FakeEmbedder())
    pipe.ensure_sample_corpus()
    before = {a.id for a in pipe.list_articles()}
    chunks_before = pipe.stats()["chunks"]
    # Other chunking settings make the old index unreadable until it is rebuilt.
    other = Pipeline(make_settings(tmp_path / "i", chunk_target_words=60, chunk_min_words=30),
                     embedder=FakeEmbedder())
    with pytest.raises(IndexMismatchError):
        other.list_articles()
    other.reindex()
    assert {a.id for a in other.list_articles()} == before
    assert other.stats()["chunks"] > chunks_before
    assert other.store.vector_count() == other.stats()["chunks"]


def test_a_version_1_index_asks_for_reindex_and_reindex_upgrades_it(tmp_path: Path) -> None:
    import sqlite3

    settings = make_settings(tmp_path / "index")
    pipe = Pipeline(settings, embedder=FakeEmbedder())
    pipe.ensure_sample_corpus()
    pipe.close()
    # Make it look like an index written by schema 1: no group column, old manifest.
    con = sqlite3.connect(tmp_path / "index" / "store.sqlite")
    con.execute("DROP INDEX articles_group")
    con.execute("DROP INDEX articles_copies")
    con.execute("ALTER TABLE articles DROP COLUMN group_id")
    con.commit()
    con.close()
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "schema_version": 1}))
    with pytest.raises(IndexMismatchError, match="newsrag reindex"):
        Pipeline(settings, embedder=FakeEmbedder()).store  # noqa: B018
    pipe = Pipeline(settings, embedder=FakeEmbedder())
    pipe.reindex()
    assert pipe.ask("When must US troops leave Niger?").citations
    pipe.close()


def test_a_batch_is_stored_whole_with_one_vector_write(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    store.add_articles([_article(i) for i in range(6)])
    store.write_manifest()
    assert store.counts() == {"articles": 6, "chunks": 6, "sentences": 12}
    assert store.vector_count() == 6
    assert store._conn().execute("SELECT COUNT(*) FROM pending").fetchone()[0] == 0
    # A batch that fails in SQLite (a duplicate id) commits nothing; its vectors are rolled
    # back on the next open by the journal.
    with pytest.raises(sqlite3.IntegrityError):
        store.add_articles([_article(7), _article(0)])
    store.close()
    reopened = Store(tmp_path, BUILD)
    assert reopened.counts()["articles"] == 6
    assert not reopened.has_article("art7")
    assert reopened.vector_count() == 6


def test_copy_group_count_counts_groups_of_more_than_one(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    for i in range(4):
        store.add_article(*_article(i))
    assert store.copy_group_count() == 0
    store.set_group(["art0", "art1"], "art0")
    store.set_group(["art2"], "art2")  # a reset singleton names itself
    assert store.copy_group_count() == 1 == len(store.groups())
    store.set_group(["art2", "art3"], "art2")
    assert store.copy_group_count() == 2 == len(store.groups())


def _true_counts(path: Path) -> dict[str, int]:
    con = sqlite3.connect(path / "store.sqlite")
    out = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
           for t in ("articles", "chunks", "sentences")}
    con.close()
    return out


def test_counts_are_kept_by_triggers_through_every_write(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    assert store.counts() == {"articles": 0, "chunks": 0, "sentences": 0}
    store.add_articles([_article(i) for i in range(3)])
    store.delete_article("art1")
    assert store.counts() == _true_counts(tmp_path) == {"articles": 2, "chunks": 2,
                                                        "sentences": 4}
    store.clear_derived()
    assert store.counts() == _true_counts(tmp_path) == {"articles": 2, "chunks": 0,
                                                        "sentences": 0}
    store.close()


def test_an_index_from_before_the_tallies_is_counted_once_on_open(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    store.add_articles([_article(i) for i in range(3)])
    store.write_manifest()
    store.close()
    con = sqlite3.connect(tmp_path / "store.sqlite")
    for name, in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    con.execute("DROP TABLE tallies")
    con.commit()
    con.close()
    store = Store(tmp_path, BUILD)
    assert store.counts() == {"articles": 3, "chunks": 3, "sentences": 6}
    store.add_article(*_article(5))
    assert store.counts() == _true_counts(tmp_path)
    store.close()


def test_articles_are_listed_newest_first_a_page_at_a_time(tmp_path: Path) -> None:
    store = Store(tmp_path, BUILD)
    batch = []
    for i, date in enumerate(["2024-05-01", None, "2024-05-20", "2023-01-09"]):
        art, *rest = _article(i)
        batch.append((Article(id=art.id, title=art.title, text=art.text, origin=art.origin,
                              date=date), *rest))
    store.add_articles(batch)
    everything = [a.id for a in store.list_articles()]
    assert everything == ["art2", "art0", "art3", "art1"]  # undated last
    assert [a.id for a in store.list_articles(2)] == everything[:2]
    assert [a.id for a in store.list_articles(2, 2)] == everything[2:]
    assert store.list_articles(5, 4) == []


# --- damage: reported on open, found by `newsrag doctor`, repaired by `newsrag reindex` -------

QUESTION = "When must US troops leave Niger?"


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A closed index of the sample articles (fake embedder), ready to be damaged."""
    pipe = Pipeline(make_settings(tmp_path / "index"), embedder=FakeEmbedder())
    pipe.ensure_sample_corpus()
    pipe.close()
    return tmp_path / "index"


def _pipe(index: Path) -> Pipeline:
    return Pipeline(make_settings(index), embedder=FakeEmbedder())


def _cli(index: Path, *argv: str, monkeypatch: pytest.MonkeyPatch) -> int:
    from rag import cli

    monkeypatch.setattr(cli, "_pipeline", lambda s: Pipeline(s, embedder=FakeEmbedder()))
    monkeypatch.setenv("NEWSRAG_SAMPLE_DIR", str(make_settings(index).sample_dir))
    return cli.main(["--index-dir", str(index), *argv])


def test_doctor_finds_a_healthy_index_healthy(built: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(built, "doctor", "--json", monkeypatch=monkeypatch) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and {c["check"] for c in report["checks"]} >= {
        "settings", "manifest", "articles", "vectors", "sqlite", "journal"}


def test_a_removed_chroma_folder_is_reported_and_reindex_repairs_it(
        built: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.rmtree(built / "chroma")
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # as a new process would find it
    with pytest.raises(IndexDamagedError, match="0 vectors for 18 chunks"):
        _pipe(built).ask(QUESTION)
    assert _cli(built, "status", monkeypatch=monkeypatch) == 3
    assert "newsrag reindex" in capsys.readouterr().err
    assert _cli(built, "doctor", monkeypatch=monkeypatch) == 3
    assert "FAIL  vectors" in capsys.readouterr().out
    assert _cli(built, "reindex", monkeypatch=monkeypatch) == 0
    assert _cli(built, "doctor", monkeypatch=monkeypatch) == 0
    assert _pipe(built).ask(QUESTION).citations


def test_an_emptied_store_sqlite_is_reported_not_taken_for_a_new_index(built: Path) -> None:
    (built / "store.sqlite").write_bytes(b"")
    for extra in ("-wal", "-shm"):
        (built / f"store.sqlite{extra}").unlink(missing_ok=True)
    pipe = _pipe(built)
    with pytest.raises(IndexDamagedError, match="no articles; the manifest counts 5"):
        pipe.ensure_sample_corpus()
    with pytest.raises(IndexDamagedError, match="restore it from a backup"):
        pipe.ask(QUESTION)


def test_a_corrupt_store_sqlite_is_a_clear_error_and_doctor_names_it(
        built: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ("-wal", "-shm"):
        (built / f"store.sqlite{extra}").unlink(missing_ok=True)
    with (built / "store.sqlite").open("r+b") as f:
        f.write(b"\xde\xad" * 50)  # the header
    assert _cli(built, "list", monkeypatch=monkeypatch) == 3
    err = capsys.readouterr().err
    assert "damaged" in err and "store.sqlite" in err and "Traceback" not in err
    assert _cli(built, "doctor", monkeypatch=monkeypatch) == 3
    assert "FAIL  sqlite" in capsys.readouterr().out


def test_a_corrupt_page_is_found_by_doctor(built: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    con = sqlite3.connect(built / "store.sqlite")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.close()
    with (built / "store.sqlite").open("r+b") as f:  # scribble over a page in the middle
        f.seek(4096 * (pages // 2) + 8)
        f.write(b"\xff" * 2000)
    assert _cli(built, "doctor", monkeypatch=monkeypatch) == 3
    assert "FAIL  sqlite" in capsys.readouterr().out


def test_an_unreadable_manifest_is_repaired_by_reindex(
        built: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (built / "manifest.json").write_text("{not json")
    assert _cli(built, "list", monkeypatch=monkeypatch) == 3
    assert "newsrag reindex" in capsys.readouterr().err
    assert _cli(built, "reindex", monkeypatch=monkeypatch) == 0
    assert _cli(built, "doctor", monkeypatch=monkeypatch) == 0


def test_a_missing_manifest_is_reported_and_no_samples_are_added(
        built: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (built / "manifest.json").unlink()
    pipe = _pipe(built)
    with pytest.raises(IndexDamagedError, match=r"manifest.json is missing .* 5 articles"):
        pipe.ensure_sample_corpus()
    assert _cli(built, "reindex", monkeypatch=monkeypatch) == 0
    capsys.readouterr()
    assert _cli(built, "list", monkeypatch=monkeypatch) == 0
    assert capsys.readouterr().out.strip().endswith("5 articles")


def test_sentence_spans_round_trip_and_unknown_ones_read_as_none(tmp_path: Path) -> None:
    from rag.store import decode_spans, encode_spans
    from rag.types import SpanCandidate

    art, chunks, vec, sents, svecs = _article(1)
    spans = (SpanCandidate("Article 1", 0, 9, "WORK_OF_ART"), SpanCandidate("thing", 19, 24,
                                                                             "NOUN_CHUNK"))
    sents[0] = Sentence(art.id, 0, 0, 27, art.text[:27], spans)  # sents[1]: none found
    store = Store(tmp_path, BUILD)
    store.add_article(art, chunks, vec, sents, svecs)
    first, second = store.sentences_in(art.id, 0, 999)
    assert first.span_candidates(art.text[:27]) == spans
    assert second.spans is None and second.span_candidates(art.text[28:]) is None
    assert decode_spans(encode_spans(()), "x") == ()
    # Stored spans that do not fit the sentence, or are not ours, are found again, not trusted.
    for raw in ('[[0,99,"ORG"]]', '[[3,1,"ORG"]]', "not json", '[["a","b","ORG"]]', "[1]"):
        assert decode_spans(raw, "Short text") is None, raw


def test_an_index_from_before_spans_opens_and_still_answers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "index")
    pipe = Pipeline(settings, embedder=FakeEmbedder())
    pipe.ensure_sample_corpus()
    want = pipe.ask("When must US troops leave Niger?")
    pipe.close()
    # The sentences table as it was before spans were found at ingest.
    con = sqlite3.connect(tmp_path / "index" / "store.sqlite")
    con.execute("ALTER TABLE sentences DROP COLUMN spans")
    con.commit()
    con.close()
    pipe = Pipeline(settings, embedder=FakeEmbedder())
    got = pipe.ask("When must US troops leave Niger?")
    assert (got.text, got.short_answer) == (want.text, want.short_answer)
    stored = pipe.store.sentences_in(got.citations[0].article_id, 0, 10**9)
    assert stored and all(s.spans is None for s in stored)
    pipe.close()
