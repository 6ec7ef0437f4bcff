"""NEWSRAG_CHROMA_URL: the vectors live in a Chroma server (`chroma run`) shared by several
pipelines, e.g. several server workers and an ingest job, instead of the embedded store."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.pipeline import Pipeline
from tests.conftest import SAMPLE_DIR, FakeEmbedder, make_settings

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    exe = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(exe), "run", "--path", str(tmp_path / "chroma-server"),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("chroma run did not start")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_pipelines_share_vectors_through_a_chroma_server(tmp_path: Path,
                                                             chroma_url: str) -> None:
    settings = make_settings(tmp_path / "index", chroma_url=chroma_url)
    writer = Pipeline(settings, embedder=FakeEmbedder())
    report = writer.ingest([SAMPLE_DIR])
    assert len(report.added) == 5
    # Nothing vector-shaped is written locally: the embedded Chroma folder does not exist.
    assert not (tmp_path / "index" / "chroma").exists()
    reader = Pipeline(settings, embedder=FakeEmbedder())  # a second worker
    assert reader.store.vector_count() == writer.stats()["chunks"]
    ans = reader.ask("Where is the US drone base?")
    for c in ans.citations:
        assert reader.get_article(c.article_id).text[c.start:c.end] == c.quote
    writer.delete_article(report.added[0])
    assert reader.store.vector_count() == writer.stats()["chunks"]


CRICKET = ("Cricket final\n\nThe cricket final was won by Zanzibar on 3 March 2024 at the "
           "national stadium in Stone Town.\n")


def test_with_a_chroma_server_only_main_is_served_and_another_collection_is_a_clear_400(
        tmp_path: Path, chroma_url: str) -> None:
    from rag.collections import collection_dir, open_pipeline
    from rag.serve import BackgroundServer, create_server_app, free_port

    index = tmp_path / "index"
    # A desk's archive made in the embedded store, before the switch to a Chroma server.
    sports = open_pipeline(make_settings(index), "sports", create=True,
                           models_from=Pipeline(make_settings(index), embedder=FakeEmbedder()))
    (tmp_path / "cricket.txt").write_text(CRICKET)
    sports.ingest([tmp_path / "cricket.txt"])
    sports.close()

    settings = make_settings(index, chroma_url=chroma_url)
    main = Pipeline(settings, embedder=FakeEmbedder())
    main.ensure_sample_corpus()
    app = create_server_app(main, settings, api_key="")
    messages = [{"role": "user", "content": "Who won the cricket final?"}]
    with BackgroundServer(app, free_port()) as srv, httpx.Client(base_url=srv.url,
                                                                 timeout=60) as http:
        ok = http.post("/api/ask", json={"question": "Where is the US drone base?"})
        assert ok.status_code == 200 and ok.json()["citations"]  # main, from the server
        refused = [
            http.post("/api/ask", json={"question": "Who won the cricket final?",
                                        "collection": "sports"}),
            http.get("/api/articles", params={"collection": "sports"}),
            http.post("/api/articles", params={"collection": "weather"},
                      files={"file": ("cricket.txt", CRICKET.encode())}),
            http.post("/v1/chat/completions", json={"model": "newsrag:sports",
                                                    "messages": messages}),
        ]
        for r in refused:  # never an answer from main in its place
            assert r.status_code == 400, r.text
            body = r.json()
            err = body.get("error")
            message = err["message"] if isinstance(err, dict) else body["message"]
            assert "chroma_url" in message and "Zanzibar" not in r.text
        assert [c["name"] for c in http.get("/api/collections").json()["collections"]] == [
            "main"]
        assert [m["id"] for m in http.get("/v1/models").json()["data"]] == ["newsrag"]
    app.state.collections.close()
    assert not collection_dir(index, "weather").exists()
