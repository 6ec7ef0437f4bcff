"""`newsrag eval`'s arguments: which eval they run, and the typed arguments it is given."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from rag import cli, cli_eval
from rag.errors import InputError
from rag.settings import REPO_ROOT, Settings


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_eval.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def harnesses(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """Replaces both harnesses' `run` with a recorder that returns 7."""
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for name in ("gold", "realtimeqa"):
        def record(*args: Any, _name: str = name, **kwargs: Any) -> int:
            calls.append((_name, args, kwargs))
            return 7

        monkeypatch.setattr(f"rag.eval.{name}.run", record)
    return calls


def test_realtimeqa_needs_a_path_and_the_default_dataset_stays_the_gold_set() -> None:
    with pytest.raises(InputError, match="needs the path"):
        cli_eval.run(_args("--dataset", "realtimeqa"), Settings.load({}, env={}))
    assert cli_eval._dataset(_args()) == ("gold", None)
    args = _args("--dataset", "realtimeqa", "x", "--archive", "--weeks", "2025")
    assert cli_eval._dataset(args) == ("realtimeqa", Path("x")) and args.archive


@pytest.mark.parametrize("dataset", [("squad",), ("squad", "x"), ("realtimeqa", "x", "y")])
def test_an_unknown_dataset_is_an_input_error(dataset: tuple[str, ...]) -> None:
    with pytest.raises(InputError, match="Unknown dataset"):
        cli_eval._dataset(_args("--dataset", *dataset))


def test_the_gold_set_runs_with_the_default_files(harnesses: list[Any]) -> None:
    settings = Settings.load({}, env={})
    assert cli_eval.run(_args(), settings) == 7
    assert harnesses == [("gold", (settings,), {
        "gold": REPO_ROOT / "eval" / "gold.jsonl", "split": "test",
        "out": REPO_ROOT / "eval" / "reports", "articles": None, "baseline": False,
        "compare": None, "limit": None})]


def test_gold_arguments_reach_the_gold_harness(harnesses: list[Any], tmp_path: Path) -> None:
    settings = Settings.load({}, env={})
    args = _args("--dataset", "gold", "--gold", str(tmp_path / "g.jsonl"), "--split", "dev",
                 "--out", str(tmp_path / "r"), "--articles", str(tmp_path / "a"), "--baseline",
                 "--compare", str(tmp_path / "old.json"), "--limit", "3")
    assert cli_eval.run(args, settings) == 7
    assert harnesses == [("gold", (settings,), {
        "gold": tmp_path / "g.jsonl", "split": "dev", "out": tmp_path / "r",
        "articles": tmp_path / "a", "baseline": True, "compare": tmp_path / "old.json",
        "limit": 3})]


def test_realtimeqa_arguments_reach_the_realtimeqa_harness(harnesses: list[Any],
                                                           tmp_path: Path) -> None:
    settings = Settings.load({}, env={})
    assert cli_eval.run(_args("--dataset", "realtimeqa", "rtqa"), settings) == 7
    args = _args("--dataset", "realtimeqa", str(tmp_path), "--weeks", "2025-01", "--archive",
                 "--limit", "5", "--baseline", "--baseline-llm", "--out", str(tmp_path / "r"),
                 "--compare", str(tmp_path / "old.json"), "--cache-dir", str(tmp_path / "c"),
                 "--rebuild")
    assert cli_eval.run(args, settings) == 7
    assert harnesses == [
        ("realtimeqa", (settings, Path("rtqa")), {
            "out": REPO_ROOT / "eval" / "reports", "weeks": None, "archive": False,
            "limit": None, "baseline": False, "baseline_llm": False, "compare": None,
            "cache_dir": None,
            "rebuild": False}),
        ("realtimeqa", (settings, tmp_path), {
            "out": tmp_path / "r", "weeks": "2025-01", "archive": True, "limit": 5,
            "baseline": True, "baseline_llm": True, "compare": tmp_path / "old.json",
            "cache_dir": tmp_path / "c",
            "rebuild": True}),
    ]


def test_the_gold_set_has_no_llm_baseline(harnesses: list[Any]) -> None:
    with pytest.raises(InputError, match="--baseline-llm is for --dataset realtimeqa"):
        cli_eval.run(_args("--baseline-llm"), Settings.load({}, env={}))
    assert harnesses == []


def test_the_llm_baseline_needs_an_llm_backend_to_hand_it(tmp_path: Path) -> None:
    from rag.eval import realtimeqa

    with pytest.raises(InputError, match="needs an LLM backend"):
        realtimeqa.run(Settings.load({}, env={}), tmp_path, out=tmp_path / "r",
                       baseline_llm=True)
    assert not (tmp_path / "r").exists()


def test_newsrag_eval_runs_the_harness_with_the_backend_setting(
        harnesses: list[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSRAG_INDEX_DIR", str(tmp_path / "index"))
    code = cli.main(["eval", "--dataset", "realtimeqa", "x", "--per-week", "--backend", "local"])
    assert code == 7
    ((name, (settings, root), kwargs),) = harnesses
    assert (name, root, kwargs["archive"]) == ("realtimeqa", Path("x"), False)
    assert settings.backend == "local"
