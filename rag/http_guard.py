"""What every HTTP request passes before any route reads its body: the key, then the size.

An ASGI middleware, so it runs before FastAPI or Gradio parse anything: a request without the
key is answered 401 from its headers alone, and a declared body over the limit 413 unread.
A body that streams past its limit without a Content-Length is cut off by the API routes'
`max_body_size` (rag/api.py); elsewhere (the mounted page) such a body is refused (411), as
browsers and clients always declare the length. Too many wrong keys or passwords from one
address lock it out for a while (429).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rag.errors import (
    AuthError,
    ConfigError,
    InputError,
    InternalError,
    NewsragError,
    RateLimitedError,
    TooLargeError,
)

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_KEY_ENV = "NEWSRAG_API_KEY"
MAX_JSON_BYTES = 1 << 20  # questions, histories, chat events: far below this
UPLOAD_FILES_PER_REQUEST = 10  # an upload body may carry this many files at the file limit
# Paths the key guards (the page has its own login); the API docs describe a locked API.
KEYED_PREFIXES = ("/api/", "/v1/", "/docs", "/redoc", "/openapi.json")
UPLOAD_PATHS = ("/api/articles", "/gradio_api/upload")
LOGIN_PATHS = ("/login",)
MAX_FAILURES = 10  # wrong keys or passwords per address within FAILURE_WINDOW_S ...
FAILURE_WINDOW_S = 60.0  # ... lock that address out for as long


class LengthRequiredError(InputError):
    http_status = 411
    code = "length_required"


def key_matches(authorization: str, api_key: str) -> bool:
    """`Authorization: Bearer <key>`; compare_digest: no timing side channel on the key."""
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                              api_key.encode())


def error_body(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI clients expect `{"error": {"message", "type", "code"}}` under /v1."""
    if path.startswith("/v1/"):
        inner = {"message": body.get("message", ""), "type": body.get("error"),
                 "code": body.get("error")}
        inner.update({k: v for k, v in body.items() if k not in ("error", "message")})
        return {"error": inner}
    return body


def upload_limit(max_file_bytes: int) -> int:
    return max_file_bytes * UPLOAD_FILES_PER_REQUEST + MAX_JSON_BYTES


class FailureLimiter:
    """Counts failed logins per address; an address with too many recent ones is refused."""

    def __init__(self, max_failures: int = MAX_FAILURES,
                 window_s: float = FAILURE_WINDOW_S) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, list[float]] = {}

    def _recent(self, addr: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(addr, []) if now - t < self.window_s]
        if kept:
            self._failures[addr] = kept
        else:
            self._failures.pop(addr, None)
        return kept

    def locked(self, addr: str) -> bool:
        return len(self._recent(addr, time.monotonic())) >= self.max_failures

    def fail(self, addr: str) -> None:
        now = time.monotonic()
        if len(self._failures) > 10_000:  # many addresses: forget the stale ones
            for a in list(self._failures):
                self._recent(a, now)
        self._failures.setdefault(addr, []).append(now)


class RequestGuard:
    """The middleware. `api_key` None: no key needed; limits apply either way."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_file_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.upload_limit = upload_limit(max_file_bytes)
        self.limiter = FailureLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        addr = (scope.get("client") or ("?", 0))[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        keyed = self.api_key is not None and path.startswith(KEYED_PREFIXES)
        login = path in LOGIN_PATHS and scope["method"] == "POST"
        try:
            if (keyed or login) and self.limiter.locked(addr):
                raise RateLimitedError("Too many wrong keys or passwords from this address.",
                                       hint=f"Wait {FAILURE_WINDOW_S:.0f} s and try again.")
            if keyed and not key_matches(headers.get("authorization", ""), self.api_key or ""):
                self.limiter.fail(addr)
                raise AuthError("Missing or wrong API key.", hint="Send `Authorization: "
                                f"Bearer <key>` with the key in {API_KEY_ENV}.")
            limit = self.upload_limit if path in UPLOAD_PATHS else MAX_JSON_BYTES
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _too_large(limit)
            if (not declared and "transfer-encoding" in headers
                    and not path.startswith(("/api/", "/v1/"))):
                raise LengthRequiredError("The request body must declare its length.",
                                          hint="Send a Content-Length header.")
        except NewsragError as exc:
            await _reply(send, path, exc)
            return
        await self._forward(scope, receive, send, addr if login else None)

    async def _forward(self, scope: Scope, receive: Receive, send: Send,
                       login_addr: str | None) -> None:
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            if (login_addr is not None and message["type"] == "http.response.start"
                    and message["status"] >= 400):
                self.limiter.fail(login_addr)  # a wrong password on the page's login form
            await send(message)

        watch = None
        if scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS:
            watch = DisconnectWatch(receive)
            scope.setdefault("state", {})[CLIENT_GONE] = watch.gone
            receive = watch.receive
        try:
            await self.app(scope, receive, watched_send)
        except Exception:  # not a NewsragError: the routes translate those
            # Logged here, once; re-raised, the server would log the traceback a second time.
            log.exception("Unexpected error on %s %s", scope["method"], scope["path"])
            if not started:
                await _reply(send, scope["path"], _INTERNAL)
        finally:
            if watch is not None:
                watch.close()


CLIENT_GONE = "client_gone"  # request.state.client_gone: a threading.Event, set on disconnect


class DisconnectWatch:
    """Once an upload's body is read, keeps listening to the client, so a route still working
    on it (an ingest, in a worker thread) can see `gone` set the moment the client leaves
    (closed connection, client timeout) and stop: `cancelled=request.state.client_gone.is_set`.
    Messages that arrive after the body are passed on to the app as they come."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.gone = threading.Event()
        self._later: asyncio.Queue[Message] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None

    async def receive(self) -> Message:
        if self._listener is not None:
            return await self._later.get()
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.gone.set()
        elif message["type"] == "http.request" and not message.get("more_body"):
            self._listener = asyncio.create_task(self._listen())
        return message

    async def _listen(self) -> None:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.gone.set()
        await self._later.put(message)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()


_INTERNAL = InternalError("Something went wrong on the server.",
                          hint="The server log has the details.")


def _too_large(limit: int) -> TooLargeError:
    return TooLargeError(f"The request body is larger than {limit:,} bytes.",
                         hint="Send less at once, or raise NEWSRAG_MAX_FILE_BYTES for uploads.")


async def _reply(send: Send, path: str, exc: NewsragError) -> None:
    body = json.dumps(error_body(path, exc.to_dict())).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    if exc.http_status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if exc.http_status == 429:
        headers.append((b"retry-after", str(int(FAILURE_WINDOW_S)).encode()))
    await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- other sites: who may call the API from a browser and frame the pages -------------------

_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$")


def parse_origins(raw: str) -> list[str]:
    """`allowed_origins` ("https://a.org, http://127.0.0.1:8000" or "*") as a list; a value
    that is not a scheme://host[:port] origin is a configuration error that names it."""
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    if origins == ["*"]:
        return origins
    bad = [o for o in origins if not _ORIGIN.match(o)]
    if bad:
        raise ConfigError(f"NEWSRAG_ALLOWED_ORIGINS: {', '.join(map(repr, bad))} is not an "
                          "origin.", hint="Give scheme://host[:port] values separated by "
                          "commas, e.g. https://cms.example.org,http://127.0.0.1:8000, or *.")
    return origins


def frame_ancestors(origins: list[str]) -> str:
    """The CSP that lets only this server and `origins` put the pages in a frame."""
    return "frame-ancestors " + ("*" if origins == ["*"] else " ".join(["'self'", *origins]))


class FramePolicy:
    """Adds `Content-Security-Policy: frame-ancestors ...` to every response (the pages, the
    embed page, the docs): a site not allowed cannot show them in an iframe."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.header = (b"content-security-policy", frame_ancestors(origins).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        name, ancestors = self.header

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A route's own policy (the docs pages) keeps its other directives.
                own = [v for k, v in message.get("headers", []) if k.lower() == name]
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != name]
                policy = b"; ".join([*own, ancestors])
                message = {**message, "headers": [*kept, (name, policy)]}
            await send(message)

        await self.app(scope, receive, with_policy)
