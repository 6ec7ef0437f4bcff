"""Bad input at every entry point: a clear error or a correct answer, never a crash, and a
rejected input leaves the index exactly as it was.

One table per edge (CLI, HTTP API, upload, chat UI). Each row is an input and what must come
back. The pipeline is real (SQLite + Chroma on disk) with the fake embedder.
"""

from __future__ import annotations

import json
import logging
import os
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
KEY = "s3cret-key"  # the API key of the locked servers, here and in test_bad_input_served.py


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
        "surrogate.json": b'{"title": "t", "text": "A lone \\ud800 half of a pair."}',
        "pdf.txt": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n",
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
    ("question not UTF-8", ["ask", "When \udcff did it end?"]),
    ("path not UTF-8", ["ingest", "{tmp}/caf\udce9.txt"]),
    ("JSON with a lone surrogate", ["ingest", "{surrogate.json}"]),
    ("PDF named .txt", ["ingest", "{pdf.txt}"]),
    ("a FIFO", ["ingest", "{tmp}/pipe.txt"]),
    ("a device", ["ingest", "/dev/zero"]),
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
    os.mkfifo(tmp_path / "pipe.txt")  # nobody writes to it: reading it would wait forever
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


JSON_TYPE = {"content-type": "application/json"}
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
    ("lone surrogate question", "POST", "/api/ask", {"content": b'{"question": "x \\ud800"}',
                                                     "headers": JSON_TYPE}),
    ("lone surrogate history", "POST", "/api/ask", {"content": b'{"question": "why?", '
                                                    b'"history": [{"role": "user", "content": '
                                                    b'"\\udfff"}]}', "headers": JSON_TYPE}),
    ("lone surrogate chat", "POST", "/v1/chat/completions", {"content": b'{"messages": [{"role"'
                                                             b': "user", "content": "x \\ud800"}]}',
                                                             "headers": JSON_TYPE}),
    ("body not UTF-8", "POST", "/api/ask", {"content": b'{"question": "caf\xe9"}',
                                           "headers": JSON_TYPE}),
    ("huge offset", "GET", "/api/articles?offset=99999999999999999999", {}),
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
    error = body.get("error")
    error = error if isinstance(error, dict) else body  # /v1 nests it, OpenAI style
    assert error.get("code", error.get("error")) != "http_error", body  # a documented code
    assert snapshot(pipe) == before


UPLOAD_REJECTED = [
    ("empty", "a.txt", b"", 400), ("binary", "a.txt", bytes(range(256)), 400),
    ("invalid UTF-8", "a.txt", b"caf\xe9", 400), ("malformed JSON", "a.json", b"{x", 400),
    ("unsupported type", "a.exe", b"MZ\x90\x00", 415), ("no name", "", b"text here.", 4),
    ("oversize", "a.txt", b"word " * 20_000, 413),
    ("nested JSON", "a.json", ("[" * 20_000 + "]" * 20_000).encode(), 400),
    ("lone surrogate", "a.json", b'{"text": "A lone \\ud800 half."}', 400),
    ("PDF named .txt", "a.txt", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 415),
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


def test_a_rejected_upload_request_stores_none_of_its_files(client: TestClient,
                                                             pipe: Pipeline) -> None:
    before = snapshot(pipe)
    r = client.post("/api/articles", files=[
        ("file", ("good.txt", b"Port strike ends\n\nDockers in Tema went back to work.",
                  "text/plain")),
        ("file", ("empty.txt", b"", "text/plain"))])
    assert r.status_code == 400 and "empty.txt" in r.json()["message"]
    assert snapshot(pipe) == before


def test_uploads_with_the_same_name_keep_each_other(client: TestClient, pipe: Pipeline) -> None:
    texts = [b"Bridge closes\n\nThe Volta bridge closed on Monday for repairs.",
             b"Bridge reopens\n\nThe Volta bridge reopened on Friday after repairs."]
    first = client.post("/api/articles", files={"file": ("story.txt", texts[0])}).json()
    second = client.post("/api/articles", files={"file": ("story.txt", texts[1])}).json()
    ids = [first["added"][0], second["added"][0]]
    assert second["removed"] == [] and {a.id for a in pipe.list_articles()} >= set(ids)
    paths = [client.post("/api/articles", files={"file": (name, b"Cron news\n\n" + word)})
             .json()["added"][0] for name, word in
             [("../../etc/x.txt", b"One thing happened."), ("/etc/cron.d/x.txt", b"Another.")]]
    assert {a.id for a in pipe.list_articles()} >= set(ids + paths)
    # Asked to replace, an upload replaces every earlier upload of that name.
    r = client.post("/api/articles?replace=true", files={"file": ("story.txt", b"Bridge "
                    b"news\n\nThe Volta bridge opened to lorries on Sunday.")}).json()
    assert sorted(r["removed"]) == sorted(ids) and r["replaced"]
    for aid in r["replaced"] + paths:
        pipe.delete_article(aid)


def test_an_unexpected_error_is_a_json_500_logged_once(
    pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipe, "stats", broken)
    with caplog.at_level(logging.ERROR):  # the server logs whatever leaves the app: nothing
        r = TestClient(create_app(pipe, pipe.settings)).get("/api/health")
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert "disk on fire" not in r.text
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert len(logged) == 1 and "GET /api/health" in logged[0].getMessage()


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
    from ui import articles, chat

    before = snapshot(pipe)
    # An over-long question becomes an error bubble, not an exception.
    display = _last(chat.respond(pipe, pipe.settings, "x" * 5000, chat.new_state()))[0]
    assert "Error" in display[-1]["content"]
    # An empty question does nothing.
    assert len(list(chat.respond(pipe, pipe.settings, "   ", chat.new_state()))) == 1
    # Bad uploads are listed as problems; nothing is stored.
    files = _files(tmp_path)
    bad = [str(files["binary.txt"]), str(files["doc.pdf"]), str(files["big.txt"])]
    status, _, _ = articles.upload_files(pipe, pipe.settings, bad, received=bad)
    assert status.count("binary") + status.count("Unsupported") + status.count("larger") >= 3
    # Deleting nothing, or something unknown, explains itself.
    assert "Choose" in articles.delete_selected(pipe, None)[0]
    assert "No article" in articles.delete_selected(pipe, "nope")[0]
    assert snapshot(pipe) == before


def test_batch_line_with_a_lone_surrogate_is_an_error_line_and_the_rest_go_on(
    pipe: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"question": "x \\ud800"}\n{"question": "When must US troops leave?"}\n')
    monkeypatch.setattr(cli, "_pipeline", lambda s: pipe)
    monkeypatch.setattr(pipe, "close", lambda: None)
    code = cli.main(["--index-dir", str(pipe.settings.index_dir), "ask", "--batch", str(batch),
                     "--json"])
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 2 and "Traceback" not in err
    assert lines[0]["line"] == 1 and lines[0]["error"] == "bad_input"
    assert "answer" in lines[1]


def test_ui_chat_with_a_lone_surrogate_is_an_error_bubble(pipe: Pipeline) -> None:
    from ui import chat

    for message in ["x \ud800", "When must US troops leave? \udcff"]:
        out = _last(chat.respond(pipe, pipe.settings, message, chat.new_state()))
        assert "Error" in out[0][-1]["content"]
        json.dumps(out[0], ensure_ascii=False).encode()  # what Gradio sends must encode


def test_ui_upload_with_a_bad_file_stores_none_and_same_names_coexist(
        pipe: Pipeline, tmp_path: Path) -> None:
    from ui import articles

    paths = []
    for i, text in enumerate(["Mine reopens\n\nThe Obuasi mine reopened on Monday.",
                              "Mine closes\n\nThe Obuasi mine closed on Tuesday."]):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "mine.txt").write_text(text)
        paths.append(str(tmp_path / str(i) / "mine.txt"))
    (tmp_path / "empty.txt").write_bytes(b"")
    before = snapshot(pipe)
    bad = [paths[0], str(tmp_path / "empty.txt")]
    status, _, _ = articles.upload_files(pipe, pipe.settings, bad, received=bad)
    assert "empty.txt" in status and "Nothing was stored" in status
    assert snapshot(pipe) == before
    status, _, _ = articles.upload_files(pipe, pipe.settings, paths, received=paths)
    added = [a for a in pipe.list_articles() if a.title.startswith("Mine ")]
    assert len(added) == 2, status
    for a in added:
        pipe.delete_article(a.id)


def test_ui_upload_refuses_a_path_gradio_did_not_receive(pipe: Pipeline, tmp_path: Path) -> None:
    from ui import articles

    memo = tmp_path / "memo.txt"
    memo.write_text("Memo\n\nThe vault code is 4471.\n")
    before = snapshot(pipe)
    status, _, _ = articles.upload_files(pipe, pipe.settings, [str(memo)], received=set())
    assert "not uploaded to this server" in status
    assert snapshot(pipe) == before


# --- the key, the body size and wrong keys, in process ---------------------------------------

@pytest.fixture
def locked_client(pipe: Pipeline) -> TestClient:
    return TestClient(create_app(pipe, pipe.settings, api_key=KEY),
                      raise_server_exceptions=False)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc"])
def test_api_docs_need_the_key_when_one_is_set(locked_client: TestClient, path: str) -> None:
    assert locked_client.get(path).status_code == 401
    assert locked_client.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_wrong_keys_from_one_address_are_locked_out(locked_client: TestClient) -> None:
    codes = [locked_client.get("/api/health", headers={"Authorization": f"Bearer guess{i}"})
             .status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    r = locked_client.get("/api/health", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"  # even the right key


def test_wrong_page_passwords_are_locked_out(pipe: Pipeline) -> None:
    from ui.server import create_server_app

    with TestClient(create_server_app(pipe, pipe.settings, api_key=KEY)) as c:
        codes = [c.post("/login", data={"username": "x", "password": f"guess{i}"}).status_code
                 for i in range(11)]
    assert 429 not in codes[:10] and codes[10] == 429


@pytest.mark.parametrize("path", ["/api/ask", "/v1/chat/completions"])
def test_json_bodies_over_a_mebibyte_are_refused_unread(client: TestClient, pipe: Pipeline,
                                                        path: str) -> None:
    before = snapshot(pipe)
    body = json.dumps({"question": "why?", "history": [
        {"role": "user", "content": "x" * 1000}] * 1100}).encode()
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.text
    assert snapshot(pipe) == before


@pytest.mark.parametrize("origins", ["cms.example.org", "https://cms.example.org/path",
                                     "https://a.org, ftp://b.org", "*, https://a.org"])
def test_serve_refuses_allowed_origins_that_are_not_origins_before_loading_anything(
        origins: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    import rag.serve

    def never(*_: Any) -> None:
        raise AssertionError("the models were loaded before the settings were checked")

    monkeypatch.setattr(rag.serve, "prepare", never)
    monkeypatch.setenv("NEWSRAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("NEWSRAG_ALLOWED_ORIGINS", origins)
    assert cli.main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "NEWSRAG_ALLOWED_ORIGINS" in err and "is not an origin" in err


def test_allowed_origins_are_parsed_into_cors_and_frame_ancestors() -> None:
    from rag.http_guard import frame_ancestors, parse_origins

    assert parse_origins("") == []
    assert parse_origins(" https://cms.example.org/ ,http://127.0.0.1:8000") == [
        "https://cms.example.org", "http://127.0.0.1:8000"]
    assert parse_origins("*") == ["*"]
    assert frame_ancestors([]) == "frame-ancestors 'self'"
    assert frame_ancestors(["*"]) == "frame-ancestors *"
