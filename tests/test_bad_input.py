"""Bad input at every entry point: a clear error or a correct answer, never a crash, and a
rejected input leaves the index exactly as it was.

One table per edge (CLI, HTTP API, upload, chat UI). Each row is an input and what must come
back. The pipeline is real (SQLite + Chroma on disk) with the fake embedder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag import cli
from rag.api import create_app
from rag.pipeline import Pipeline
from tests.conftest import SAMPLE_DIR, FakeEmbedder, make_settings

RTL = "متى يجب أن تغادر القوات الأمريكية النيجر؟"
EMOJI = "🇳🇪🪖 When do the troops leave? 🤔"
NESTED = "[" * 50_000 + "]" * 50_000


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    p = Pipeline(make_settings(tmp_path_factory.mktemp("bad") / "index",
                               max_file_bytes=50_000), embedder=FakeEmbedder())
    p.ingest([SAMPLE_DIR])
    yield p
    p.close()


def snapshot(p: Pipeline) -> tuple[Any, ...]:
    return (sorted(a.id for a in p.list_articles()), p.stats()["chunks"],
            p.store.vector_count())


# --- CLI -----------------------------------------------------------------------------------

def _files(tmp: Path) -> dict[str, Path]:
    specs: dict[str, bytes] = {
        "empty.txt": b"", "blank.md": b"   \n\n\t", "binary.txt": bytes(range(256)),
        "latin1.txt": "Café crème, naïve".encode("latin-1"),
        "malformed.json": b'{"title": "x", "text": ', "nested.json": NESTED.encode(),
        "badline.jsonl": b'{"text": "fine here."}\n{"text": \n',
        "notext.json": b'{"title": "No body"}', "numtitle.json": b'{"title": 5, "text": "ok."}',
        "scalar.json": b"42", "doc.pdf": b"%PDF-1.7 ...", "noext": b"text without a type",
        "boiler.txt": b"Share This\nCATEGORIES\nauthor-image\n",
        "scripts.html": b"<html><script>alert(1)</script><style>p{}</style></html>",
        "big.txt": b"word " * 20_000, "ctrl.txt": b"\x01\x02\x03\x1b[31m",
    }
    out = {}
    for name, data in specs.items():
        (tmp / name).write_bytes(data)
        out[name] = tmp / name
    return out


CLI_REJECTED = [
    ("empty question", ["ask", ""]),
    ("blank question", ["ask", " \n\t "]),
    ("long question", ["ask", "why " * 600]),
    ("control characters only", ["ask", "\x00\x01\x02"]),
    ("no question", ["ask"]),
    ("question and batch", ["ask", "why?", "--batch", "{tmp}/q.jsonl"]),
    ("missing path", ["ingest", "{tmp}/does-not-exist"]),
    ("empty file", ["ingest", "{empty.txt}"]),
    ("blank markdown", ["ingest", "{blank.md}"]),
    ("binary file", ["ingest", "{binary.txt}"]),
    ("invalid UTF-8", ["ingest", "{latin1.txt}"]),
    ("malformed JSON", ["ingest", "{malformed.json}"]),
    ("deeply nested JSON", ["ingest", "{nested.json}"]),
    ("bad JSONL line", ["ingest", "{badline.jsonl}"]),
    ("JSON without text", ["ingest", "{notext.json}"]),
    ("JSON with a non-string title", ["ingest", "{numtitle.json}"]),
    ("JSON scalar", ["ingest", "{scalar.json}"]),
    ("unsupported type", ["ingest", "{doc.pdf}"]),
    ("no extension", ["ingest", "{noext}"]),
    ("only boilerplate", ["ingest", "{boiler.txt}"]),
    ("HTML without text", ["ingest", "{scripts.html}"]),
    ("oversize file", ["ingest", "{big.txt}"]),
    ("control characters file", ["ingest", "{ctrl.txt}"]),
    ("unknown id to show", ["show", "0123456789abcdef"]),
    ("unknown id to delete", ["delete", "../../etc/passwd"]),
    ("top-k zero", ["ask", "why?", "--top-k", "0"]),
    ("history not JSON", ["ask", "why?", "--history", "{tmp}/bad-history.json"]),
    ("history wrong shape", ["ask", "why?", "--history", "{tmp}/dict-history.json"]),
    ("missing batch file", ["ask", "--batch", "{tmp}/none.jsonl"]),
]


@pytest.mark.parametrize(("case", "argv"), CLI_REJECTED, ids=[c for c, _ in CLI_REJECTED])
def test_cli_rejects_with_exit_2_and_changes_nothing(
    case: str, argv: list[str], pipe: Pipeline, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    files = _files(tmp_path)
    (tmp_path / "bad-history.json").write_text("[{")
    (tmp_path / "dict-history.json").write_text(json.dumps({"role": "user"}))
    (tmp_path / "q.jsonl").write_text('{"question": "why?"}\n')
    args = [str(files[a[1:-1]]) if a[1:-1] in files else a.replace("{tmp}", str(tmp_path))
            for a in argv]
    monkeypatch.setenv("NEWSRAG_INDEX_DIR", str(pipe.settings.index_dir))
    monkeypatch.setenv("NEWSRAG_MAX_FILE_BYTES", "50000")
    monkeypatch.setattr(cli, "_pipeline", lambda s: pipe)
    monkeypatch.setattr(pipe, "close", lambda: None)
    before = snapshot(pipe)
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2, (case, err)
    assert err.startswith("newsrag: error: ") and "Traceback" not in err
    assert snapshot(pipe) == before


@pytest.mark.parametrize("question", [RTL, EMOJI, "<script>alert(1)</script>?",
                                      "When\tmust\u200b US troops leave Niger?",
                                      "'; DROP TABLE articles; --"])
def test_odd_but_valid_questions_get_an_answer_or_an_abstention(pipe: Pipeline,
                                                                 question: str) -> None:
    before = snapshot(pipe)
    ans = pipe.ask(question)
    assert ans.text and (ans.abstained or ans.citations)
    for c in ans.citations:
        assert pipe.get_article(c.article_id).text[c.start:c.end] == c.quote
    assert snapshot(pipe) == before


def test_rtl_emoji_and_control_characters_in_articles_round_trip(pipe: Pipeline,
                                                                 tmp_path: Path) -> None:
    f = tmp_path / "intl.txt"
    f.write_text(f"{RTL}\nThe parade 🎉 closed Main Street on Friday.\x07 Officials cheered.")
    report = pipe.ingest([f])
    art = pipe.get_article(report.added[0])
    assert RTL in art.text and "🎉" in art.text and "\x07" not in art.text
    ans = pipe.ask("When did the parade close Main Street?")
    for c in ans.citations:
        assert art.text[c.start:c.end] == c.quote or c.article_id != art.id
    pipe.delete_article(art.id)


# --- HTTP API ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(pipe: Pipeline) -> TestClient:
    return TestClient(create_app(pipe, pipe.settings), raise_server_exceptions=False)


API_REJECTED: list[tuple[str, str, str, dict[str, Any]]] = [
    ("empty body", "POST", "/api/ask", {"content": b""}),
    ("malformed JSON", "POST", "/api/ask", {"content": b"{bad", "headers": {
        "content-type": "application/json"}}),
    ("JSON list", "POST", "/api/ask", {"json": ["why?"]}),
    ("no question", "POST", "/api/ask", {"json": {}}),
    ("empty question", "POST", "/api/ask", {"json": {"question": ""}}),
    ("number question", "POST", "/api/ask", {"json": {"question": 42}}),
    ("huge question", "POST", "/api/ask", {"json": {"question": "x" * 100_000}}),
    ("top_k zero", "POST", "/api/ask", {"json": {"question": "why?", "top_k": 0}}),
    ("top_k huge", "POST", "/api/ask", {"json": {"question": "why?", "top_k": 10**9}}),
    ("history wrong shape", "POST", "/api/ask", {"json": {"question": "why?", "history": "x"}}),
    ("history bad role", "POST", "/api/ask", {"json": {"question": "why?", "history": [
        {"role": "wizard", "content": "x"}]}}),
    ("deeply nested body", "POST", "/api/ask", {"content": ('{"question": ' + NESTED + "}")
                                                .encode(), "headers": {
        "content-type": "application/json"}}),
    ("unknown article", "GET", "/api/articles/0123456789abcdef", {}),
    ("traversal id", "GET", "/api/articles/..%2F..%2Fetc%2Fpasswd", {}),
    ("delete unknown", "DELETE", "/api/articles/nope", {}),
    ("no messages", "POST", "/v1/chat/completions", {"json": {"model": "newsrag",
                                                              "messages": []}}),
    ("no user message", "POST", "/v1/chat/completions", {"json": {"messages": [
        {"role": "system", "content": "be brief"}]}}),
    ("empty user message", "POST", "/v1/chat/completions", {"json": {"messages": [
        {"role": "user", "content": "  "}]}}),
]


@pytest.mark.parametrize(("case", "method", "url", "kw"), API_REJECTED,
                         ids=[c[0] for c in API_REJECTED])
def test_api_rejects_with_4xx_json_and_changes_nothing(
    case: str, method: str, url: str, kw: dict[str, Any], client: TestClient, pipe: Pipeline,
) -> None:
    before = snapshot(pipe)
    r = client.request(method, url, **kw)
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text[:300])
    body = r.json()
    assert body and "Traceback" not in r.text
    assert snapshot(pipe) == before


UPLOAD_REJECTED = [
    ("empty", "a.txt", b"", 400), ("binary", "a.txt", bytes(range(256)), 400),
    ("invalid UTF-8", "a.txt", b"caf\xe9", 400), ("malformed JSON", "a.json", b"{x", 400),
    ("unsupported type", "a.exe", b"MZ\x90\x00", 415), ("no name", "", b"text here.", 4),
    ("oversize", "a.txt", b"word " * 20_000, 413),
    ("nested JSON", "a.json", ("[" * 20_000 + "]" * 20_000).encode(), 400),
]


@pytest.mark.parametrize(("case", "name", "data", "status"), UPLOAD_REJECTED,
                         ids=[c[0] for c in UPLOAD_REJECTED])
def test_uploads_are_rejected_clearly_and_change_nothing(
    case: str, name: str, data: bytes, status: int, client: TestClient, pipe: Pipeline,
) -> None:
    before = snapshot(pipe)
    r = client.post("/api/articles", files={"file": (name, data, "application/octet-stream")})
    if status == 4:
        assert 400 <= r.status_code < 500
    else:
        assert r.status_code == status, (case, r.text[:300])
    assert r.json() and snapshot(pipe) == before


def test_upload_names_cannot_escape_and_scripts_stay_text(client: TestClient,
                                                          pipe: Pipeline, tmp_path: Path) -> None:
    evil = "../../../../tmp/evil-newsrag.txt"
    r = client.post("/api/articles", files={"file": (
        evil, b"<script>alert(1)</script> The mayor <img src=x onerror=alert(2)> spoke today.",
        "text/plain")})
    assert r.status_code in (200, 201), r.text
    assert not Path("/tmp/evil-newsrag.txt").exists()
    added = r.json()["added"][0]
    art = pipe.get_article(added)
    assert "<script>" in art.text  # stored as data, verbatim
    assert ".." not in art.source and "/" not in art.source
    pipe.delete_article(added)


# --- chat UI handlers ----------------------------------------------------------------------

def _last(gen: Iterator[tuple[Any, ...]]) -> tuple[Any, ...]:
    items = list(gen)
    assert items
    return items[-1]


def test_ui_handlers_turn_bad_input_into_messages(pipe: Pipeline, tmp_path: Path) -> None:
    from ui import app

    before = snapshot(pipe)
    # An over-long question becomes an error bubble, not an exception.
    display = _last(app.respond(pipe, pipe.settings, "x" * 5000, app._new_state()))[0]
    assert "Error" in display[-1]["content"]
    # An empty question does nothing.
    assert len(list(app.respond(pipe, pipe.settings, "   ", app._new_state()))) == 1
    # Bad uploads are listed as problems; nothing is stored.
    files = _files(tmp_path)
    status, _, _ = app.upload_files(pipe, pipe.settings, [str(files["binary.txt"]),
                                                          str(files["doc.pdf"]),
                                                          str(files["big.txt"])])
    assert status.count("binary") + status.count("Unsupported") + status.count("larger") >= 3
    # Deleting nothing, or something unknown, explains itself.
    assert "Choose" in app.delete_selected(pipe, None)[0]
    assert "No article" in app.delete_selected(pipe, "nope")[0]
    assert snapshot(pipe) == before
