import json
from pathlib import Path

import pytest

from rag.errors import InputError, TooLargeError, UnsupportedFormatError
from rag.ingest import clean_text, discover, parse_bytes, read_file, to_article

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "articles"


def test_boilerplate_lines_are_dropped_by_general_rules() -> None:
    raw = ("Big Story Headline Here\n\nauthor-image\nJane Q Reporter\nUpdated On\nNew Update\n"
           "Big Story Headline Here\n\nThe council voted on Monday to close the bridge.\n\n"
           "Share on Facebook\nRead More\nTAGS\nThe bridge reopens next year.\nShare This")
    c = clean_text(raw)
    assert c.title == "Big Story Headline Here"
    assert c.author == "Jane Q Reporter"
    assert c.text == ("Big Story Headline Here\n\nThe council voted on Monday to close the "
                      "bridge.\n\nThe bridge reopens next year.")


def test_a_leading_date_header_becomes_the_date() -> None:
    assert clean_text(" date 2024-05-20 \n\nBody sentence here.").date == "2024-05-20"
    assert clean_text("Published: May 20, 2024\nBody sentence here.").date == "2024-05-20"
    # A date later in the body is content, not a header.
    c = clean_text("Body sentence here.\ndate 2024-05-20")
    assert c.date is None and "2024-05-20" in c.text


def test_short_real_lines_are_kept() -> None:
    c = clean_text("Key Takeaways\n• U.S. agrees to withdraw troops.\nWhy this matters")
    assert c.text.splitlines() == ["Key Takeaways", "• U.S. agrees to withdraw troops.",
                                   "Why this matters"]


def test_sample_articles_are_cleaned() -> None:
    arts = {p.name: to_article(read_file(p, 10**7)[0]) for p in discover([SAMPLE])}
    a1 = arts["001_86169f151068293e.txt"]
    assert a1.date == "2024-05-20" and not a1.text.startswith("date")
    a2 = arts["002_6be8afa9a8b09b71.txt"]
    assert a2.text.count("US to withdraw ‘illegal’ troops by mid-September") == 1
    assert a2.title.startswith("Niger: US to withdraw")
    assert "Share This" not in a2.text and "CATEGORIES" not in a2.text
    a4 = arts["004_0c93480edaaab725.txt"]
    assert a4.title == "U.S. to Withdraw Troops from Niger Amid Russia's Growing Influence"
    assert a4.text.count(a4.title) == 1
    for junk in ("author-image", "Updated On", "New Update"):
        assert junk not in a4.text
    assert a4.author == "Nasiru Eneji Abdulrasheed"
    assert "Key Takeaways" in a4.text  # content headings stay


def test_article_ids_are_content_hashes() -> None:
    a = to_article(parse_bytes("a.txt", b"Same words in here.", origin="x")[0])
    b = to_article(parse_bytes("b.txt", b"Same words in here.", origin="y")[0])
    c = to_article(parse_bytes("a.txt", b"Other words in here.", origin="x")[0])
    assert a.id == b.id != c.id


def test_json_and_jsonl_records_carry_metadata() -> None:
    rec = {"title": "T", "text": "Body text here.", "date": "2024-04-20T10:00:00Z",
           "url": "https://www.example.org/a", "source": "Wire", "author": "A B"}
    (doc,) = parse_bytes("x.json", json.dumps(rec).encode(), origin="o")
    art = to_article(doc)
    assert (art.title, art.date, art.source, art.url, art.author) == (
        "T", "2024-04-20", "Wire", "https://www.example.org/a", "A B")
    lines = "\n".join(json.dumps({"title": f"T{i}", "text": f"Body {i} here."}) for i in range(3))
    docs = parse_bytes("x.jsonl", lines.encode(), origin="o")
    assert [d.title for d in docs] == ["T0", "T1", "T2"]
    assert len({d.origin for d in docs}) == 3


def test_html_main_text_skips_navigation_and_reads_metadata() -> None:
    html = b"""<html><head><title>Site | Story</title>
    <meta property="article:published_time" content="2024-05-19T08:00:00Z">
    <link rel="canonical" href="https://news.example/story"></head>
    <body><nav>Home World Sport</nav><h1>The Story</h1>
    <div class="share-buttons">Share on X</div><p>First paragraph here.</p>
    <script>alert(1)</script><p>Second paragraph.</p><footer>Copyright</footer></body></html>"""
    art = to_article(parse_bytes("s.html", html, origin="o")[0])
    assert art.title == "The Story" and art.date == "2024-05-19"
    assert art.url == "https://news.example/story" and art.source == "news.example"
    assert "First paragraph here." in art.text and "Second paragraph." in art.text
    for junk in ("Home World", "Share on X", "alert", "Copyright"):
        assert junk not in art.text


@pytest.mark.parametrize(("name", "data", "error", "words"), [
    ("empty.txt", b"", InputError, "empty"),
    ("blank.txt", b"  \n\t\n", InputError, "empty"),
    ("bin.txt", b"abc\x00\x01\x02", InputError, "binary"),
    ("latin.txt", "caf\xe9".encode("latin-1"), InputError, "UTF-8"),
    ("bad.json", b'{"text": ', InputError, "malformed JSON"),
    ("bad.jsonl", b'{"text": "ok here"}\n{oops}\n', InputError, "line 2"),
    ("notext.json", b'{"title": "x"}', InputError, "'text'"),
    ("list.json", b"[1, 2]", InputError, "object"),
    ("deep.json", b"[" * 100000 + b"]" * 100000, InputError, "JSON"),
    ("x.pdf", b"%PDF-1.4", UnsupportedFormatError, "Unsupported"),
    ("junk.txt", b"Share This\nCATEGORIES\n", InputError, "no article text"),
])
def test_bad_input_is_rejected_with_a_clear_message(
    name: str, data: bytes, error: type[Exception], words: str
) -> None:
    def parse_and_clean() -> None:
        for doc in parse_bytes(name, data, origin="o"):
            to_article(doc)

    with pytest.raises(error, match=words):
        parse_and_clean()


def test_missing_paths_and_unknown_extensions(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No such file"):
        discover([tmp_path / "nope.txt"])
    (tmp_path / "a.docx").write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError):
        discover([tmp_path / "a.docx"])
    (tmp_path / "good.txt").write_text("Fine text.")
    (tmp_path / ".hidden.txt").write_text("Hidden.")
    assert [p.name for p in discover([tmp_path])] == ["good.txt"]  # folders skip the rest


def test_oversize_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    with pytest.raises(TooLargeError):
        read_file(big, max_bytes=100)


def test_an_article_stating_only_an_update_date_is_dated_about_that_day() -> None:
    """The update date bounds the publication day (rag/dates.py); rather than leave the
    article out of every dated search, it is shown as an estimate ("about ...")."""
    text = (b"Storm closes schools\nUpdated 3:05 PM EDT, Tue March 4, 2025\n"
            b"Schools in the county closed on Tuesday as the storm moved in from the coast.")
    art = to_article(parse_bytes("storm.txt", text, origin="t")[0])
    assert art.date == "2025-03-04" and art.date_inferred
    assert "Updated" not in art.text
    stated = to_article(parse_bytes("s.txt", text.replace(b"Updated", b"Published"),
                                    origin="t")[0])
    assert stated.date == "2025-03-04" and not stated.date_inferred
