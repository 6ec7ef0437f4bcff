import random
from pathlib import Path

import pytest

from rag.chunk import ChunkParams, chunk_article, split_sentences
from rag.ingest import discover, read_file, to_article
from rag.text import count_words
from rag.types import Article

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "articles"


def _article(text: str) -> Article:
    return Article(id="a1", title="t", text=text)


def _random_text(seed: int) -> str:
    rng = random.Random(seed)
    vocab = "the council said troops would leave by September after talks in the capital".split()
    paras = []
    for _ in range(rng.randint(1, 8)):
        sents = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 40))).capitalize() + "."
                 for _ in range(rng.randint(1, 9))]
        paras.append(" ".join(sents))
    return "\n\n".join(paras)


@pytest.mark.parametrize("seed", range(25))
def test_chunks_are_exact_spans_within_size_and_cover_every_sentence(seed: int) -> None:
    art = _article(_random_text(seed))
    params = ChunkParams(target_words=60, max_words=90, min_words=20, overlap_words=15)
    sents = split_sentences(art)
    chunks = chunk_article(art, params, sents)
    for c in chunks:
        assert art.text[c.start:c.end] == c.text
        inside = [s for s in sents if c.start <= s.start and s.end <= c.end]
        # Over the maximum only when a single sentence is longer than it.
        assert count_words(c.text) <= params.max_words or len(inside) == 1
    covered = {s.index for s in sents for c in chunks if c.start <= s.start and s.end <= c.end}
    assert covered == {s.index for s in sents}
    assert [c.id for c in chunks] == [f"a1:{i}" for i in range(len(chunks))]
    assert all(a.start < b.start for a, b in zip(chunks, chunks[1:], strict=False))


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(40))
    art = _article(text)
    chunks = chunk_article(art, ChunkParams(target_words=50, max_words=60, min_words=10,
                                            overlap_words=15))
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end  # overlap
        assert art.text[b.start:a.end].endswith(".")  # of whole sentences


def test_sample_articles_chunk_to_the_target_size() -> None:
    for path in discover([SAMPLE]):
        art = to_article(read_file(path, 10**7)[0])
        sizes = [count_words(c.text) for c in chunk_article(art, ChunkParams())]
        assert sizes and all(s <= 180 for s in sizes)
        assert all(s >= 60 for s in sizes[:-1])
