"""The error hierarchy. Every error says what to do; the edges translate it.

CLI: `exit_code`; HTTP: `http_status` with `to_dict()` as the JSON body; chat: `str(error)`.
"""

from __future__ import annotations

from typing import Any


class NewsragError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code = 1
    http_status = 500
    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.hint:
            d["hint"] = self.hint
        return d


class InternalError(NewsragError):
    """A bug or a broken environment: the client is told no more than that."""

    code = "internal_error"


class InputError(NewsragError):
    """Bad input from the user: an empty question, an unreadable file, malformed JSON."""

    exit_code = 2
    http_status = 400
    code = "bad_input"


class UnsupportedFormatError(InputError):
    code = "unsupported_format"
    http_status = 415


class TooLargeError(InputError):
    code = "too_large"
    http_status = 413


class UploadRejectedError(InputError):
    """Some files of an upload were bad, so none of them was stored; `problems` names each."""

    code = "upload_rejected"

    def __init__(self, problems: list[tuple[str, NewsragError]]) -> None:
        super().__init__("Nothing was stored: " + "; ".join(str(e) for _, e in problems),
                         hint="Fix or leave out these files and upload again.")
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "files": [{"name": name, **e.to_dict()}
                                               for name, e in self.problems]}


class IngestCancelledError(NewsragError):
    """An ingest stopped early because its client went away; `report` says what was stored
    (whole articles only: every article is stored with all its chunks, or not at all)."""

    http_status = 499  # nginx's "client closed request": nobody is left to read the reply
    code = "cancelled"

    def __init__(self, report: Any, total: int) -> None:
        stored = len(report.added) + len(report.replaced)
        super().__init__(f"The ingest was cancelled: {stored} of {total} article(s) were stored "
                         "whole, the rest not at all.",
                         hint="Upload the rest again; articles already stored are skipped.")
        self.report, self.total = report, total


class NotFoundError(NewsragError):
    exit_code = 2
    http_status = 404
    code = "not_found"


class AuthError(NewsragError):
    """A request without the API key, or with a wrong one."""

    exit_code = 2
    http_status = 401
    code = "unauthorized"


class RateLimitedError(NewsragError):
    """Too many failed attempts from one address."""

    exit_code = 2
    http_status = 429
    code = "rate_limited"


class IndexMismatchError(NewsragError):
    """The index on disk was built with other settings or an older schema."""

    exit_code = 3
    http_status = 409
    code = "index_mismatch"


class IndexDamagedError(NewsragError):
    """Part of the index is missing, emptied or corrupt (`newsrag doctor` tells which)."""

    exit_code = 3
    http_status = 503
    code = "index_damaged"


class IndexLockedError(NewsragError):
    """Another process is writing to the embedded index."""

    exit_code = 4
    http_status = 423
    code = "index_locked"


class BackendError(NewsragError):
    """An answer backend (model, LLM server) failed or is misconfigured."""

    exit_code = 5
    http_status = 502
    code = "backend_error"


class ConfigError(NewsragError):
    """A setting has an unknown name or a wrong value."""

    exit_code = 2
    http_status = 500
    code = "config_error"


class CollectionUnavailableError(ConfigError):
    """A collection that this server's settings cannot serve (with chroma_url, any but main):
    the request is refused, never answered from another archive."""

    http_status = 400
    code = "collection_unavailable"
