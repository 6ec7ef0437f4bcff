"""Report folders: each run gets its own, never an earlier run's."""

from __future__ import annotations

from pathlib import Path

from rag.eval.report import new_run_dir


def test_runs_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    first = new_run_dir(out, "rtqa-2025")
    (first / "report.json").write_text("{}")
    second = new_run_dir(out, "rtqa-2025")
    assert first != second and first.is_dir() and second.is_dir()
    assert (first / "report.json").read_text() == "{}"  # the earlier run is untouched
    assert list(second.iterdir()) == []


def test_the_label_names_the_folder(tmp_path: Path) -> None:
    assert new_run_dir(tmp_path, "dev").name.endswith("-dev")
