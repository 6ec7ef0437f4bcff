"""The llama-index baseline speaks newsrag's types, with spans that point into its own text."""

from __future__ import annotations

from pathlib import Path

import pytest

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "articles"


@pytest.mark.slow
def test_baseline_answers_with_the_top_chunk_and_a_valid_citation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from rag.baseline import LlamaIndexBaseline

    files = sorted(ARTICLES.iterdir())
    baseline = LlamaIndexBaseline.build(files, tmp_path / "chroma", top_k=10)
    passages = baseline.retrieve("Which Russian mercenary group did Niger turn to?", 10)
    assert passages
    assert [p.rank for p in passages] == list(range(len(passages)))
    assert all(p.source in {f.name for f in files} for p in passages)
    for p in passages:
        text = baseline.article_text(p.chunk.article_id)
        assert text[p.chunk.start:p.chunk.end] == p.chunk.text
    answer = baseline.ask("Which Russian mercenary group did Niger turn to?")
    assert answer.citations[0].quote == answer.passages[0].chunk.text
    assert answer.text.endswith("[1]")
    # The stock pipeline never abstains, even when the articles do not answer.
    assert not baseline.ask("Who is the US ambassador to Niger?").abstained
    assert baseline.article_id_for(files[0].name) == files[0].name
    assert baseline.article_id_for("missing.txt") is None


@pytest.mark.slow
def test_baseline_with_an_llm_answers_through_the_stock_citation_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The yardstick for the LLM backends: llama-index's CitationQueryEngine with its own
    # prompt, fed by newsrag's LLM backend (a scripted one here), cited in its own numbering.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from rag.baseline import CITATION_TOP_K, LlamaIndexBaseline
    from rag.llm import ScriptedLLM

    llm = ScriptedLLM("Niger turned to the Wagner group [1].")
    files = sorted(ARTICLES.iterdir())
    baseline = LlamaIndexBaseline.build(files, tmp_path / "chroma", top_k=10, llm=llm)
    question = "Which Russian mercenary group did Niger turn to?"
    answer = baseline.ask(question)
    assert answer.text == "Niger turned to the Wagner group [1]."
    assert not answer.abstained
    # one call, with the engine's numbered sources and the question in its prompt
    assert len(llm.calls) == 1
    prompt = llm.calls[0][-1]["content"]
    assert "Source 1:" in prompt
    assert question in prompt
    # the citations are the sources it was shown, each a quote of its article
    assert answer.citations
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert len({c.article_id for c in answer.citations}) <= CITATION_TOP_K
    for c in answer.citations:
        assert c.quote
        assert c.quote in prompt
        assert baseline.article_text(c.article_id)[c.start:c.end] == c.quote
    assert answer.passages  # retrieval is still reported for gold@k


def test_a_citation_quote_is_found_in_its_article_with_its_whitespace_changed() -> None:
    from rag.baseline import _locate

    text = "Title\n\nThe junta asked the\nUS to leave.  It did."
    assert _locate("The junta asked the US to leave.", text) == (7, 39)
    assert text[7:39] == "The junta asked the\nUS to leave."
    assert _locate("asked the", text) == (17, 26)
    assert _locate("The junta asked France", text) is None
    assert _locate("   ", text) is None
