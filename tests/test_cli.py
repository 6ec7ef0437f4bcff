"""The CLI contract, through `main(argv)` with the real store and the fake embedder."""

import json
from pathlib import Path
from typing import Any

import pytest

from rag.settings import Settings


def test_ask_json_follows_the_contract(run: Any) -> None:
    code, out, _ = run("ask", "When will US troops leave Niger?", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"question", "answer", "abstained", "citations", "timings_ms"}
    assert set(data["timings_ms"]) == {"retrieve", "rerank", "answer", "total"}
    for c in data["citations"]:
        # Optional keys appear only when set (also_reported_by, url, date_inferred).
        assert set(c) - {"also_reported_by", "url", "date_inferred"} == {
            "n", "article_id", "title", "date", "source", "chunk_id", "quote", "start", "end",
            "score"}
        code, shown, _ = run("show", c["article_id"], "--json")
        assert json.loads(shown)["text"][c["start"]:c["end"]] == c["quote"]


def test_first_use_ingests_samples_then_list_show_delete(run: Any) -> None:
    code, out, err = run("list")
    assert code == 0 and "5 articles" in out and "First run" in err
    code, out, _ = run("list", "--json")
    rows = json.loads(out)
    assert {r["source"] for r in rows} >= {"001_86169f151068293e.txt"}
    assert next(r for r in rows if r["source"].startswith("001"))["date"] == "2024-05-20"
    victim = rows[0]["id"]
    assert run("delete", victim)[0] == 0
    assert len(json.loads(run("list", "--json")[1])) == 4
    code, _, err = run("show", victim)
    assert code == 2 and "No article" in err


@pytest.mark.parametrize("argv", [
    ("ask", ""), ("ask", "   "), ("ask", "x" * 2001), ("ask",),
    ("ingest", "/no/such/path"), ("show", "nope"), ("delete", "nope"),
])
def test_bad_input_exits_2_with_a_message(run: Any, argv: tuple[str, ...]) -> None:
    code, _, err = run(*argv)
    assert code == 2 and err.startswith("newsrag: error:")


@pytest.mark.parametrize(("name", "data"), [
    ("empty.txt", b""), ("bin.txt", b"\x00\xff\x00"), ("latin.txt", "caf\xe9".encode("latin-1")),
    ("bad.json", b"{oops"), ("doc.pdf", b"%PDF"),
])
def test_bad_files_exit_2_and_write_nothing(run: Any, tmp_path: Path, name: str,
                                            data: bytes) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    code, _, err = run("ingest", str(f))
    assert code == 2 and "error" in err
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_history_and_batch(run: Any, tmp_path: Path) -> None:
    hist = tmp_path / "h.json"
    hist.write_text(json.dumps([{"role": "user", "content": "Where is the US drone base?"},
                                {"role": "assistant", "content": "In Agadez [1]."}]))
    code, out, _ = run("ask", "How much did it cost?", "--history", str(hist), "--json")
    assert code == 0 and "drone base" in json.loads(out)["standalone_question"]
    hist.write_text("{bad")
    assert run("ask", "Why?", "--history", str(hist))[0] == 2

    batch = tmp_path / "b.jsonl"
    batch.write_text(json.dumps({"question": "Where is the drone base?"}) + "\n"
                     + "not json\n" + json.dumps({"question": ""}) + "\n")
    code, out, _ = run("ask", "--batch", str(batch), "--json")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 2 and len(lines) == 3
    assert "answer" in lines[0] and lines[1]["error"] == "bad_input" and lines[2]["line"] == 3


def test_human_output_lists_numbered_sources(run: Any) -> None:
    code, out, _ = run("ask", "Where is the US drone base?")
    assert code == 0
    if "[1]" in out:
        assert "Sources:\n[1] " in out
    else:
        assert "Nearest passages" in out


def test_ingest_reports_counts(run: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("The harbour reopened after the storm, officials said.")
    code, out, _ = run("ingest", str(tmp_path / "a.txt"), "--json")
    assert code == 0 and len(json.loads(out)["added"]) == 1
    code, out, _ = run("ingest", str(tmp_path / "a.txt"))
    assert code == 0 and "added 0" in out and "unchanged 1" in out


def test_settings_reject_unknown_environment_keys(run: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSRAG_TOPK", "3")
    code, _, err = run("list")
    assert code == 2 and "Unknown setting NEWSRAG_TOPK" in err and "NEWSRAG_TOP_K" in err


def test_settings_wrong_types_get_a_hint() -> None:
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="top_k"):
        Settings.load({"top_k": "many"}, env={})


def test_ask_since_keeps_only_newer_articles(run: Any) -> None:
    code, out, _ = run("ask", "When will US troops leave Niger?", "--json", "--since",
                       "2024-05-01")
    assert code == 0
    assert all(c["date"] >= "2024-05-01" for c in json.loads(out)["citations"])
    code, _, err = run("ask", "When?", "--since", "someday")
    assert code == 2 and "since" in err


# --- issue 16: --skip-errors, folders of unsupported files, a closed pipe -----------------------


def _folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_skip_errors_exits_0_and_says_what_it_skipped_when_good_files_were_added(
        run: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {
        "a.txt": b"The harbour reopened after the storm, officials said on Monday.",
        "b.txt": b"The mayor opened the new bridge over the river on Tuesday.",
        "empty.txt": b"", "latin.txt": "caf\xe9 au lait".encode("latin-1")})
    code, out, err = run("ingest", str(folder), "--skip-errors")
    assert code == 0, err
    assert "added 2" in out and "skipped 2 files" in out
    assert "skipped" in err and "empty.txt" in err and "latin.txt" in err
    code, out, _ = run("ingest", str(folder), "--skip-errors", "--json")
    report = json.loads(out)
    assert code == 0 and len(report["unchanged"]) == 2 and len(report["errors"]) == 2


def test_skip_errors_still_exits_2_when_every_file_was_bad(run: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"empty.txt": b"", "bin.txt": b"\x00\xff\x00"})
    code, out, _ = run("ingest", str(folder), "--skip-errors")
    assert code == 2 and "added 0" in out and "skipped 2 files" in out


@pytest.mark.parametrize("flags", [(), ("--skip-errors",), ("--json",)])
def test_a_folder_of_only_unsupported_files_says_so_and_exits_2(
        run: Any, tmp_path: Path, flags: tuple[str, ...]) -> None:
    folder = _folder(tmp_path, {"a.pdf": b"%PDF-1.4", "b.pdf": b"%PDF-1.4", "c.docx": b"PK\x03"})
    code, out, err = run("ingest", str(folder), *flags)
    assert code == 2, out
    assert "added 0" not in out
    assert "no file newsrag can read" in err and "3 files" in err
    assert ".pdf" in err and ".docx" in err and "Supported:" in err
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_unsupported_files_passed_over_in_a_folder_are_named(run: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a.txt": b"The harbour reopened after the storm, officials said.",
                                "scan.pdf": b"%PDF-1.4"})
    code, out, err = run("ingest", str(folder))
    assert code == 0 and "added 1" in out
    assert "passed over 1 file" in err and ".pdf" in err


def test_a_reader_that_closes_the_pipe_ends_the_cli_quietly(tmp_path: Path) -> None:
    """`newsrag status | head -1`: the reader is gone before newsrag writes."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    script = ("import sys; from rag import cli; from rag.pipeline import Pipeline; "
              "from tests.conftest import FakeEmbedder; "
              "cli._pipeline = lambda s: Pipeline(s, embedder=FakeEmbedder()); "
              "sys.exit(cli.main(sys.argv[1:]))")
    env = {**os.environ, "NEWSRAG_INDEX_DIR": str(tmp_path / "index")}
    for argv in (["status"], ["list"]):
        proc = subprocess.Popen([sys.executable, "-c", script, *argv], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.close()  # before the child has even started Python
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 141, err.decode()
        assert b"Traceback" not in err and b"BrokenPipe" not in err
        assert b"Exception ignored" not in err
