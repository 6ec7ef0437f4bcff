"""Which browser client is which, for the page's events: the files Gradio received from each
client, and whether a session's event stream is still open.

Gradio keeps one server-wide set of the files it received, so an Articles-tab upload event
that names a file another client uploaded would pass its check. Here every page client gets an
HttpOnly cookie, the paths Gradio's upload route returns are recorded under that cookie, and
the upload handler accepts only its own client's paths.

A sync event handler keeps running in its thread when its client goes away (closed tab,
timeout): Gradio only drops the result. The event stream of each session is watched here, so a
long ingest can ask whether anyone is still waiting for it and stop.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from rag.http_guard import KEYED_PREFIXES, ASGIApp, Message, Receive, Scope, Send

COOKIE = "nr_client"
_VALID_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_CLIENTS = 10_000  # the oldest clients' records are forgotten past this many
MAX_FILES_PER_CLIENT = 1_000
MAX_SESSIONS = 10_000


class ClientRegistry:
    """Thread-safe: the event loop records, event handlers (in worker threads) read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()
        self._gone: OrderedDict[str, None] = OrderedDict()

    # --- uploads ----------------------------------------------------------------------------

    def received(self, client: str, paths: Collection[str]) -> None:
        with self._lock:
            files = self._files.pop(client, None) or OrderedDict()
            files.update(dict.fromkeys(paths))
            while len(files) > MAX_FILES_PER_CLIENT:
                files.popitem(last=False)
            self._files[client] = files
            while len(self._files) > MAX_CLIENTS:
                self._files.popitem(last=False)

    def files_of(self, client: str | None) -> frozenset[str]:
        with self._lock:
            return frozenset(self._files.get(client or "", ()))

    # --- event streams ----------------------------------------------------------------------

    def stream_opened(self, session: str) -> None:
        with self._lock:
            self._gone.pop(session, None)

    def stream_lost(self, session: str) -> None:
        with self._lock:
            self._gone[session] = None
            while len(self._gone) > MAX_SESSIONS:
                self._gone.popitem(last=False)

    def is_gone(self, session: str | None) -> bool:
        with self._lock:
            return session is not None and session in self._gone


def client_id(headers: Mapping[str, str]) -> str | None:
    """The client cookie of a request (`headers` as Gradio's Request or Starlette give them)."""
    raw = headers.get("cookie") or ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is no client id, not an error
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and _VALID_ID.match(morsel.value) else None


class ClientTracker:
    """ASGI middleware in front of the mounted page(s): gives each client its cookie, records
    what Gradio's upload route received for it, and notices event streams that lose their
    client. API paths pass untouched."""

    def __init__(self, app: ASGIApp, registry: ClientRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(KEYED_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        client = client_id(headers)
        new_cookie = None
        if client is None:  # first visit: this request already counts as the new client's
            client = secrets.token_urlsafe(24)
            new_cookie = _set_cookie(client, scope.get("scheme") == "https")
            scope = {**scope, "headers": [*[(k, v) for k, v in scope["headers"]
                                            if k.lower() != b"cookie"],
                                          (b"cookie", f"{COOKIE}={client}".encode())]}
        if scope["method"] == "POST" and path.endswith("/gradio_api/upload"):
            await self._upload(scope, receive, send, client, new_cookie)
        elif scope["method"] == "GET" and path.endswith("/gradio_api/queue/data"):
            await self._stream(scope, receive, send, new_cookie)
        else:
            await self.app(scope, receive, _with_cookie(send, new_cookie))

    async def _upload(self, scope: Scope, receive: Receive, send: Send, client: str,
                      new_cookie: bytes | None) -> None:
        """Hold the (small, JSON) response back until it is complete, to read its paths."""
        start: Message | None = None
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                body.extend(message.get("body", b""))
                if message.get("more_body"):
                    return
                if start["status"] == 200:
                    try:
                        paths = json.loads(bytes(body))
                    except ValueError:
                        paths = None
                    if isinstance(paths, list):
                        self.registry.received(client, [p for p in paths if isinstance(p, str)])
                out = _with_cookie(send, new_cookie)
                await out(start)
                await out({"type": "http.response.body", "body": bytes(body)})
                return
            await send(message)

        await self.app(scope, receive, capture)

    async def _stream(self, scope: Scope, receive: Receive, send: Send,
                      new_cookie: bytes | None) -> None:
        """Read the client side of an event stream ourselves, so a disconnect is seen the
        moment it happens (Gradio looks only between messages, up to 10 s apart)."""
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        session = (qs.get("session_hash") or [None])[0]
        if not session:
            await self.app(scope, receive, _with_cookie(send, new_cookie))
            return
        self.registry.stream_opened(session)
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        finished = False

        async def pump() -> None:
            while True:
                message = await receive()
                await inbox.put(message)
                if message["type"] == "http.disconnect":
                    if not finished:
                        self.registry.stream_lost(session)
                    return

        async def relayed() -> Message:
            return await inbox.get()

        async def watched(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await _with_cookie(send, new_cookie)(message)

        reader = asyncio.create_task(pump())
        try:
            await self.app(scope, relayed, watched)
        finally:
            reader.cancel()


def _set_cookie(client: str, secure: bool) -> bytes:
    flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    return f"{COOKIE}={client}{flags}".encode()


def _with_cookie(send: Send, cookie: bytes | None) -> Send:
    if cookie is None:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"set-cookie", cookie)]}
        await send(message)

    return sending
