"""The HTTP API's request and reply shapes (rag/api.py's routes use them): request bodies
checked at the edge, and the `*Out` reply models that `/openapi.json` and `/docs` show. Optional
keys stay absent unless set, and keys a reply model does not name yet pass through
(`extra="allow"`) rather than vanish."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.errors import InputError
from rag.text import require_unicode
from rag.types import Turn

MODEL_ID = "newsrag"
# Where an answer's list of sources starts in a /v1 message (and where a client's earlier
# answer sent back as history is cut: the list is not part of what was said).
SOURCES_HEADING = "\n\nSources:\n"
COLLECTION_DOC = ("The collection (archive) to use (rag/collections.py): 1-40 of a-z 0-9 _ -, "
                  "starting with a letter or digit. Default `main`.")


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
    collection: str | None = Field(None, description=COLLECTION_DOC)
    include_undated: bool | None = Field(
        None, description="With since/until: take undated articles in too (default: the "
        "include_undated setting).")


class ChatMessageIn(BaseModel):
    # OpenAI clients send fields we ignore (name, tool_calls...): accept them.
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(_Body):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens...: irrelevant here
    model: str = MODEL_ID
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = Field(
        None, description="`include_usage`: a last chunk with `usage` and no choices.")
    n: int | None = Field(None, description="Only 1: newsrag gives one answer per question.")
    top_k: int | None = Field(None, ge=1, le=50)
    collection: str | None = Field(
        None, description=COLLECTION_DOC + " Generic clients that can only set `model` "
        f"may send `{MODEL_ID}:NAME` there instead; this field wins when both are given.")
    sources_in_content: bool = Field(
        True, description="End the message content with a 'Sources:' list of the citations, "
        "for clients that keep only the content (the `citations` field has them as data).")


def messages_to_question(messages: list[ChatMessageIn]) -> tuple[str, list[Turn]]:
    """The last user message is the question; earlier user/assistant messages are the history.

    System messages are ignored: newsrag's behaviour is fixed (cite or abstain).
    """
    # An earlier answer sent back with its "Sources:" list: the list is not part of what was
    # said, and its quotes would pull a follow-up towards every cited article.
    turns = [Turn(m.role, m.text().split(SOURCES_HEADING, 1)[0] if m.role == "assistant"
                  else m.text()) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise InputError(
            "The last message must come from the user.",
            hint='End `messages` with {"role": "user", "content": "<question>"}.',
        )
    return turns[-1].content, turns[:-1]


# --- response bodies -------------------------------------------------------------------------


class _Out(BaseModel):
    # A key newsrag adds before a model names it passes through instead of vanishing.
    model_config = ConfigDict(extra="allow")


class CitationOut(_Out):
    n: int = Field(description="The `[n]` marker in the answer text.")
    article_id: str
    title: str
    date: str | None = Field(description="Publication day, YYYY-MM-DD; null when undated.")
    source: str = Field(description="The outlet, or the file name when none is known.")
    chunk_id: str
    quote: str = Field(description="Exactly `article.text[start:end]`.")
    start: int = Field(description="Character offset of the quote in the article text.")
    end: int
    score: float
    also_reported_by: list[str] | None = Field(
        None, description="Only when set: other sources of the same passage.")
    url: str | None = Field(
        None, description="Only when set: the web article's URL with a `#:~:text=` fragment.")
    date_inferred: bool | None = Field(
        None, description="Only when set (true): the date was estimated from the text.")


class ShortAnswerOut(_Out):
    text: str = Field(description="The few words that answer: `article.text[start:end]`.")
    article_id: str
    start: int
    end: int
    citation: int = Field(description="The `n` of the citation whose quote holds it.")
    confidence: float = Field(0.0, description="The reader's probability that these words are "
                              "the answer (shown from `short_answer_threshold` up).")


class PassageOut(_Out):
    article_id: str
    chunk_id: str
    title: str
    date: str | None
    source: str
    text: str = Field(description="The chunk: `article.text[start:end]`.")
    start: int
    end: int
    score: float


class AnswerOut(_Out):
    """The `Answer` JSON contract, the same as `newsrag ask --json`."""

    question: str
    short_answer: ShortAnswerOut | None
    answer: str = Field(description="The answer with `[n]` citation markers.")
    abstained: bool
    confidence: float
    citations: list[CitationOut]
    timings_ms: dict[str, float]
    as_of: str | None = Field(None, description="When known: the day 'now' meant.")
    undated_left_out: int | None = Field(
        None, description="Only when set: undated articles among the best matches that the "
        "since/until filter left out.")
    standalone_question: str | None = Field(
        None, description="Only for a follow-up: the question as understood.")
    nearest_passages: list[PassageOut] | None = Field(
        None, description="Only when it abstained: the passages that came closest.")
    backend: str | None = Field(None, description="Only with an LLM backend: which one.")
    removed: list[str] | None = Field(
        None, description="Only when set: sentences the verifier removed as unsupported.")
    backend_error: str | None = Field(
        None, description="Only when set: why the LLM backend failed (this is the extractive "
        "answer).")


class ArticleSummaryOut(_Out):
    id: str
    title: str
    date: str | None
    source: str
    chunks: int
    url: str | None


class ArticlePageOut(_Out):
    count: int = Field(description="Articles in this page.")
    total: int = Field(description="Articles in the index.")
    offset: int
    articles: list[ArticleSummaryOut]


class ArticleOut(_Out):
    id: str
    title: str
    date: str | None
    date_inferred: bool
    source: str
    url: str | None
    author: str | None
    origin: str
    text: str = Field(description="The cleaned text every offset points into.")


class IngestErrorOut(_Out):
    path: str
    error: str


class IngestReportOut(_Out):
    added: list[str]
    replaced: list[str]
    unchanged: list[str]
    removed: list[str]
    chunks_added: int
    errors: list[IngestErrorOut]


class DeletedOut(_Out):
    deleted: str


class HealthOut(_Out):
    status: Literal["ok"]
    version: str | None = None
    articles: int | None = None
    chunks: int | None = None
    sentences: int | None = None
    embed_model: str | None = None
    backend: str | None = None
    index_dir: str | None = None
    updated_at: float | None = None
    oldest_date: str | None = None
    newest_date: str | None = None
    copy_groups: int | None = None
    last_changed: str | None = None
    collection: str | None = None


class CollectionOut(_Out):
    name: str
    articles: int = Field(description="Articles in it, from its manifest.")
    chunks: int


class CollectionListOut(_Out):
    collections: list[CollectionOut] = Field(description="`main` first, then by name.")


class ErrorOut(_Out):
    error: str = Field(description="A stable code: bad_input, not_found, ...")
    message: str
    hint: str | None = None
    details: list[dict[str, Any]] | None = Field(None, description="422: each wrong field.")
    files: list[dict[str, Any]] | None = Field(None, description="A rejected upload's files.")


class OpenAIErrorInner(_Out):
    message: str
    type: str | None
    code: str | None
    hint: str | None = None


class OpenAIErrorOut(_Out):
    error: OpenAIErrorInner


class ModelOut(_Out):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelListOut(_Out):
    object: Literal["list"]
    data: list[ModelOut]


class AssistantMessageOut(_Out):
    role: Literal["assistant"]
    content: str


class ChoiceOut(_Out):
    index: int
    message: AssistantMessageOut
    finish_reason: str


class UsageOut(_Out):
    """Counted as words and punctuation marks (`count_tokens`), not a model's subword tokens:
    the default answerer has no tokenizer, and the figures must not depend on the backend."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(_Out):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChoiceOut]
    usage: UsageOut
    citations: list[CitationOut] = Field(description="newsrag's citations, as data.")
    abstained: bool
    nearest_passages: list[PassageOut] | None = None
    backend: str | None = None
    removed: list[str] | None = None
    backend_error: str | None = None
