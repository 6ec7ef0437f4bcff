"""Plain-text presentation of an Answer: the terminal (`newsrag ask`, `newsrag chat`) and the
chat page's "copy answer with sources" share it, so a pasted answer reads like the CLI's."""

from __future__ import annotations

from rag.dates import display_article_date, display_date, undated_note
from rag.types import Answer


def answer_as_text(answer: Answer, nearest: int = 3, snippet_chars: int = 200) -> str:
    """The answer, then its numbered sources with their quotes (or, when it abstained, the
    nearest passages, each cut to `snippet_chars`)."""
    lines = [f"Answer: {answer.short_answer.text}", ""] if answer.short_answer else []
    lines.append(answer.text)
    if answer.removed:
        lines += ["", "Removed as unsupported by the sources:",
                  *[f"  - {r}" for r in answer.removed]]
    note = undated_note(answer.undated_left_out)
    if note:
        lines += ["", note]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            when = display_article_date(c.date, c.date_inferred)
            lines.append(f"[{c.n}] {c.title} ({', '.join(x for x in (when, c.source) if x)}): "
                         f"“{c.quote}”")
            if c.also_reported_by:
                lines.append(f"    also reported by {', '.join(c.also_reported_by)}")
            if c.url:
                lines.append(f"    {c.url}")
    elif answer.abstained and answer.passages:
        lines += ["", "Nearest passages (none of them answers the question):"]
        for p in answer.passages[:nearest]:
            snippet = " ".join(p.chunk.text.split())
            if len(snippet) > snippet_chars:
                snippet = snippet[:snippet_chars].rstrip() + "…"
            lines.append(f"- {p.title} ({display_date(p.date)}): {snippet}")
    return "\n".join(lines)
