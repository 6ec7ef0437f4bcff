"""Deep links: the article's canonical URL with a text fragment (`#:~:text=`) that makes the
browser scroll to and highlight the quoted passage.

https://wicg.github.io/scroll-to-text-fragment/ : a short quote is matched whole; a long one
as `start,end` (its first and last words), which survives small differences in the page's
markup between the two and keeps the link short. `-`, `,` and `&` are syntax in the
directive, so they are percent-encoded along with everything outside the unreserved set.
"""

from __future__ import annotations

import re
from urllib.parse import quote

LONG_QUOTE_WORDS = 10  # longer quotes are linked by their first and last words
EDGE_WORDS = 4


def _encode(text: str) -> str:
    return quote(text, safe="").replace("-", "%2D")


def text_fragment_url(url: str | None, passage: str) -> str | None:
    """`url` with a text fragment for `passage`, or None when the URL is not http(s)."""
    if not url or not re.match(r"^https?://", url, re.IGNORECASE):
        return None
    words = passage.split()
    if not words:
        return url
    base = url.split("#", 1)[0]
    if len(words) <= LONG_QUOTE_WORDS:
        directive = _encode(" ".join(words))
    else:
        directive = (f"{_encode(' '.join(words[:EDGE_WORDS]))},"
                     f"{_encode(' '.join(words[-EDGE_WORDS:]))}")
    return f"{base}#:~:text={directive}"
