"""The gold set is data with a contract: these checks keep hand edits honest."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rag.eval.gold import CATEGORIES, load_gold

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "eval" / "gold.jsonl"
ARTICLES = ROOT / "data" / "articles"
# Lines that are page furniture, not reporting: evidence must never come from them.
BOILERPLATE = {"Share This", "CATEGORIES", "author-image", "Updated On", "New Update",
               "Key Takeaways"}


def _items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line]


ITEMS = _items()


def test_gold_has_enough_items_and_unanswerables() -> None:
    counts = Counter(item["category"] for item in ITEMS)
    assert len(ITEMS) >= 60
    assert counts["unanswerable"] >= 10
    assert set(counts) == set(CATEGORIES), "every category is covered"


def test_ids_are_unique() -> None:
    ids = [item["id"] for item in ITEMS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i["id"])
def test_item_schema(item: dict[str, Any]) -> None:
    assert set(item) <= {"id", "split", "category", "question", "answers", "evidence", "turns"}
    assert item["split"] in {"dev", "test"}
    assert item["category"] in CATEGORIES
    assert item["question"].strip()
    if item["category"] == "unanswerable":
        assert item["answers"] == []
        assert item["evidence"] == []
    else:
        assert item["answers"]
        assert item["evidence"]
    if item["category"] in {"list", "multi_article"}:
        assert len(item["answers"]) >= 2
        assert all(isinstance(g, list) for g in item["answers"])
    if item["category"] == "multi_article":
        assert len({ev["doc"] for ev in item["evidence"]}) >= 2
    if item["category"] == "multi_turn":
        assert item["turns"], "a multi-turn item needs earlier turns"
        assert all(t["role"] in {"user", "assistant"} and t["content"] for t in item["turns"])
    else:
        assert "turns" not in item


@pytest.mark.parametrize("item", [i for i in ITEMS if i["evidence"]], ids=lambda i: i["id"])
def test_every_evidence_string_is_on_one_line_of_its_raw_file(item: dict[str, Any]) -> None:
    for ev in item["evidence"]:
        path = ARTICLES / ev["doc"]
        assert path.is_file(), f"{item['id']}: no article {ev['doc']}"
        lines = path.read_text(encoding="utf-8").splitlines()
        hits = [line for line in lines if ev["text"] in line]
        assert hits, f"{item['id']}: evidence not found in {ev['doc']}: {ev['text']!r}"
        assert all(line.strip() not in BOILERPLATE for line in hits)


def test_split_is_stratified_about_forty_percent_dev() -> None:
    by_cat: dict[str, Counter[str]] = {}
    for item in ITEMS:
        by_cat.setdefault(item["category"], Counter())[item["split"]] += 1
    for cat, c in by_cat.items():
        share = c["dev"] / (c["dev"] + c["test"])
        assert 0.25 <= share <= 0.55, f"{cat}: {dict(c)}"
    dev = sum(c["dev"] for c in by_cat.values())
    assert 0.35 <= dev / len(ITEMS) <= 0.45


def test_loader_accepts_the_gold_file() -> None:
    items = load_gold(GOLD)
    assert len(items) == len(ITEMS)
    assert sum(1 for i in items if not i.answerable) == sum(
        1 for i in ITEMS if i["category"] == "unanswerable"
    )


def test_loader_rejects_bad_lines_with_their_line_number(tmp_path: Path) -> None:
    from rag.errors import InputError

    bad = tmp_path / "gold.jsonl"
    good = json.dumps(ITEMS[0])
    bad.write_text(good + "\n" + json.dumps({**ITEMS[1], "category": "trivia"}) + "\n")
    with pytest.raises(InputError, match="line 2"):
        load_gold(bad)
    bad.write_text(good + "\n" + good + "\n")
    with pytest.raises(InputError, match="duplicate id"):
        load_gold(bad)
