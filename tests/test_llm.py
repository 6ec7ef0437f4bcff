"""The HTTP LLM backends against small fake servers on loopback, started and stopped by the
tests; errors for servers that are down, slow or refuse. The real local model is in
tests/test_generate.py (slow)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rag.errors import BackendError
from rag.llm import (
    Delta,
    LocalLLM,
    OllamaLLM,
    OpenAICompatibleLLM,
    ScriptedLLM,
    TokenLogprob,
    make_llm,
)
from rag.settings import Settings

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


class FakeLLMServer:
    """Speaks OpenAI's `/v1/chat/completions` (SSE when `stream`) and Ollama's `/api/chat`
    (NDJSON), replying with `reply` in a few pieces. Records every request body."""

    def __init__(self, reply: str = "Troops leave by September 15 [1].",
                 reply_fn: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.reply = reply
        self.reply_fn = reply_fn  # computes the reply from the request body, when set
        self.status = 200
        self.delay_s = 0.0  # before the first byte: a slow server
        self.api_key: str | None = None  # when set, other keys get 401
        # when set, each OpenAI event carries this `logprobs` object (a server that reports them)
        self.logprobs: Any = None
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body,
                                      "auth": self.headers.get("Authorization")})
                self.reply = fake.reply_fn(body) if fake.reply_fn else fake.reply
                time.sleep(fake.delay_s)
                if fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._json(401, {"error": {"message": "Invalid API key"}})
                if fake.status != 200:
                    return self._json(fake.status, {"error": {"message": "model not found"}})
                try:
                    if self.path == "/v1/chat/completions":
                        return self._openai(body)
                    if self.path == "/api/chat":
                        return self._ollama()
                except (BrokenPipeError, ConnectionResetError):
                    return None  # the client stopped reading: a short answer was complete
                return self._json(404, {"error": "no such route"})

            def _json(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _pieces(self) -> list[str]:
                words = self.reply.split(" ")
                return [w if i == 0 else " " + w for i, w in enumerate(words)]

            def _openai(self, body: dict[str, Any]) -> None:
                if not body.get("stream"):
                    return self._json(200, {"choices": [{"message": {"content": self.reply}}]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b": keep-alive comment\n\n")
                first = {"choices": [{"delta": {"role": "assistant"}, "index": 0}]}
                self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
                for piece in self._pieces():
                    event = {"choices": [{"delta": {"content": piece}, "index": 0}]}
                    if fake.logprobs is not None:
                        event["choices"][0]["logprobs"] = fake.logprobs
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

            def _ollama(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                for piece in self._pieces():
                    line = {"message": {"role": "assistant", "content": piece}, "done": False}
                    self.wfile.write((json.dumps(line) + "\n").encode())
                    self.wfile.flush()
                self.wfile.write((json.dumps({"message": {"content": ""}, "done": True})
                                  + "\n").encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- openai-compatible ---------------------------------------------------------------------------


def test_openai_compatible_streams_the_reply_in_pieces(fake_server: FakeLLMServer) -> None:
    llm = OpenAICompatibleLLM(fake_server.url + "/v1", "tiny", "sk-test", timeout_s=5)
    pieces = list(llm.complete(MESSAGES, max_tokens=20))
    assert len(pieces) > 1
    assert "".join(pieces) == fake_server.reply
    sent = fake_server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["stream"] is True and sent["body"]["model"] == "tiny"
    assert sent["body"]["messages"] == MESSAGES and sent["body"]["max_tokens"] == 20
    assert sent["auth"] == "Bearer sk-test"


def test_openai_compatible_wrong_key_says_so(fake_server: FakeLLMServer) -> None:
    fake_server.api_key = "right"
    llm = OpenAICompatibleLLM(fake_server.url + "/v1", "tiny", "wrong", timeout_s=5)
    with pytest.raises(BackendError, match="HTTP 401: Invalid API key") as err:
        list(llm.complete(MESSAGES, 20))
    assert "NEWSRAG_LLM_API_KEY" in str(err.value)


def test_openai_compatible_unknown_model_says_check_the_name(
        fake_server: FakeLLMServer) -> None:
    fake_server.status = 404
    llm = OpenAICompatibleLLM(fake_server.url + "/v1", "nope", None, timeout_s=5)
    with pytest.raises(BackendError, match="HTTP 404.*model not found") as err:
        list(llm.complete(MESSAGES, 20))
    assert "'nope'" in str(err.value)


def test_a_server_that_is_down_gives_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    llm = OpenAICompatibleLLM(url, "tiny", None, timeout_s=5)
    with pytest.raises(BackendError, match="Could not reach the openai-compatible server") as e:
        list(llm.complete(MESSAGES, 20))
    assert url in str(e.value) and "NEWSRAG_LLM_BASE_URL" in str(e.value)


def test_a_slow_server_times_out(fake_server: FakeLLMServer) -> None:
    fake_server.delay_s = 2.0
    llm = OpenAICompatibleLLM(fake_server.url + "/v1", "tiny", None, timeout_s=0.3)
    started = time.perf_counter()
    with pytest.raises(BackendError, match=r"did not answer within 0.3 s"):
        list(llm.complete(MESSAGES, 20))
    assert time.perf_counter() - started < 1.8


# --- ollama --------------------------------------------------------------------------------------


def test_ollama_streams_ndjson(fake_server: FakeLLMServer) -> None:
    llm = OllamaLLM(fake_server.url, "qwen2.5:1.5b", timeout_s=5)
    pieces = list(llm.complete(MESSAGES, max_tokens=30))
    assert len(pieces) > 1 and "".join(pieces) == fake_server.reply
    sent = fake_server.requests[0]
    assert sent["path"] == "/api/chat"
    assert sent["body"]["model"] == "qwen2.5:1.5b" and sent["body"]["stream"] is True
    assert sent["body"]["options"]["num_predict"] == 30


def test_ollama_that_is_down_gives_a_clear_error() -> None:
    llm = OllamaLLM(f"http://127.0.0.1:{free_port()}", "m", timeout_s=5)
    with pytest.raises(BackendError, match="Could not reach the ollama server"):
        list(llm.complete(MESSAGES, 20))


def test_a_base_url_pointing_at_the_wrong_kind_of_server_is_explained(
        fake_server: FakeLLMServer) -> None:
    # An Ollama URL given to the openai-compatible backend: /chat/completions is not there.
    llm = OpenAICompatibleLLM(fake_server.url, "m", None, timeout_s=5)
    with pytest.raises(BackendError, match="HTTP 404"):
        list(llm.complete(MESSAGES, 20))


# --- configuration -------------------------------------------------------------------------------


def test_misconfigured_backends_say_which_setting_is_missing(tmp_path: Path) -> None:
    def settings(**kw: Any) -> Settings:
        return Settings.load({"index_dir": tmp_path, **kw}, env={})

    with pytest.raises(BackendError, match="NEWSRAG_LLM_BASE_URL"):
        make_llm(settings(backend="openai-compatible"))
    with pytest.raises(BackendError, match="NEWSRAG_LLM_MODEL"):
        make_llm(settings(backend="ollama"))
    with pytest.raises(BackendError, match="newsrag models assemble"):
        make_llm(settings(backend="local", llm_model_path=tmp_path / "missing.gguf"))


def test_backend_settings_come_from_the_environment(tmp_path: Path) -> None:
    s = Settings.load({"index_dir": tmp_path}, env={
        "NEWSRAG_BACKEND": "openai-compatible", "NEWSRAG_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "NEWSRAG_LLM_TIMEOUT_S": "2.5", "NEWSRAG_LLM_API_KEY": ""})
    assert s.backend == "openai-compatible" and s.llm_timeout_s == 2.5 and s.llm_api_key is None
    llm = make_llm(s)
    assert isinstance(llm, OpenAICompatibleLLM) and llm.base_url == "http://127.0.0.1:9/v1"


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp", reason="needs newsrag[llm]")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(BackendError, match="could not load"):
        LocalLLM(bogus)


def test_scripted_llm_replays_and_records() -> None:
    llm = ScriptedLLM("one two", "three")
    assert "".join(llm.complete(MESSAGES, 5)) == "one two"
    assert "".join(llm.complete(MESSAGES, 5)) == "three"
    assert len(llm.calls) == 2


@pytest.mark.parametrize("kind", ["ollama", "openai-compatible"])
def test_both_http_backends_send_the_messages_verbatim_and_decode_greedily(
        fake_server: FakeLLMServer, kind: str) -> None:
    llm = (OllamaLLM(fake_server.url, "m", timeout_s=5) if kind == "ollama"
           else OpenAICompatibleLLM(fake_server.url + "/v1", "m", None, timeout_s=5))
    assert "".join(llm.complete(MESSAGES, 24)) == fake_server.reply
    body = fake_server.requests[0]["body"]
    assert body["messages"] == MESSAGES
    options = body.get("options", body)
    assert options["temperature"] == 0
    assert options.get("num_predict", options.get("max_tokens")) == 24


@pytest.mark.parametrize("kind", ["ollama", "openai-compatible"])
def test_a_reader_that_stops_early_leaves_the_backend_usable(
        fake_server: FakeLLMServer, kind: str) -> None:
    """The generator stops reading once the short answer and its number are written."""
    fake_server.reply = "Jane Doe [2] " + "and then a long explanation " * 50
    llm = (OllamaLLM(fake_server.url, "m", timeout_s=5) if kind == "ollama"
           else OpenAICompatibleLLM(fake_server.url + "/v1", "m", None, timeout_s=5))
    stream = llm.complete(MESSAGES, 24)
    assert [next(stream), next(stream)] == ["Jane", " Doe"]
    stream.close()  # what breaking out of the loop does
    fake_server.reply = "NONE"
    assert "".join(llm.complete(MESSAGES, 24)) == "NONE"
    assert len(fake_server.requests) == 2


def test_token_probabilities_a_server_sends_ride_on_the_deltas(
        fake_server: FakeLLMServer) -> None:
    llm = OpenAICompatibleLLM(fake_server.url + "/v1", "m", None, timeout_s=5)
    fake_server.reply = "Jane Doe"
    fake_server.logprobs = {"content": [{"token": "Jane", "logprob": -0.25, "top_logprobs": [
        {"token": "Jane", "logprob": -0.25}, {"token": "NONE", "logprob": -1.5}]}]}
    first, *_ = llm.complete(MESSAGES, 24)
    assert isinstance(first, Delta) and first == "Jane"
    assert first.logprobs == (TokenLogprob("Jane", -0.25, (("Jane", -0.25), ("NONE", -1.5))),)
    # A server that sends none, or sends them malformed, still streams its text.
    for odd in (None, {"content": [{"token": "Jane"}]}, {"content": "x"}, [], "x"):
        fake_server.logprobs = odd
        pieces = list(llm.complete(MESSAGES, 24))
        assert "".join(pieces) == "Jane Doe"
        assert all(getattr(p, "logprobs", ()) == () for p in pieces)
