"""Collections (rag/collections.py): independent archives in one index folder, through the
library, the CLI and the HTTP API, with real stores (SQLite + Chroma on disk) and the fake
embedder; the real server is driven by httpx and the openai client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.collections import Collections, collection_dir, list_collections, validate_name
from rag.errors import InputError, NotFoundError
from rag.pipeline import Pipeline
from rag.serve import BackgroundServer, create_server_app, free_port
from rag.settings import Settings
from tests.conftest import FakeEmbedder

CRICKET = ("Title: Cricket final\n\nThe cricket final was won by Zanzibar on 3 March 2024 at "
           "the national stadium in Stone Town. The captain said it was the best day of his "
           "life.\n")
QUESTION = "Who won the cricket final?"


@pytest.fixture
def cricket(tmp_path: Path) -> Path:
    path = tmp_path / "cricket.txt"
    path.write_text(CRICKET)
    return path


@pytest.fixture
def colls(settings: Settings) -> Iterator[Collections]:
    c = Collections(settings, main=Pipeline(settings, embedder=FakeEmbedder()))
    yield c
    c.close()


@pytest.mark.parametrize("name", ["", "Sports", "../main", "a/b", "..", ".hidden", "-x",
                                  "x" * 41, "sports\n", "spörts", "main/../x", "/tmp/x"])
def test_a_name_that_is_not_a_plain_name_is_bad_input(name: str) -> None:
    with pytest.raises(InputError, match="not a valid collection name"):
        validate_name(name)


def test_plain_names_are_kept_and_none_is_main(tmp_path: Path) -> None:
    assert validate_name(None) == "main"
    assert validate_name("desk_2-x") == "desk_2-x"
    assert collection_dir(tmp_path, "main") == tmp_path  # an old index is main, unmoved
    assert collection_dir(tmp_path, "sports") == tmp_path / "collections" / "sports"


def test_an_index_made_before_collections_is_main(settings: Settings) -> None:
    old = Pipeline(settings, embedder=FakeEmbedder())  # how every index was made before
    old.ensure_sample_corpus()
    ids = {a.id for a in old.list_articles()}
    old.close()
    c = Collections(settings, main=Pipeline(settings, embedder=FakeEmbedder()))
    try:
        assert {a.id for a in c.get("main").list_articles()} == ids
        assert [(i.name, i.articles) for i in c.names()] == [("main", len(ids))]
    finally:
        c.close()


def test_collections_are_separate_archives_sharing_the_models(
        colls: Collections, cricket: Path) -> None:
    main = colls.get()
    main.ensure_sample_corpus()
    sports = colls.get("sports", create=True)
    report = sports.ingest([cricket])
    assert len(report.added) == 1
    assert (collection_dir(colls.settings.index_dir, "sports") / "manifest.json").exists()
    assert [a.title for a in sports.list_articles()] == ["Title: Cricket final"]
    assert "Title: Cricket final" not in {a.title for a in main.list_articles()}
    answer = sports.ask(QUESTION)
    assert not answer.abstained
    assert {c.article_id for c in answer.citations} == set(report.added)
    assert "Zanzibar" in answer.text
    # The models load once: every collection uses main's.
    assert sports.embedder is main.embedder
    assert sports.learned is main.learned
    names = {i.name: i.articles for i in colls.names()}
    assert names == {"main": len(main.list_articles()), "sports": 1}


def test_an_unknown_collection_is_not_found_and_not_created(colls: Collections) -> None:
    with pytest.raises(NotFoundError, match="no collection 'sports'"):
        colls.get("sports")
    assert not (colls.settings.index_dir / "collections" / "sports").exists()
    assert [i.name for i in list_collections(colls.settings.index_dir)] == ["main"]


def test_at_most_max_open_pipelines_are_kept(settings: Settings, cricket: Path) -> None:
    c = Collections(settings, main=Pipeline(settings, embedder=FakeEmbedder()), max_open=1)
    try:
        a = c.get("a", create=True)
        a.ingest([cricket])
        b = c.get("b", create=True)
        b.ingest([cricket])
        assert list(c._open) == ["b"]
        again = c.get("a")  # reopened from disk, the same archive
        assert again is not a
        assert len(again.list_articles()) == 1
    finally:
        c.close()


def test_many_threads_opening_one_collection_get_one_pipeline(colls: Collections,
                                                              cricket: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    colls.get("sports", create=True).ingest([cricket])
    colls._open.clear()  # as if just started: opened lazily by whoever asks first
    with ThreadPoolExecutor(8) as pool:
        pipes = list(pool.map(lambda _: colls.get("sports"), range(32)))
        answers = list(pool.map(lambda p: p.ask(QUESTION), pipes))
    assert len({id(p) for p in pipes}) == 1
    assert all("Zanzibar" in a.text for a in answers)


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_ingests_asks_and_lists_per_collection(run: Any, cricket: Path) -> None:
    code, out, _ = run("ingest", "--collection", "sports", str(cricket))
    assert (code, out.split(",")[0]) == (0, "added 1")
    code, out, _ = run("--collection", "sports", "list", "--json")  # the global form
    assert [a["title"] for a in json.loads(out)] == ["Title: Cricket final"]
    code, out, _ = run("ask", QUESTION, "--collection", "sports", "--json")
    body = json.loads(out)
    assert code == 0 and "Zanzibar" in body["answer"]
    code, out, _ = run("list", "--json")  # main: the sample articles, not the cricket
    assert "Title: Cricket final" not in {a["title"] for a in json.loads(out)}
    code, out, _ = run("collections", "--json")
    assert code == 0
    assert [(c["name"], c["articles"] > 0) for c in json.loads(out)] == [
        ("main", True), ("sports", True)]
    code, out, _ = run("status", "--collection", "sports")
    assert json.loads(out)["articles"] == 1


def test_cli_with_a_chroma_server_lists_main_alone_and_refuses_another_collection(
        run: Any, cricket: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("ingest", "--collection", "sports", str(cricket))[0] == 0
    # Nothing listens there: refusing the name must not need the server.
    monkeypatch.setenv("NEWSRAG_CHROMA_URL", "http://127.0.0.1:9")
    code, out, _ = run("collections", "--json")
    assert (code, [c["name"] for c in json.loads(out)]) == (0, ["main"])
    code, out, err = run("ask", QUESTION, "--collection", "sports")
    assert code == 2 and "chroma_url" in err and "Zanzibar" not in out


@pytest.mark.parametrize("argv", [("list", "--collection", "nope"),
                                  ("ask", "Who won?", "--collection", "nope"),
                                  ("delete", "abc", "--collection", "nope"),
                                  ("doctor", "--collection", "nope")])
def test_cli_unknown_collection_exits_2_and_creates_nothing(run: Any, tmp_path: Path,
                                                           argv: tuple[str, ...]) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert "no collection 'nope'" in err
    assert not (tmp_path / "index" / "collections" / "nope").exists()


def test_cli_hostile_collection_name_exits_2(run: Any, tmp_path: Path, cricket: Path) -> None:
    code, _, err = run("ingest", "--collection", "../escape", str(cricket))
    assert code == 2
    assert "not a valid collection name" in err
    assert not (tmp_path / "escape").exists()


# --- the HTTP API, on a real server ------------------------------------------------------------


@pytest.fixture
def server(settings: Settings, cricket: Path) -> Iterator[BackgroundServer]:
    main = Pipeline(settings, embedder=FakeEmbedder())
    main.ensure_sample_corpus()
    app = create_server_app(main, settings, api_key="")
    with BackgroundServer(app, free_port()) as srv:
        yield srv
    app.state.collections.close()


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def test_api_upload_creates_a_collection_that_ask_and_list_follow(http: httpx.Client) -> None:
    r = http.post("/api/articles", params={"collection": "sports"},
                  files={"file": ("cricket.txt", CRICKET.encode())})
    assert r.status_code == 201, r.text
    added = r.json()["added"]
    body = http.post("/api/ask", json={"question": QUESTION, "collection": "sports"}).json()
    assert "Zanzibar" in body["answer"]
    assert {c["article_id"] for c in body["citations"]} == set(added)
    for c in body["citations"]:  # the article is read from the same collection
        art = http.get(f"/api/articles/{c['article_id']}",
                       params={"collection": "sports"}).json()
        assert art["text"][c["start"]:c["end"]] == c["quote"]
    assert http.get(f"/api/articles/{added[0]}").status_code == 404  # not in main
    page = http.get("/api/articles", params={"collection": "sports"}).json()
    assert [a["id"] for a in page["articles"]] == added
    main_ids = {a["id"] for a in http.get("/api/articles").json()["articles"]}
    assert main_ids and not main_ids & set(added)
    listed = http.get("/api/collections").json()["collections"]
    assert [(c["name"], c["articles"]) for c in listed] == [("main", len(main_ids)),
                                                            ("sports", 1)]
    health = http.get("/api/health", params={"collection": "sports"}).json()
    assert (health["collection"], health["articles"]) == ("sports", 1)
    r = http.delete(f"/api/articles/{added[0]}", params={"collection": "sports"})
    assert r.json() == {"deleted": added[0]}
    assert http.get("/api/articles", params={"collection": "sports"}).json()["total"] == 0


def test_api_unknown_collection_is_404_and_a_bad_name_400(http: httpx.Client,
                                                         settings: Settings) -> None:
    r = http.post("/api/ask", json={"question": QUESTION, "collection": "nope"})
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert http.get("/api/articles", params={"collection": "nope"}).status_code == 404
    for bad in ("../main", "A", "x/y"):
        r = http.post("/api/ask", json={"question": QUESTION, "collection": bad})
        assert r.status_code == 400, bad
        assert "not a valid collection name" in r.json()["message"]
        r = http.post("/api/articles", params={"collection": bad},
                      files={"file": ("cricket.txt", CRICKET.encode())})
        assert r.status_code == 400, bad
    assert not (settings.index_dir / "collections").exists()


def test_v1_takes_the_collection_field_or_the_model_suffix(http: httpx.Client,
                                                           server: BackgroundServer) -> None:
    from openai import OpenAI

    http.post("/api/articles", params={"collection": "sports"},
              files={"file": ("cricket.txt", CRICKET.encode())}).raise_for_status()
    client = OpenAI(base_url=server.url + "/v1", api_key="unused")
    ids = [m.id for m in client.models.list()]
    assert ids == ["newsrag", "newsrag:sports"]
    messages: Any = [{"role": "user", "content": QUESTION}]
    by_field = client.chat.completions.create(model="newsrag", messages=messages,
                                              extra_body={"collection": "sports"})
    by_model = client.chat.completions.create(model="newsrag:sports", messages=messages)
    from_main = client.chat.completions.create(model="newsrag", messages=messages)
    for done in (by_field, by_model):
        assert "Zanzibar" in (done.choices[0].message.content or "")
    assert "Zanzibar" not in (from_main.choices[0].message.content or "")
    r = http.post("/v1/chat/completions", json={"model": "newsrag:nope", "messages": messages})
    assert r.status_code == 404


def test_openapi_shows_the_collection_fields_and_models(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "collection" in schemas["AskRequest"]["properties"]
    assert "collection" in schemas["ChatCompletionRequest"]["properties"]
    assert "CollectionListOut" in schemas
    ok = spec["paths"]["/api/collections"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/CollectionListOut")
    params = {p["name"] for p in spec["paths"]["/api/articles"]["get"]["parameters"]}
    assert "collection" in params
