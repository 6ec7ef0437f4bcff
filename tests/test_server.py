"""The real server (real Pipeline, real models, tmp index) driven the ways newsroom tools use it:
gradio_client, the openai client, httpx against /api, and many askers at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from rag.http_guard import RequestGuard
from rag.serve import BackgroundServer, free_port, prepare
from rag.settings import Settings
from tests.conftest import ferry_feed
from ui.server import create_server_app

pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")
QUESTION = "When must US troops leave Niger?"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="module")
def server(index_dir: Path) -> Iterator[BackgroundServer]:
    os.environ.pop("NEWSRAG_API_KEY", None)
    settings = Settings.load({"index_dir": index_dir}, env={})
    pipeline = prepare(settings)  # ingests the sample corpus into the empty tmp index
    app = create_server_app(pipeline, settings, api_key="")
    with BackgroundServer(app, free_port()) as srv:
        yield srv
    pipeline.close()


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _assert_cited(body: dict[str, Any], http: httpx.Client) -> None:
    """Every marker has a citation and every quote is the article's text at its span."""
    assert body["abstained"] is False
    assert body["citations"]
    for c in body["citations"]:
        assert f"[{c['n']}]" in body["answer"]
        article = http.get(f"/api/articles/{c['article_id']}").json()
        assert article["text"][c["start"]:c["end"]] == c["quote"]


def test_api_ask_answers_the_niger_question_with_a_verifiable_citation(
        http: httpx.Client) -> None:
    r = http.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200
    body = r.json()
    _assert_cited(body, http)
    assert "[1]" in body["answer"]
    assert any("September" in c["quote"] for c in body["citations"])


def test_api_follow_up_uses_history(http: httpx.Client) -> None:
    first = http.post("/api/ask", json={"question": "Who leads Niger's military junta?"}).json()
    history = [{"role": "user", "content": "Who leads Niger's military junta?"},
               {"role": "assistant", "content": first["answer"]}]
    r = http.post("/api/ask", json={"question": "When must their US troops leave?",
                                    "history": history})
    assert r.status_code == 200
    assert r.json()["citations"] or r.json()["abstained"]


def test_api_bad_requests_are_json_4xx(http: httpx.Client) -> None:
    assert http.post("/api/ask", json={"question": ""}).status_code == 400
    assert http.post("/api/ask", json={"top_k": 3}).status_code == 422
    r = http.post("/api/ask", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = http.get("/api/articles/doesnotexist")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


def test_api_upload_list_delete_keep_list_and_index_consistent(http: httpx.Client) -> None:
    before = {a["id"] for a in http.get("/api/articles").json()["articles"]}
    text = ("Zanzibar ferry strike ends\n\nThe Zanzibar ferry workers ended their strike on "
            "Tuesday after the port authority agreed to a 12 percent pay rise.\n")
    r = http.post("/api/articles", files={"file": ("ferry.txt", text.encode())})
    assert r.status_code == 201, r.text
    (new_id,) = r.json()["added"]
    assert {a["id"] for a in http.get("/api/articles").json()["articles"]} == before | {new_id}
    found = http.post("/api/ask", json={"question": "What pay rise ended the Zanzibar ferry "
                                                    "strike?"}).json()
    assert new_id in {c["article_id"] for c in found["citations"]}
    assert http.delete(f"/api/articles/{new_id}").status_code == 200
    assert {a["id"] for a in http.get("/api/articles").json()["articles"]} == before
    after = http.post("/api/ask", json={"question": "What pay rise ended the Zanzibar ferry "
                                                    "strike?"}).json()
    assert new_id not in {c["article_id"] for c in after["citations"]}
    assert new_id not in {p["article_id"] for p in after.get("nearest_passages", [])}
    r = http.post("/api/articles", files={"file": ("evil.exe", b"MZ\x00\x01")})
    assert 400 <= r.status_code < 500


def test_api_health_reports_the_index(http: httpx.Client) -> None:
    body = http.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["articles"] >= 5
    assert body["chunks"] >= body["articles"]
    assert body["embed_model"]


def test_ten_simultaneous_asks_all_succeed(http: httpx.Client, server: BackgroundServer) -> None:
    def ask(i: int) -> tuple[int, dict[str, Any], float]:
        t0 = time.perf_counter()
        with httpx.Client(base_url=server.url, timeout=120) as c:
            r = c.post("/api/ask", json={"question": QUESTION})
        return r.status_code, r.json(), time.perf_counter() - t0

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(ask, range(10)))
    assert [s for s, _, _ in results] == [200] * 10
    answers = {b["answer"] for _, b, _ in results}
    assert len(answers) == 1  # same question, same answer, however many at once
    lat = sorted(t for _, _, t in results)
    print(f"\n10 simultaneous asks: p50 {lat[4] * 1000:.0f} ms, p95 {lat[9] * 1000:.0f} ms")


# --- gradio_client ---------------------------------------------------------------------------


def test_gradio_client_chat_endpoint_returns_the_answer_json(
        server: BackgroundServer, http: httpx.Client) -> None:
    from gradio_client import Client

    client = Client(server.url + "/", verbose=False)
    body = client.predict(QUESTION, None, api_name="/chat")
    _assert_cited(body, http)
    follow = client.predict("And how many troops are there?",
                            [{"role": "user", "content": QUESTION},
                             {"role": "assistant", "content": body["answer"]}],
                            api_name="/chat")
    assert follow["question"] == "And how many troops are there?"
    assert follow["citations"] or follow["abstained"]


SPORTS = ("Title: Cricket final\n\nThe cricket final was won by Zanzibar on 3 March 2024 at the "
          "national stadium in Stone Town. The captain said it was the best day of his life.\n")


def test_gradio_client_chat_endpoint_asks_the_named_collection(tmp_path: Path) -> None:
    from gradio_client import Client

    # Its own server: the module's shared one must keep main as its only collection.
    settings = Settings.load({"index_dir": tmp_path / "index"}, env={})
    pipeline = prepare(settings)
    with BackgroundServer(create_server_app(pipeline, settings, api_key=""), free_port()) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as http:
        r = http.post("/api/articles", params={"collection": "sports"},
                      files={"file": ("cricket.txt", SPORTS.encode())})
        assert r.status_code == 201, r.text
        added = set(r.json()["added"])
        client = Client(srv.url + "/", verbose=False)
        body = client.predict("Who won the cricket final?", None, "sports", api_name="/chat")
        assert "Zanzibar" in body["answer"]
        assert {c["article_id"] for c in body["citations"]} == added
        from_main = client.predict("Who won the cricket final?", None, api_name="/chat")
        assert not {c["article_id"] for c in from_main["citations"]} & added
        with pytest.raises(Exception, match="(?i)no collection|not found|nope"):
            client.predict(QUESTION, None, "nope", api_name="/chat")
        with pytest.raises(Exception, match="(?i)not a valid collection name"):
            client.predict(QUESTION, None, "../main", api_name="/chat")
    pipeline.close()


def test_gradio_client_gets_an_error_for_an_empty_question(server: BackgroundServer) -> None:
    from gradio_client import Client

    client = Client(server.url + "/", verbose=False)
    with pytest.raises(Exception, match="(?i)question"):
        client.predict("   ", None, api_name="/chat")


# --- openai client ---------------------------------------------------------------------------


def test_openai_client_non_streaming(server: BackgroundServer, http: httpx.Client) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["newsrag"]
    done = client.chat.completions.create(
        model="newsrag", messages=[{"role": "user", "content": QUESTION}])
    text = done.choices[0].message.content or ""
    citations = (done.model_extra or {})["citations"]
    _assert_cited({"answer": text, "abstained": False, "citations": citations}, http)


def test_openai_client_streaming_matches_non_streaming(server: BackgroundServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server.url + "/v1", api_key="unused")
    whole = client.chat.completions.create(
        model="newsrag", messages=[{"role": "user", "content": QUESTION}])
    stream = client.chat.completions.create(
        model="newsrag", messages=[{"role": "user", "content": QUESTION}], stream=True)
    parts, last = [], None
    for chunk in stream:
        parts.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert last is not None
    assert len([p for p in parts if p]) > 1  # it really streamed
    assert "".join(parts).strip() == (whole.choices[0].message.content or "").strip()
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"] == (whole.model_extra or {})["citations"]


def test_openai_client_sees_4xx_errors(server: BackgroundServer) -> None:
    import openai

    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="newsrag",
                                       messages=[{"role": "user", "content": ""}])


# --- auth ------------------------------------------------------------------------------------


def test_api_key_locks_the_api_and_the_page(server: BackgroundServer, index_dir: Path) -> None:
    from gradio_client import Client

    from ui.server import create_server_app as make

    settings = Settings.load({"index_dir": index_dir}, env={})
    pipeline = prepare(settings)
    with BackgroundServer(make(pipeline, settings, api_key="k3y"), free_port()) as locked:
        with httpx.Client(base_url=locked.url, timeout=60) as c:
            assert c.get("/api/health").status_code == 401
            assert c.get("/v1/models").status_code == 401
            ok = c.post("/api/ask", json={"question": QUESTION},
                        headers={"Authorization": "Bearer k3y"})
            assert ok.status_code == 200
            assert c.get("/config").status_code == 401  # the page needs a login too
        with pytest.raises(Exception):  # noqa: B017,PT011 - gradio_client's auth error type varies
            Client(locked.url + "/", verbose=False)
        client = Client(locked.url + "/", auth=("newsroom", "k3y"), verbose=False)
        assert client.predict(QUESTION, None, api_name="/chat")["citations"]


# --- `newsrag serve` start-up ----------------------------------------------------------------


def test_serve_starts_quickly_on_a_built_index(server: BackgroundServer, index_dir: Path) -> None:
    """`serve()` in its own process on the index the module fixture built; time to /api/health."""
    port = free_port()
    code = ("import sys; from rag.settings import Settings; from rag.serve import serve; "
            f"serve(Settings.load({{'index_dir': sys.argv[1]}}), port={port})")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop("NEWSRAG_API_KEY", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(index_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = None
        while time.perf_counter() - t0 < 120 and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    ready = time.perf_counter() - t0
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready is not None, "serve() never became ready"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        assert "gradio" in page.text.lower()
        print(f"\nserve(): ready in {ready:.1f}s on a built index")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "indexing sample corpus" not in out  # built index: nothing re-ingested
    assert "newsrag ready" in out


# --- the Gradio queue runs chat events concurrently ------------------------------------------


class _SlowPipeline:
    """Each answer takes 1 s of wall time (sleeping, so it does not need the CPU)."""

    def ask(self, question: str, history: Any = None, top_k: Any = None, since: Any = None,
            until: Any = None) -> Any:
        from rag.types import Answer

        time.sleep(1.0)
        return Answer(question, "Slow answer.", True)

    def list_articles(self) -> list[Any]:
        return []


def test_gradio_queue_runs_several_chats_at_once(tmp_path: Path) -> None:
    from gradio_client import Client

    settings = Settings.load({"index_dir": tmp_path}, env={})
    app = create_server_app(_SlowPipeline(), settings, api_key="")  # type: ignore[arg-type]
    with BackgroundServer(app, free_port()) as srv:
        client = Client(srv.url + "/", verbose=False)
        t0 = time.perf_counter()
        jobs = [client.submit(f"q{i}", None, api_name="/chat") for i in range(4)]
        results = [j.result(timeout=60) for j in jobs]
        elapsed = time.perf_counter() - t0
    assert [r["question"] for r in results] == ["q0", "q1", "q2", "q3"]
    assert elapsed < 3.0, f"4 one-second chats took {elapsed:.1f}s: the queue serialised them"


def test_start_up_with_an_unreachable_llm_backend_warns_and_still_serves(
        index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.load({"index_dir": index_dir, "backend": "openai-compatible",
                              "llm_base_url": f"http://127.0.0.1:{free_port()}/v1",
                              "llm_model": "m", "llm_timeout_s": 2}, env={})
    pipeline = prepare(settings)
    out = capsys.readouterr().out
    assert "Warning: LLM backend 'openai-compatible' is not ready" in out
    answer = pipeline.ask(QUESTION)
    assert answer.backend_error and answer.citations  # the extractive answer, with the reason


def test_an_upload_route_sees_its_client_leave_while_it_works() -> None:
    """RequestGuard's `request.state.client_gone` (what an ingest passes as `cancelled`): set
    when the client closes the connection mid-request, not while it waits for the reply."""
    import socket

    app = FastAPI()
    app.add_middleware(RequestGuard, api_key=None, max_file_bytes=10_000)
    seen: dict[str, bool] = {}

    @app.post("/api/articles")
    def upload(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        gone = request.state.client_gone
        seen[body["case"]] = gone.wait(body["wait"])
        return {}

    with BackgroundServer(app, free_port()) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        for case, wait in (("stays", 1.5), ("leaves", 20)):
            data = json.dumps({"case": case, "wait": wait}).encode()
            sock = socket.create_connection((host, int(port)))
            sock.sendall(b"POST /api/articles HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
            if case == "stays":
                reply = sock.recv(1000)
                assert reply.startswith(b"HTTP/1.1 200"), reply  # it waited for the reply
            else:
                time.sleep(0.5)
            sock.close()
        deadline = time.monotonic() + 10
        while "leaves" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
    assert seen == {"stays": False, "leaves": True}


def test_api_upload_whose_client_disconnects_stores_only_whole_articles_and_logs_it(
        server: BackgroundServer, http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    """POST /api/articles with a 60-article feed; the client hangs up once the first article is
    stored. The ingest stops: fewer than 60 stored, each with all its chunks, and the log says
    it was cancelled (the 499 reply has nobody to read it)."""
    import socket

    data, texts = ferry_feed(60)

    def count() -> int:
        return int(http.get("/api/articles", params={"limit": 1}).json()["total"])

    before = count()
    boundary = "nrferryboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"ferries.jsonl\"\r\nContent-Type: application/json\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    host, port = server.url.removeprefix("http://").split(":")
    with caplog.at_level("WARNING"):
        sock = socket.create_connection((host, int(port)))
        try:
            sock.sendall(b"POST /api/articles HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                         b"form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n%s"
                         % (boundary.encode(), len(body), body))
            deadline = time.monotonic() + 300
            while count() == before:  # the ingest is under way ...
                assert time.monotonic() < deadline, "the ingest never started"
                time.sleep(0.1)
        finally:
            sock.close()  # ... and the client leaves
        stored, stable_since = count(), time.monotonic()
        while time.monotonic() - stable_since < 5:  # until nothing more is stored
            time.sleep(0.5)
            if count() != stored:
                stored, stable_since = count(), time.monotonic()
        rows = http.get("/api/articles", params={"limit": 1000}).json()["articles"]
        new = [r for r in rows if r["title"].startswith("Ferry line")]
        try:
            assert before < stored < before + len(texts)  # stopped, not finished
            assert len(new) == stored - before
            assert sum(r["chunks"] for r in rows) == http.get("/api/health").json()["chunks"]
            for r in new:  # each stored article is whole
                text = http.get(f"/api/articles/{r['id']}").json()["text"]
                assert text.endswith(texts[int(r["title"].split()[2])].split("\n\n", 1)[1])
            logged = [m for m in caplog.messages if "The ingest was cancelled" in m]
            assert logged and "ferries.jsonl" in logged[0]
        finally:  # the module's other tests share this index
            for r in new:
                http.delete(f"/api/articles/{r['id']}")
