"""LLM backends behind one small protocol: `complete(messages) -> Iterator[str]` of text deltas.

- `local`: a GGUF model run in-process by llama.cpp through the prebuilt `xllamacpp` wheel
  (`pip install 'newsrag[llm]'`); loaded once per process and shared, since loading takes seconds.
- `ollama`: its `/api/chat` HTTP API, streaming NDJSON.
- `openai-compatible`: `POST {base_url}/chat/completions` with SSE streaming (vLLM, LM Studio,
  llama.cpp server, hosted APIs).

Plain httpx rather than llama-index's LLM integrations: those are separate packages per server
and add nothing here but another layer to translate errors through.

Every failure becomes a `BackendError` whose message says which backend, where, and what to do.
`timeout_s` bounds connecting, the wait for the first token and each gap between tokens.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rag.errors import BackendError
from rag.settings import Settings

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


# The alternatives asked for at each generated token: enough to see how much probability the
# model gave a reply's other first words (NONE among them), few enough to cost nothing.
TOP_LOGPROBS = 5


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text, natural-log probability, and the most likely
    alternatives at its position (token, logprob), the token itself among them."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


class Delta(str):
    """A text delta that also carries its tokens' log-probabilities, when the backend
    reports them (the local model does; an OpenAI-compatible server that sends `logprobs`
    does). It is a `str`: callers that only read text need not know."""

    logprobs: tuple[TokenLogprob, ...]

    def __new__(cls, text: str, logprobs: tuple[TokenLogprob, ...] = ()) -> Delta:
        obj = super().__new__(cls, text)
        obj.logprobs = logprobs
        return obj


def parse_logprobs(choice: Any) -> tuple[TokenLogprob, ...]:
    """The tokens of one streamed choice in OpenAI's format (`logprobs.content[]` with
    `token`, `logprob`, `top_logprobs[]`); () when absent or malformed."""
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    out: list[TokenLogprob] = []
    for tok in content if isinstance(content, list) else []:
        try:
            top = tuple((str(t["token"]), float(t["logprob"]))
                        for t in tok.get("top_logprobs") or [])
            out.append(TokenLogprob(str(tok["token"]), float(tok["logprob"]), top))
        except (KeyError, TypeError, ValueError, AttributeError):
            return ()
    return tuple(out)


def _delta(choice: Any) -> Delta | None:
    content = (choice.get("delta") or {}).get("content") if isinstance(choice, dict) else None
    return Delta(str(content), parse_logprobs(choice)) if content else None


class LLM(Protocol):
    name: str

    def complete(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        """Yield the reply's text deltas as they are generated (greedy decoding); a backend
        that knows its tokens' probabilities yields them as `Delta`s."""
        ...


def make_llm(settings: Settings) -> LLM:
    """The backend `settings.backend` names, or `BackendError` saying what is missing."""
    kind = settings.backend
    if kind == "local":
        return LocalLLM.shared(Path(settings.llm_model_path), settings.llm_threads,
                               settings.llm_timeout_s)
    if kind == "ollama":
        if not settings.llm_model:
            raise BackendError("Backend 'ollama' needs a model name.",
                               hint="Set NEWSRAG_LLM_MODEL (e.g. qwen2.5:1.5b-instruct).")
        return OllamaLLM(settings.llm_base_url or DEFAULT_OLLAMA_URL, settings.llm_model,
                         settings.llm_timeout_s)
    if kind == "openai-compatible":
        if not settings.llm_base_url:
            raise BackendError("Backend 'openai-compatible' needs a base URL.",
                               hint="Set NEWSRAG_LLM_BASE_URL, e.g. http://127.0.0.1:8000/v1.")
        return OpenAICompatibleLLM(settings.llm_base_url, settings.llm_model or "default",
                                   settings.llm_api_key, settings.llm_timeout_s)
    raise BackendError(f"Backend {kind!r} is not an LLM backend.")


# --- HTTP backends -----------------------------------------------------------------------------


def _timeout(seconds: float) -> Any:
    import httpx

    return httpx.Timeout(seconds, connect=min(seconds, 10.0))


class _HTTPBackend:
    """Shared error translation for the two HTTP backends."""

    name = "http"

    def __init__(self, base_url: str, model: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s

    def _stream_lines(self, url: str, body: dict[str, Any],
                      headers: dict[str, str]) -> Iterator[str]:
        import httpx

        try:
            with httpx.Client(timeout=_timeout(self.timeout_s)) as client, client.stream(
                    "POST", url, json=body, headers=headers) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._http_error(resp.status_code, resp.text)
                yield from resp.iter_lines()
        except httpx.TimeoutException:
            raise BackendError(
                f"The {self.name} server at {self.base_url} did not answer within "
                f"{self.timeout_s:g} s.",
                hint="Check that it is running and not overloaded, or raise "
                "NEWSRAG_LLM_TIMEOUT_S.") from None
        except httpx.HTTPError as exc:
            raise BackendError(
                f"Could not reach the {self.name} server at {self.base_url} "
                f"({type(exc).__name__}: {exc}).",
                hint="Start the server or fix NEWSRAG_LLM_BASE_URL.") from None

    def _http_error(self, status: int, body: str) -> BackendError:
        detail = body.strip()[:300]
        try:
            data = json.loads(body)
            err = data.get("error", data) if isinstance(data, dict) else data
            detail = str(err.get("message", err) if isinstance(err, dict) else err)[:300]
        except ValueError:
            pass
        hint = {
            401: "The server rejected the API key: set NEWSRAG_LLM_API_KEY.",
            403: "The server refused access: check NEWSRAG_LLM_API_KEY.",
            404: f"Check the model name ({self.model!r}) and the base URL.",
        }.get(status, "See the server's log.")
        return BackendError(f"The {self.name} server at {self.base_url} answered HTTP "
                            f"{status}: {detail}", hint=hint)

    def _bad_stream(self, line: str) -> BackendError:
        return BackendError(f"The {self.name} server at {self.base_url} sent a line that is "
                            f"not its streaming format: {line[:120]!r}",
                            hint="Check that the base URL points at the right kind of server.")


class OpenAICompatibleLLM(_HTTPBackend):
    """`/chat/completions` with `stream: true`: server-sent events, `data: {...}` then
    `data: [DONE]`. `base_url` is the part before `/chat/completions` (usually ends in /v1)."""

    name = "openai-compatible"

    def __init__(self, base_url: str, model: str, api_key: str | None,
                 timeout_s: float) -> None:
        super().__init__(base_url, model, timeout_s)
        self.api_key = api_key

    def complete(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        headers = {"Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {"model": self.model, "messages": list(messages), "stream": True,
                "max_tokens": max_tokens, "temperature": 0}
        for line in self._stream_lines(f"{self.base_url}/chat/completions", body, headers):
            if not line.startswith("data:"):
                continue  # blank separators, comments (": ping") and event names
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise self._bad_stream(line) from None
            if "error" in event:
                raise BackendError(f"The {self.name} server at {self.base_url} failed: "
                                   f"{event['error']}")
            for choice in event.get("choices") or []:
                delta = _delta(choice)
                if delta:
                    yield delta


class OllamaLLM(_HTTPBackend):
    """Ollama's `/api/chat`: one JSON object per line, `{"message": {"content"}, "done"}`."""

    name = "ollama"

    def complete(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        body = {"model": self.model, "messages": list(messages), "stream": True,
                "options": {"num_predict": max_tokens, "temperature": 0}}
        for line in self._stream_lines(f"{self.base_url}/api/chat", body, {}):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                raise self._bad_stream(line) from None
            if event.get("error"):
                raise BackendError(f"The ollama server at {self.base_url} failed: "
                                   f"{event['error']}",
                                   hint=f"Is the model pulled? `ollama pull {self.model}`.")
            delta = (event.get("message") or {}).get("content")
            if delta:
                yield str(delta)
            if event.get("done"):
                return


# --- in-process llama.cpp ----------------------------------------------------------------------

_DONE = object()


class LocalLLM:
    """A GGUF model in this process via xllamacpp's embedded llama.cpp server.

    One model per path per process (loading takes seconds and ~2 GB), one request at a time:
    on a 2-core machine two generations in parallel only slow each other down, and a single
    slot keeps the fixed system prompt in the KV cache, so only the sources are read per ask.
    """

    name = "local"
    _instances: dict[tuple[Path, int], LocalLLM] = {}
    _instances_lock = threading.Lock()

    def __init__(self, path: Path, threads: int = 0, timeout_s: float = 60.0,
                 n_ctx: int = 4096) -> None:
        if not path.is_file():
            raise BackendError(f"No model file at {path}.",
                               hint="Build it with `newsrag models assemble`, or set "
                               "NEWSRAG_LLM_MODEL_PATH to a GGUF file.")
        try:
            import xllamacpp
        except ImportError:
            raise BackendError("Backend 'local' needs the xllamacpp package.",
                               hint="pip install 'newsrag[llm]'") from None
        self.path = path
        self.timeout_s = timeout_s
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.verbosity = -1  # llama.cpp logs every request to stderr otherwise
        n = threads or os.cpu_count() or 1
        params.cpuparams.n_threads = n
        params.cpuparams_batch.n_threads = n
        started = time.perf_counter()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:  # the C++ side raises plain RuntimeErrors
            raise BackendError(f"llama.cpp could not load {path}: {exc}",
                               hint="Check the file with `newsrag models assemble`.") from None
        self.load_ms = (time.perf_counter() - started) * 1000
        self._lock = threading.Lock()
        # llama.cpp's own timings of the latest requests, newest last: `prompt_n` (prompt tokens
        # read for this request), `cache_n` (prompt tokens reused from the KV cache),
        # `prompt_ms`, `predicted_n`, `predicted_ms`. For benchmarks and tests.
        self.timings: deque[dict[str, float]] = deque(maxlen=32)

    def last_timings(self) -> dict[str, float]:
        """llama.cpp's timings of the latest finished request (waiting for one in progress),
        or {} if none."""
        with self._lock:
            return dict(self.timings[-1]) if self.timings else {}

    @classmethod
    def shared(cls, path: Path, threads: int = 0, timeout_s: float = 60.0) -> LocalLLM:
        key = (path.resolve(), threads)
        with cls._instances_lock:
            llm = cls._instances.get(key)
            if llm is None:
                llm = cls._instances[key] = cls(path, threads, timeout_s)
            llm.timeout_s = timeout_s
            return llm

    def complete(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        # timings_per_token: llama.cpp's timings ride on every chunk, so a request the caller
        # stops early (a short answer is complete) still says what it read and reused.
        request = {"messages": list(messages), "max_tokens": max_tokens, "temperature": 0,
                   "stream": True, "timings_per_token": True, "logprobs": True,
                   "top_logprobs": TOP_LOGPROBS}
        # handle_chat_completions blocks and calls back per chunk: run it in a thread and hand
        # the chunks over a queue, so that the caller can stream and time out.
        chunks: queue.Queue[Any] = queue.Queue()
        cancelled = threading.Event()

        latest: list[dict[str, float]] = []

        def on_chunk(chunk: Any) -> bool:
            if isinstance(chunk, dict) and isinstance(chunk.get("timings"), dict):
                latest[:] = [dict(chunk["timings"])]
            chunks.put(chunk)
            return cancelled.is_set()  # True asks llama.cpp to stop generating

        def work() -> None:
            try:
                with self._lock:
                    if not cancelled.is_set():
                        self._server.handle_chat_completions(request, on_chunk)
                    # inside the lock: whoever takes it next sees this request's timings
                    self.timings.extend(latest)
            except Exception as exc:
                chunks.put(BackendError(f"llama.cpp failed: {exc}"))
            finally:
                chunks.put(_DONE)

        worker = threading.Thread(target=work, name="newsrag-llm", daemon=True)
        worker.start()
        timed_out = False
        try:
            while True:
                try:
                    item = chunks.get(timeout=self.timeout_s)
                except queue.Empty:
                    timed_out = True
                    raise BackendError(
                        f"The local model gave no token within {self.timeout_s:g} s.",
                        hint="The machine may be busy; raise NEWSRAG_LLM_TIMEOUT_S or use "
                        "fewer NEWSRAG_LLM_SOURCES.") from None
                if item is _DONE:
                    return
                if isinstance(item, BackendError):
                    raise item
                if isinstance(item, dict) and "error" in item:
                    raise BackendError(f"llama.cpp failed: {item['error']}")
                for choice in (item.get("choices") or []) if isinstance(item, dict) else []:
                    delta = _delta(choice)
                    if delta:
                        yield delta
        finally:
            cancelled.set()  # a consumer that stops early (or times out) stops generation
            if not timed_out:
                # llama.cpp stops at its next token. Wait for it: a process that exits while
                # the worker is still inside llama.cpp aborts ("exception not rethrown").
                worker.join(timeout=min(self.timeout_s, 30.0))


# --- a scripted model for tests and demos --------------------------------------------------------


class ScriptedLLM:
    """Replies with fixed texts in turn, word by word; records the messages it was sent.

    `delay_s` before the first token simulates a slow model; `error` simulates a failure;
    `logprob`, when set, is every word's log-probability (a backend that reports them)."""

    name = "scripted"

    def __init__(self, *replies: str, delay_s: float = 0.0,
                 error: BackendError | None = None, logprob: float | None = None) -> None:
        self.replies = list(replies) or [""]
        self.calls: list[list[Message]] = []
        self.delay_s = delay_s
        self.error = error
        self.logprob = logprob

    def complete(self, messages: Sequence[Message], max_tokens: int) -> Iterator[str]:
        self.calls.append(list(messages))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        for i, word in enumerate(reply.split(" ")):
            piece = word if i == 0 else " " + word
            if self.logprob is None:
                yield piece
            else:
                yield Delta(piece, (TokenLogprob(piece, self.logprob, ((piece, self.logprob),)),))
