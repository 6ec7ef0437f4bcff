"""Deep links to the quoted passage: `#:~:text=` fragments, percent-encoded."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

from rag.deeplink import text_fragment_url
from rag.pipeline import Pipeline


def test_a_short_quote_is_linked_whole_and_encoded() -> None:
    url = text_fragment_url("https://a.example/story#top", "Troops leave “no later” than "
                                                             "mid-September, officials said.")
    assert url == ("https://a.example/story#:~:text=Troops%20leave%20%E2%80%9Cno%20later%E2%80%9D"
                   "%20than%20mid%2DSeptember%2C%20officials%20said.")


def test_a_long_quote_is_linked_by_its_first_and_last_words() -> None:
    quote = ("The American withdrawal has already begun, defense officials from the Pentagon "
             "and Niger confirmed, with all troops to leave no later than September 15.")
    url = text_fragment_url("http://b.example/x", quote)
    assert url is not None
    start, end = url.split("#:~:text=")[1].split(",")
    assert unquote(start) == "The American withdrawal has"
    assert unquote(end) == "later than September 15."
    assert "&" not in url.split("#")[1]


def test_no_link_without_a_web_url() -> None:
    assert text_fragment_url(None, "x") is None
    assert text_fragment_url("/local/file.txt", "x") is None


def test_a_cited_web_article_carries_the_deep_link(fake_pipeline: Pipeline,
                                                   tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"title": "Bridge", "url": "https://site.example/bridge",
                             "date": "2024-05-20",
                             "text": "The bridge will open on 3 June after seven years of work."}))
    fake_pipeline.ingest([f])
    answer = fake_pipeline.ask("When will the bridge open?")
    assert answer.citations
    c = answer.to_dict()["citations"][0]
    assert c["url"].startswith("https://site.example/bridge#:~:text=The%20bridge")
