"""The HTTP API: newsroom tools (CMS plugins, Slack bots, notebooks) call newsrag over JSON.

`/api/*` speaks newsrag's own contract (`Answer.to_dict()`, the CLI's `--json`); `/v1/*` is an
OpenAI-compatible facade so any OpenAI client library can talk to newsrag. Errors are translated
here, at the edge: a `NewsragError` becomes its `http_status` with `to_dict()` as the body, a bad
request a 400/422 JSON body; anything unexpected becomes a JSON 500 without a stack trace in
`rag.http_guard`, which logs it once.

Replies are declared as pydantic models (`*Out` in rag/api_models.py), so `/openapi.json` and
`/docs` show their shapes; the routes still build the JSON contract with `to_dict()` and the
model checks it on the way out. Optional keys stay absent unless set
(`response_model_exclude_unset`), and keys a model does not name yet pass through
(`extra="allow"`) rather than vanish.

All endpoints are plain `def`s: the pipeline is synchronous and CPU-bound, and FastAPI runs sync
endpoints in its thread pool, which is what lets several askers be served at once (the pipeline
is thread-safe).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, Query, Request, Response, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.api_models import (
    COLLECTION_DOC,
    MODEL_ID,
    SOURCES_HEADING,
    AnswerOut,
    ArticleOut,
    ArticlePageOut,
    AskRequest,
    ChatCompletionOut,
    ChatCompletionRequest,
    CollectionListOut,
    DeletedOut,
    ErrorOut,
    HealthOut,
    IngestReportOut,
    ModelListOut,
    OpenAIErrorOut,
    messages_to_question,
)
from rag.collections import DEFAULT, Collections
from rag.dates import display_article_date
from rag.errors import IngestCancelledError, InputError, NewsragError, TooLargeError
from rag.http_guard import API_KEY_ENV, MAX_JSON_BYTES, RequestGuard, error_body, upload_limit
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.types import Answer, Citation, Turn

log = logging.getLogger(__name__)

__all__ = ["API_KEY_ENV", "api_key_from_env", "create_app"]


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (400, "Bad input or malformed JSON"), (401, "Missing or wrong API key"),
        (422, "Wrong fields"), (429, "Locked out after wrong keys"),
        (503, "The index is damaged (`newsrag doctor`)"))
}
_OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {**v, "model": OpenAIErrorOut} for code, v in _ERRORS.items()
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No article with that id"}}


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


def create_app(pipeline: Pipeline, settings: Settings, api_key: str | None = None,
               collections: Collections | None = None) -> FastAPI:
    """The FastAPI app. `api_key` defaults to NEWSRAG_API_KEY; an empty key means no auth.
    `pipeline` is the `main` collection's; the others are opened from `collections` (by
    default a `Collections` around `pipeline`) when a request names them.

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
    if collections is None:
        collections = Collections(settings, main=pipeline)
    app.include_router(_api_router(collections, settings), prefix="/api")
    app.include_router(_openai_router(collections), prefix="/v1")
    app.state.pipeline = pipeline
    app.state.collections = collections
    app.state.settings = settings
    return app


# A GET's or an upload's collection, as a query parameter (a body names it as a field).
CollectionQuery = Annotated[str | None, Query(description=COLLECTION_DOC, max_length=200)]


def _api_router(collections: Collections, settings: Settings) -> APIRouter:
    r = APIRouter(tags=["newsrag"], max_body_size=MAX_JSON_BYTES, responses=_ERRORS)

    @r.post("/ask", summary="Answer a question with citations", response_model=AnswerOut,
            responses=_NOT_FOUND, response_model_exclude_unset=True)
    def ask(req: AskRequest) -> dict[str, Any]:
        history = [Turn(t.role, t.content) for t in req.history]
        pipeline = collections.get(req.collection)
        return pipeline.ask(req.question, history=history, top_k=req.top_k, since=req.since,
                            until=req.until, as_of=req.as_of,
                            include_undated=req.include_undated).to_dict()

    @r.get("/collections", summary="The collections (archives), with their article counts",
           response_model=CollectionListOut, response_model_exclude_unset=True)
    def list_collections() -> dict[str, Any]:
        return {"collections": [c.to_dict() for c in collections.names()]}

    @r.get("/articles", summary="List the indexed articles, newest first, a page at a time",
           response_model=ArticlePageOut, responses=_NOT_FOUND,
           response_model_exclude_unset=True)
    def list_articles(
        limit: Annotated[int, Query(ge=1, le=1000, description="Articles per page.")] = 100,
        offset: Annotated[int, Query(ge=0, le=2**62, description="Articles to skip.")] = 0,
        collection: CollectionQuery = None,
    ) -> dict[str, Any]:
        pipeline = collections.get(collection)
        rows = [a.to_dict() for a in pipeline.list_articles(limit, offset)]
        return {"count": len(rows), "total": pipeline.article_count(), "offset": offset,
                "articles": rows}

    @r.get("/articles/{article_id}", summary="One article with its full text",
           response_model=ArticleOut, responses=_NOT_FOUND, response_model_exclude_unset=True)
    def get_article(article_id: str, collection: CollectionQuery = None) -> dict[str, Any]:
        return collections.get(collection).get_article(article_id).to_dict()

    @r.post("/articles", summary="Upload articles (.txt .md .html .json .jsonl)",
            max_body_size=upload_limit(settings.max_file_bytes), status_code=201,
            response_model=IngestReportOut, response_model_exclude_unset=True, responses={
                200: {"model": IngestReportOut, "description": "Everything already indexed"},
                413: {"model": ErrorOut, "description": "A file over the size limit"},
                415: {"model": ErrorOut, "description": "A file of a type newsrag can't read"},
            })
    def upload(request: Request, response: Response,
               file: Annotated[list[UploadFile], File(description="One or more files.")],
               replace: Annotated[bool, Query(description="Replace earlier uploads with the "
                                              "same file name (else both are kept).")] = False,
               collection: Annotated[str | None, Query(
                   description=COLLECTION_DOC + " A new name creates the collection.",
                   max_length=200)] = None,
               ) -> dict[str, Any]:
        pipeline = collections.get(collection, create=True)
        # All or nothing: every file is read and parsed before any is stored. A client that
        # hangs up stops the ingest between whole articles (RequestGuard sets client_gone).
        files = [_read_upload(settings, f) for f in file]
        try:
            report = pipeline.ingest_uploads(files, replace,
                                             cancelled=request.state.client_gone.is_set)
        except IngestCancelledError as exc:  # nobody reads the 499: the log says it
            log.warning("Upload of %s: %s", ", ".join(n for n, _ in files), exc)
            raise
        if not (report.added or report.replaced):
            response.status_code = 200
        return report.to_dict()

    @r.delete("/articles/{article_id}", summary="Delete an article and its chunks",
              response_model=DeletedOut, responses=_NOT_FOUND, response_model_exclude_unset=True)
    def delete_article(article_id: str, collection: CollectionQuery = None) -> dict[str, Any]:
        pipeline = collections.get(collection)
        pipeline.get_article(article_id)  # a clean 404 for unknown ids
        pipeline.delete_article(article_id)
        return {"deleted": article_id}

    @r.get("/health", summary="Index size, embedding model, version", response_model=HealthOut,
           responses=_NOT_FOUND, response_model_exclude_unset=True)
    def health(collection: CollectionQuery = None) -> dict[str, Any]:
        name = collection or DEFAULT
        return {"status": "ok", **collections.get(name).stats(), "collection": name}

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


def _v1_collection(req: ChatCompletionRequest) -> str | None:
    """The body's `collection`, else `newsrag:NAME` in `model`, else main."""
    if req.collection is not None:
        return req.collection
    if req.model.startswith(MODEL_ID + ":"):
        return req.model.split(":", 1)[1]
    return None


def _openai_router(collections: Collections) -> APIRouter:
    r = APIRouter(tags=["OpenAI-compatible"], max_body_size=MAX_JSON_BYTES,
                  responses=_OPENAI_ERRORS)

    @r.get("/models", summary="The one model newsrag serves", response_model=ModelListOut,
           response_model_exclude_unset=True)
    def models() -> dict[str, Any]:
        # One model per collection: `newsrag` is main, `newsrag:NAME` another.
        ids = [MODEL_ID if c.name == DEFAULT else f"{MODEL_ID}:{c.name}"
               for c in collections.names()]
        return {"object": "list", "data": [
            {"id": i, "object": "model", "created": 0, "owned_by": "newsrag"} for i in ids
        ]}

    @r.post("/chat/completions", summary="Chat completion with citations",
            response_model=ChatCompletionOut, response_model_exclude_unset=True, responses={200: {
                "description": "The completion; with `stream: true`, server-sent events of "
                "`chat.completion.chunk` objects ending in `data: [DONE]`.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
    def chat_completions(req: ChatCompletionRequest) -> Any:
        if req.n not in (None, 1):
            raise InputError(f"newsrag gives one answer per question, so n must be 1, "
                             f"not {req.n}.", hint="Leave out n, or send n=1; ask again for "
                             "another answer (it will be the same: newsrag quotes its sources).")
        question, history = messages_to_question(req.messages)
        pipeline = collections.get(_v1_collection(req))
        prompt_tokens = sum(count_tokens(m.text()) for m in req.messages)
        if not req.stream:
            answer = pipeline.ask(question, history=history, top_k=req.top_k)
            return completion(answer, req.model, prompt_tokens, req.sources_in_content)
        events = pipeline.ask_stream(question, history=history, top_k=req.top_k)
        # Take the first item before answering 200: an empty question or a broken index must
        # still come back as a 4xx JSON error, not as an event inside a started stream.
        first = next(events, None)
        usage_chunk = bool(req.stream_options and req.stream_options.include_usage)
        return StreamingResponse(
            _sse(first, events, req.model, prompt_tokens, req.sources_in_content, usage_chunk),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return r


_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """`usage` counts words and punctuation marks: about a model's token count for English
    prose (a subword tokenizer splits rare words further), with no tokenizer to load."""
    return len(_TOKEN.findall(text))


def sources_trailer(citations: tuple[Citation, ...]) -> str:
    """The citations as the end of the message content, for clients that keep only the content
    (an OpenAI client's `message.content`). The same lines as `newsrag ask` prints."""
    if not citations:
        return ""
    lines = []
    for c in citations:
        when = display_article_date(c.date, c.date_inferred)
        lines.append(f"[{c.n}] {c.title} ({', '.join(x for x in (when, c.source) if x)}): "
                     f"“{c.quote}”" + (f" {c.url}" if c.url else ""))
    return SOURCES_HEADING + "\n".join(lines)


def _usage(prompt_tokens: int, content: str) -> dict[str, int]:
    completion_tokens = count_tokens(content)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _extras(answer: Answer) -> dict[str, Any]:
    """newsrag's additions to the OpenAI shapes: citations are data, never re-parsed text."""
    d = answer.to_dict()
    extras = {"citations": d["citations"], "abstained": d["abstained"]}
    # What was removed as unverified, and a failed backend, travel with the answer too.
    for key in ("nearest_passages", "backend", "removed", "backend_error"):
        if key in d:
            extras[key] = d[key]
    return extras


def completion(answer: Answer, model: str, prompt_tokens: int = 0,
               sources_in_content: bool = True) -> dict[str, Any]:
    content = answer.text + (sources_trailer(answer.citations) if sources_in_content else "")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
        "usage": _usage(prompt_tokens, content),
        **_extras(answer),
    }


def _sse(first: str | Answer | None, rest: Iterator[str | Answer], model: str,
         prompt_tokens: int = 0, sources_in_content: bool = True,
         usage_chunk: bool = False) -> Iterator[str]:
    """The answer as `chat.completion.chunk` events: the deltas, the "Sources:" list as one
    last delta, then a chunk with `finish_reason` "stop" that carries `usage` and newsrag's
    extras; with `usage_chunk` (stream_options.include_usage), OpenAI's usage-only chunk too."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any] | None, finish: str | None, **extra: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": choices, **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    item = first
    streamed: list[str] = []
    try:
        while True:
            if item is None:  # a stream that ended without its Answer: close it cleanly
                yield chunk({}, "stop")
                break
            if isinstance(item, Answer):
                trailer = sources_trailer(item.citations) if sources_in_content else ""
                if trailer:
                    streamed.append(trailer)
                    yield chunk({"content": trailer}, None)
                usage = _usage(prompt_tokens, "".join(streamed))
                yield chunk({}, "stop", usage=usage, **_extras(item))
                if usage_chunk:
                    yield chunk(None, None, usage=usage)
                break
            if item:
                streamed.append(item)
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
