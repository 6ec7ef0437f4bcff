"""Sentence-aware chunking that keeps character offsets into the article text.

Chunks grow sentence by sentence up to a target size and never cut a sentence; whole sentences
repeat at the start of the next chunk as overlap. Every chunk is `text[start:end]` of its
article, so a citation found in a chunk can be located and highlighted in the article.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.text import count_words, sentence_spans
from rag.types import Article, Chunk, Sentence


@dataclass(frozen=True)
class ChunkParams:
    target_words: int = 120
    max_words: int = 180
    min_words: int = 60
    overlap_words: int = 30

    def as_dict(self) -> dict[str, int]:
        return {
            "target_words": self.target_words,
            "max_words": self.max_words,
            "min_words": self.min_words,
            "overlap_words": self.overlap_words,
        }


def split_sentences(article: Article) -> list[Sentence]:
    return [
        Sentence(article_id=article.id, index=i, start=s, end=e, text=article.text[s:e])
        for i, (s, e) in enumerate(sentence_spans(article.text))
    ]


def chunk_article(
    article: Article, params: ChunkParams, sentences: list[Sentence] | None = None
) -> list[Chunk]:
    sents = sentences if sentences is not None else split_sentences(article)
    if not sents:
        return []
    sizes = [count_words(s.text) for s in sents]
    groups: list[tuple[int, int]] = []  # [first, last] sentence indexes, inclusive
    first = 0
    while first < len(sents):
        last, words = first, sizes[first]
        while (
            last + 1 < len(sents)
            and words < params.target_words
            and words + sizes[last + 1] <= params.max_words
        ):
            last += 1
            words += sizes[last]
        groups.append((first, last))
        if last + 1 >= len(sents):
            break
        # Overlap: step back over whole sentences worth at most `overlap_words`, but always
        # advance by at least one sentence.
        nxt, back = last + 1, 0
        while nxt - 1 > first and back + sizes[nxt - 1] <= params.overlap_words:
            nxt -= 1
            back += sizes[nxt]
        first = nxt
    # A short tail is merged into the chunk before it when that stays within the maximum.
    if len(groups) > 1:
        tail_first, tail_last = groups[-1]
        prev_first, _ = groups[-2]
        tail_words = sum(sizes[tail_first:tail_last + 1])
        merged_words = sum(sizes[prev_first:tail_last + 1])
        if tail_words < params.min_words and merged_words <= params.max_words:
            groups[-2:] = [(prev_first, tail_last)]
    chunks = []
    for i, (a, b) in enumerate(groups):
        start, end = sents[a].start, sents[b].end
        chunks.append(Chunk(
            id=f"{article.id}:{i}", article_id=article.id, index=i,
            text=article.text[start:end], start=start, end=end,
        ))
    return chunks
