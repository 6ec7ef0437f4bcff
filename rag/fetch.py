"""Fetching web pages and feeds by URL: a timeout, a size limit, and a plain error for each
way it can fail (bad address, refused, timed out, HTTP error, too large, not a page or feed).

The standard library's urllib is enough: one GET per URL, redirects followed, nothing cached.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message

from rag import __version__
from rag.errors import InputError, TooLargeError

FETCH_TIMEOUT_S = 15.0  # connect and each read; a stuck server must not hang an ingest
_USER_AGENT = f"newsrag/{__version__} (+https://github.com/; article ingest)"


class FetchError(InputError):
    """A URL could not be fetched or read (exit code 2, HTTP 400, like other bad input)."""


def is_url(value: str) -> bool:
    return bool(re.match(r"^https?://", str(value), re.IGNORECASE))


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str
    text: str


def _charset(headers: Message) -> str:
    return headers.get_content_charset() or "utf-8"


def fetch(url: str, max_bytes: int, timeout: float = FETCH_TIMEOUT_S) -> Fetched:
    if not is_url(url):
        raise FetchError(f"Not an http(s) URL: {url}")
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT,
                                               "Accept": "text/html, application/xml, */*"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) only)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise TooLargeError(f"{url} is {int(length):,} bytes; the limit is "
                                    f"{max_bytes:,}.")
            data = resp.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise TooLargeError(f"{url} is larger than the limit of {max_bytes:,} bytes.")
            ctype = resp.headers.get_content_type()
            final = resp.geturl()
            charset = _charset(resp.headers)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url} answered HTTP {exc.code} {exc.reason}.") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise FetchError(f"{url} did not answer within {timeout:g} s.") from None
        raise FetchError(f"Cannot reach {url}: {reason}.",
                         hint="Check the address and the network.") from None
    except TimeoutError:
        raise FetchError(f"{url} did not answer within {timeout:g} s.") from None
    except (ConnectionError, OSError) as exc:
        raise FetchError(f"Cannot read {url}: {exc}.") from None
    if not data.strip():
        raise FetchError(f"{url} returned an empty body.")
    if b"\x00" in data[:1024]:
        raise FetchError(f"{url} is binary ({ctype}), not a web page or a feed.")
    try:
        text = data.decode(charset, errors="strict")
    except (LookupError, UnicodeDecodeError):
        text = data.decode("utf-8", errors="replace")
    return Fetched(final, ctype, text)
