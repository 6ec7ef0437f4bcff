"""Bad input against a real `newsrag serve` process: forged upload paths, a path that never
ends, bodies sent before the key or over the size limit, and one client's upload taken by
another (issue 13). Split from tests/test_bad_input.py, which tests the same edges in process."""


import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ferry_feed
from tests.test_bad_input import KEY

# --- a real `newsrag serve` process --------------------------------------------------------
# Forged upload paths, a path that never ends, and bodies sent before the key: the attacks of
# issue 13, against the server a newsroom runs (its own process, the real models).

SECRET = "The vault code is 4471 and only the server should know it."


class Served:
    """`newsrag serve` in its own process on a tmp index; `upload_dir` is its Gradio folder."""

    def __init__(self, tmp: Path, key: str | None) -> None:
        import subprocess
        import sys

        from rag.serve import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upload_dir = tmp / "gradio"
        env = {**os.environ, "NEWSRAG_INDEX_DIR": str(tmp / "index"), "HF_HUB_OFFLINE": "1",
               "GRADIO_TEMP_DIR": str(self.upload_dir), "NEWSRAG_MAX_FILE_BYTES": "200000"}
        env.pop("NEWSRAG_API_KEY", None)
        if key:
            env["NEWSRAG_API_KEY"] = key
        exe = Path(sys.executable).with_name("newsrag")
        self.log = (tmp / "serve.log").open("w")
        self.proc = subprocess.Popen([str(exe), "serve", "--port", str(self.port)], env=env,
                                     cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def wait_ready(self) -> None:
        import time

        import httpx

        for _ in range(600):
            assert self.proc.poll() is None, "newsrag serve exited"
            try:
                if httpx.get(self.url + "/api/health", headers=self.headers,
                             timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("newsrag serve never became ready")

    def stop(self) -> None:
        import subprocess

        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:  # a frozen server ignores SIGTERM: that is a failure
            self.proc.kill()
            self.proc.wait(15)
            raise AssertionError("newsrag serve ignored SIGTERM") from None
        finally:
            self.log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    srv = Served(tmp_path_factory.mktemp("served"), key=None)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def served_locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    srv = Served(tmp_path_factory.mktemp("served-locked"), key=KEY)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def _upload_inputs(cfg: dict[str, Any], dep: dict[str, Any],
                   file_data: dict[str, Any]) -> list[Any]:
    """Every input of the upload event: the file list for the upload box, each other input's
    value as the page starts with it (the replace box, the collection selector)."""
    props = {x["id"]: x.get("props", {}) for x in cfg["components"]}
    return [[file_data] if props[i].get("elem_id") == "nr-upload" else props[i].get("value")
            for i in dep["inputs"]]


def _upload_event(url: str, file_path: str, cookies: Any = None) -> dict[str, Any]:
    """Run the Articles tab's upload event with `file_path` as the uploaded file, the way the
    page's script does (queue/join, then the event stream); the final queue message."""
    import uuid

    import httpx

    with httpx.Client(base_url=url, timeout=30, cookies=cookies) as c:
        cfg = c.get("/config").json()
        elem = {x["id"]: x.get("props", {}).get("elem_id") for x in cfg["components"]}
        fn, dep = next((i, d) for i, d in enumerate(cfg["dependencies"])
                       if any(elem.get(t[0]) == "nr-upload" for t in d["targets"]))
        session = uuid.uuid4().hex[:11]
        file_data = {"path": file_path, "meta": {"_type": "gradio.FileData"}}
        # Every input of the event: the file list for the upload box, defaults for the rest.
        data = _upload_inputs(cfg, dep, file_data)
        r = c.post("/gradio_api/queue/join", json={
            "data": data, "fn_index": fn, "session_hash": session,
            "event_data": None, "trigger_id": dep["targets"][0][0]})
        assert r.status_code == 200, r.text
        with c.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as events:
            for line in events.iter_lines():
                if line.startswith("data:"):
                    msg: dict[str, Any] = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        return msg
    raise AssertionError("the upload event never completed")


def _article_texts(srv: Served) -> list[str]:
    import httpx

    with httpx.Client(base_url=srv.url, headers=srv.headers, timeout=30) as c:
        ids = [a["id"] for a in c.get("/api/articles").json()["articles"]]
        return [c.get(f"/api/articles/{i}").json()["text"] for i in ids]


def _uploaded_names(srv: Served) -> list[str]:
    return sorted(p.name for p in srv.upload_dir.rglob("*") if p.is_file())


@pytest.mark.slow
def test_served_upload_event_refuses_a_forged_server_path(served: Served,
                                                          tmp_path: Path) -> None:
    secret = tmp_path / "memo.txt"
    secret.write_text(f"Memo\n\n{SECRET}\n")
    before = _article_texts(served)
    msg = _upload_event(served.url, str(secret))
    assert not any(SECRET in t for t in _article_texts(served))
    assert len(_article_texts(served)) == len(before)
    assert "memo.txt" not in _uploaded_names(served)  # not copied where /file= serves it
    assert "Traceback" not in json.dumps(msg)


@pytest.mark.slow
def test_served_upload_event_never_copies_other_server_files(served: Served) -> None:
    _upload_event(served.url, "/etc/passwd")
    assert "passwd" not in _uploaded_names(served)


@pytest.mark.slow
def test_served_upload_event_refuses_dev_zero_and_keeps_serving(served: Served) -> None:
    import httpx

    _upload_event(served.url, "/dev/zero")
    assert httpx.get(served.url + "/api/health", timeout=10).status_code == 200
    r = httpx.post(served.url + "/api/ask", json={"question": "When must US troops leave?"},
                   timeout=30)
    assert r.status_code == 200


@contextlib.contextmanager
def _page_client(srv: Served) -> Iterator[Any]:
    """A browser-like client of the page: it keeps the cookie the page gives it."""
    import httpx

    with httpx.Client(base_url=srv.url, timeout=30) as c:
        assert c.get("/").status_code == 200 and c.cookies.get("nr_client")
        yield c


def _gradio_upload(client: Any, name: str, data: bytes) -> str:
    r = client.post("/gradio_api/upload", files={"files": (name, data, "text/plain")})
    assert r.status_code == 200, r.text
    (path,) = r.json()
    return str(path)


@pytest.mark.slow
def test_served_real_upload_through_the_page_is_ingested(served: Served) -> None:
    """The control for the refusals above: a file Gradio received is ingested."""
    text = "Harbour reopens\n\nThe Tema harbour reopened on Monday after a two-day strike.\n"
    with _page_client(served) as c:
        path = _gradio_upload(c, "harbour.txt", text.encode())
        msg = _upload_event(served.url, path, cookies=c.cookies)
    assert msg["success"], msg
    assert any("Tema harbour" in t for t in _article_texts(served))


@pytest.mark.slow
def test_served_upload_of_one_client_cannot_be_ingested_by_another(served: Served) -> None:
    """Gradio's received-files set is server-wide; the upload handler checks the client."""
    text = "Budget leak\n\nThe draft budget cuts the Qelt ferry subsidy by half, memo says.\n"
    with _page_client(served) as owner, _page_client(served) as other:
        path = _gradio_upload(owner, "draft.txt", text.encode())
        forged = _upload_event(served.url, path, cookies=other.cookies)
        assert "not uploaded to this server" in json.dumps(forged)
        assert not any("Qelt ferry" in t for t in _article_texts(served))
        anonymous = _upload_event(served.url, path)  # no cookie at all
        assert "not uploaded to this server" in json.dumps(anonymous)
        assert not any("Qelt ferry" in t for t in _article_texts(served))
        assert _upload_event(served.url, path, cookies=owner.cookies)["success"]
    assert any("Qelt ferry" in t for t in _article_texts(served))


@pytest.mark.slow
def test_served_upload_whose_client_disconnects_stops_with_whole_articles(
        served: Served) -> None:
    import time
    import uuid

    import httpx

    data, texts = ferry_feed(60)
    assert len(data) < 200_000  # the served limit
    with httpx.Client(base_url=served.url, timeout=30) as api:
        before = api.get("/api/articles", params={"limit": 1}).json()["total"]

        def count() -> int:
            return int(api.get("/api/articles", params={"limit": 1}).json()["total"])

        with _page_client(served) as c:
            path = _gradio_upload(c, "ferries.jsonl", data)
            cfg = c.get("/config").json()
            elem = {x["id"]: x.get("props", {}).get("elem_id") for x in cfg["components"]}
            fn, dep = next((i, d) for i, d in enumerate(cfg["dependencies"])
                           if any(elem.get(t[0]) == "nr-upload" for t in d["targets"]))
            session = uuid.uuid4().hex[:11]
            file_data = {"path": path, "meta": {"_type": "gradio.FileData"}}
            event = _upload_inputs(cfg, dep, file_data)
            assert c.post("/gradio_api/queue/join", json={
                "data": event, "fn_index": fn, "session_hash": session,
                "event_data": None, "trigger_id": dep["targets"][0][0]}).status_code == 200
            with c.stream("GET", f"/gradio_api/queue/data?session_hash={session}"):
                deadline = time.monotonic() + 300
                while count() == before:  # the ingest is under way ...
                    assert time.monotonic() < deadline, "the ingest never started"
                    time.sleep(0.1)
            # ... and the client leaves (the stream closes: a closed tab, a timeout)
        stored, stable_since = count(), time.monotonic()
        while time.monotonic() - stable_since < 5:  # until nothing more is stored
            time.sleep(0.5)
            if count() != stored:
                stored, stable_since = count(), time.monotonic()
        assert before < stored < before + len(texts)  # stopped, not finished
        health = api.get("/api/health").json()
        rows = api.get("/api/articles", params={"limit": 1000}).json()["articles"]
        assert sum(r["chunks"] for r in rows) == health["chunks"]  # no article half-stored
        new = [r for r in rows if r["title"].startswith("Ferry line")]
        assert len(new) == stored - before
        for r in new:  # each stored article is whole
            text = api.get(f"/api/articles/{r['id']}").json()["text"]
            assert text.endswith(texts[int(r["title"].split()[2])].split("\n\n", 1)[1])
        answer = api.post("/api/ask", json={"question": "When did ferry line 0 reopen?"})
        assert answer.status_code == 200
    assert "The ingest was cancelled" in Path(served.log.name).read_text()


def _raw_request(srv: Served, head: str, body: bytes = b"") -> str:
    """Send a request head (and maybe part of its body) on a plain socket; the status line and
    headers the server answers with. The server must answer without the rest of the body."""
    import socket

    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while b"\r\n\r\n" not in reply:
            got = s.recv(65536)
            if not got:
                break
            reply += got
    return reply.decode("latin-1")


def _head(path: str, length: int, *extra: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {length}", *extra]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/api/ask", "/v1/chat/completions", "/api/articles"])
def test_served_refuses_a_body_without_the_key_before_reading_it(served_locked: Served,
                                                                  path: str) -> None:
    reply = _raw_request(served_locked, _head(path, 100_000_000), b'{"question": ')
    assert reply.startswith("HTTP/1.1 401"), reply[:200]


@pytest.mark.slow
def test_served_refuses_an_oversize_body_before_reading_it(served_locked: Served) -> None:
    reply = _raw_request(served_locked, _head("/api/ask", 100_000_000,
                                              f"Authorization: Bearer {KEY}"), b"{")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]


@pytest.mark.slow
def test_served_refuses_an_oversize_chunked_body(served_locked: Served) -> None:
    import httpx

    def body() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(200):  # 20 MB, no Content-Length
            yield b"x" * 100_000

    try:
        r = httpx.post(served_locked.url + "/api/ask", content=body(), timeout=30,
                       headers={**served_locked.headers, "content-type": "application/json"})
    except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
        return  # the server answered 413 and closed the connection while the body streamed
    assert r.status_code == 413, r.text[:200]


@pytest.mark.slow
def test_served_gradio_upload_needs_the_login(served_locked: Served) -> None:
    import httpx

    r = httpx.post(served_locked.url + "/gradio_api/upload",
                   files={"files": ("a.txt", b"Some words.", "text/plain")}, timeout=30)
    assert r.status_code == 401
    assert _uploaded_names(served_locked) == []


@pytest.mark.slow
def test_served_gradio_upload_is_capped_at_the_file_limit(served: Served) -> None:
    import httpx

    r = httpx.post(served.url + "/gradio_api/upload",
                   files={"files": ("big.txt", b"word " * 50_000, "text/plain")}, timeout=30)
    assert r.status_code == 413
    assert "big.txt" not in _uploaded_names(served)
