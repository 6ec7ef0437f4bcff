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
