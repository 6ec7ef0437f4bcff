"""The HTTP API: newsroom tools (CMS plugins, Slack bots, notebooks) call newsrag over JSON.

`/api/*` speaks newsrag's own contract (`Answer.to_dict()`, the CLI's `--json`); `/v1/*` is an
OpenAI-compatible facade so any OpenAI client library can talk to newsrag. Errors are translated
here, at the edge: a `NewsragError` becomes its `http_status` with `to_dict()` as the body, a bad
request a 400/422 JSON body; anything unexpected becomes a JSON 500 without a stack trace in
`rag.http_guard`, which logs it once.

All endpoints are plain `def`s: the pipeline is synchronous and CPU-bound, and FastAPI runs sync
endpoints in its thread pool, which is what lets several askers be served at once (the pipeline
is thread-safe).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, File, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import InputError, NewsragError, TooLargeError
from rag.http_guard import API_KEY_ENV, MAX_JSON_BYTES, RequestGuard, error_body, upload_limit
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.text import require_unicode
from rag.types import Answer, Turn

log = logging.getLogger(__name__)

__all__ = ["API_KEY_ENV", "api_key_from_env", "create_app"]
MODEL_ID = "newsrag"


# --- request bodies --------------------------------------------------------------------------


class TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class _Body(BaseModel):
    """A request body: its strings must be storable text (no lone surrogates)."""

    @model_validator(mode="after")
    def _storable(self) -> _Body:
        # InputError is not a ValueError, so pydantic lets it through: a 400 that says why.
        require_unicode(self.model_dump(), "The request")
        return self


class AskRequest(_Body):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question, in plain words.")
    history: list[TurnIn] = Field(
        default_factory=list, description="Earlier turns, oldest first, for follow-up questions."
    )
    top_k: int | None = Field(None, ge=1, le=50, description="Passages handed to the answerer.")
    since: str | None = Field(None, description="Only articles dated on or after (YYYY-MM-DD).")
    until: str | None = Field(None, description="Only articles dated on or before (YYYY-MM-DD).")
    as_of: str | None = Field(None, description="The day the question is asked (YYYY-MM-DD): "
                              "what 'now', 'this week' and 'latest' mean. Default: the newest "
                              "article's date.")


class ChatMessageIn(BaseModel):
    # OpenAI clients send fields we ignore (name, tool_calls...): accept them.
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(_Body):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens...: irrelevant here
    model: str = MODEL_ID
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(None, ge=1, le=50)


def messages_to_question(messages: list[ChatMessageIn]) -> tuple[str, list[Turn]]:
    """The last user message is the question; earlier user/assistant messages are the history.

    System messages are ignored: newsrag's behaviour is fixed (cite or abstain).
    """
    turns = [Turn(m.role, m.text()) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InputError(
            "The last message must come from the user.",
            hint='End `messages` with {"role": "user", "content": "<question>"}.',
        )
    return turns[-1].content, turns[:-1]


# --- errors ----------------------------------------------------------------------------------


def _error_body(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    return error_body(request.url.path, body)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_newsrag_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NewsragError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        if exc.http_status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return JSONResponse(_error_body(request, exc.to_dict()), exc.http_status, headers=headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        # Malformed JSON is a plain bad request; a well-formed body with wrong fields is a 422.
        if any(e["type"] == "json_invalid" for e in errors):
            body = {"error": "bad_json", "message": "The request body is not valid JSON."}
            return JSONResponse(_error_body(request, body), 400)
        summary = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in errors
        )
        body = {"error": "invalid_request", "message": f"Invalid request: {summary}.",
                "details": jsonable_encoder(errors)}
        return JSONResponse(_error_body(request, body), 422)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed",
                413: "too_large"}.get(exc.status_code, "http_error")
        body = {"error": code, "message": str(exc.detail)}
        if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not parse it
            body = {"error": "bad_json", "message": _unparsable(exc.__cause__)}
        return JSONResponse(_error_body(request, body), exc.status_code, headers=exc.headers)

    async def on_too_deep(request: Request, exc: Exception) -> JSONResponse:
        body = {"error": "bad_json", "message": _unparsable(exc)}
        return JSONResponse(_error_body(request, body), 400)

    app.add_exception_handler(NewsragError, on_newsrag_error)
    app.add_exception_handler(RecursionError, on_too_deep)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _unparsable(cause: BaseException) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"The request body is not valid UTF-8 (byte {cause.start})."
    if isinstance(cause, RecursionError):
        return "The request body is nested too deeply to read."
    return "The request body could not be read as JSON."


# --- auth ------------------------------------------------------------------------------------


def api_key_from_env() -> str | None:
    return os.environ.get(API_KEY_ENV) or None


# --- the app ---------------------------------------------------------------------------------


def create_app(pipeline: Pipeline, settings: Settings, api_key: str | None = None) -> FastAPI:
    """The FastAPI app. `api_key` defaults to NEWSRAG_API_KEY; an empty key means no auth.

    The key and the declared body size are checked by `RequestGuard` before anything reads
    the body; the routes' `max_body_size` cuts off a body that streams past its limit
    (uploads `upload_limit`, everything else `MAX_JSON_BYTES`).
    """
    key = (api_key if api_key is not None else api_key_from_env()) or None
    app = FastAPI(
        title="newsrag",
        version=_version(),
        description="Cited answers from news articles. Every claim carries a numbered `[n]` "
        "citation to the exact passage (article title and date).",
    )
    _install_error_handlers(app)
    app.add_middleware(RequestGuard, api_key=key, max_file_bytes=settings.max_file_bytes)
    app.include_router(_api_router(pipeline, settings), prefix="/api")
    app.include_router(_openai_router(pipeline), prefix="/v1")
    app.state.pipeline = pipeline
    app.state.settings = settings
    return app


def _api_router(pipeline: Pipeline, settings: Settings) -> APIRouter:
    r = APIRouter(tags=["newsrag"], max_body_size=MAX_JSON_BYTES)

    @r.post("/ask", summary="Answer a question with citations")
    def ask(req: AskRequest) -> dict[str, Any]:
        history = [Turn(t.role, t.content) for t in req.history]
        return pipeline.ask(req.question, history=history, top_k=req.top_k, since=req.since,
                            until=req.until, as_of=req.as_of).to_dict()

    @r.get("/articles", summary="List the indexed articles, newest first, a page at a time")
    def list_articles(
        limit: Annotated[int, Query(ge=1, le=1000, description="Articles per page.")] = 100,
        offset: Annotated[int, Query(ge=0, le=2**62, description="Articles to skip.")] = 0,
    ) -> dict[str, Any]:
        rows = [a.to_dict() for a in pipeline.list_articles(limit, offset)]
        return {"count": len(rows), "total": pipeline.article_count(), "offset": offset,
                "articles": rows}

    @r.get("/articles/{article_id}", summary="One article with its full text")
    def get_article(article_id: str) -> dict[str, Any]:
        return pipeline.get_article(article_id).to_dict()

    @r.post("/articles", summary="Upload articles (.txt .md .html .json .jsonl)",
            max_body_size=upload_limit(settings.max_file_bytes))
    def upload(file: Annotated[list[UploadFile], File(description="One or more files.")],
               replace: Annotated[bool, Query(description="Replace earlier uploads with the "
                                              "same file name (else both are kept).")] = False,
               ) -> JSONResponse:
        # All or nothing: every file is read and parsed before any is stored.
        report = pipeline.ingest_uploads([_read_upload(settings, f) for f in file], replace)
        status = 201 if report.added or report.replaced else 200
        return JSONResponse(report.to_dict(), status)

    @r.delete("/articles/{article_id}", summary="Delete an article and its chunks")
    def delete_article(article_id: str) -> dict[str, Any]:
        pipeline.get_article(article_id)  # a clean 404 for unknown ids
        pipeline.delete_article(article_id)
        return {"deleted": article_id}

    @r.get("/health", summary="Index size, embedding model, version")
    def health() -> dict[str, Any]:
        return {"status": "ok", **pipeline.stats()}

    return r


def _read_upload(settings: Settings, f: UploadFile) -> tuple[str, bytes]:
    name = PurePath(f.filename or "").name  # the name only picks the format; never a path
    if not name:
        raise InputError("An uploaded file has no name.", hint="Send files with a file name.")
    data = f.file.read(settings.max_file_bytes + 1)  # never read more than the limit
    if len(data) > settings.max_file_bytes:
        raise TooLargeError(
            f"{name} is larger than {settings.max_file_bytes} bytes.",
            hint="Split it, or raise NEWSRAG_MAX_FILE_BYTES.",
        )
    return name, data


# --- OpenAI-compatible facade ----------------------------------------------------------------


def _openai_router(pipeline: Pipeline) -> APIRouter:
    r = APIRouter(tags=["OpenAI-compatible"], max_body_size=MAX_JSON_BYTES)

    @r.get("/models", summary="The one model newsrag serves")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "newsrag"}
        ]}

    @r.post("/chat/completions", summary="Chat completion with citations", response_model=None)
    def chat_completions(req: ChatCompletionRequest) -> dict[str, Any] | StreamingResponse:
        question, history = messages_to_question(req.messages)
        if not req.stream:
            return completion(pipeline.ask(question, history=history, top_k=req.top_k), req.model)
        events = pipeline.ask_stream(question, history=history, top_k=req.top_k)
        # Take the first item before answering 200: an empty question or a broken index must
        # still come back as a 4xx JSON error, not as an event inside a started stream.
        first = next(events, None)
        return StreamingResponse(
            _sse(first, events, req.model), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return r


def _extras(answer: Answer) -> dict[str, Any]:
    """newsrag's additions to the OpenAI shapes: citations are data, never re-parsed text."""
    d = answer.to_dict()
    extras = {"citations": d["citations"], "abstained": d["abstained"]}
    # What was removed as unverified, and a failed backend, travel with the answer too.
    for key in ("nearest_passages", "backend", "removed", "backend_error"):
        if key in d:
            extras[key] = d[key]
    return extras


def completion(answer: Answer, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "finish_reason": "stop",
        }],
        **_extras(answer),
    }


def _sse(first: str | Answer | None, rest: Iterator[str | Answer], model: str) -> Iterator[str]:
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    item = first
    try:
        while True:
            if item is None:  # a stream that ended without its Answer: close it cleanly
                yield chunk({}, "stop")
                break
            if isinstance(item, Answer):
                yield chunk({}, "stop", **_extras(item))
                break
            if item:
                yield chunk({"content": item}, None)
            item = next(rest, None)
    except NewsragError as exc:  # the status line is sent already: report in the stream
        yield f"data: {json.dumps({'error': _error_inner(exc)})}\n\n"
    except Exception:
        log.exception("Unexpected error while streaming an answer")
        err = {"message": "Something went wrong on the server.", "type": "internal_error"}
        yield f"data: {json.dumps({'error': err})}\n\n"
    yield "data: [DONE]\n\n"


def _error_inner(exc: NewsragError) -> dict[str, Any]:
    d = exc.to_dict()
    return {"message": d["message"], "type": d["error"], "code": d["error"],
            **({"hint": d["hint"]} if "hint" in d else {})}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("newsrag")
    except Exception:  # running from a checkout that was never installed
        return "0.0.0"
