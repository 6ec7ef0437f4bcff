"""A non-editable install runs from any folder: its data go where it is run, not into the
installed package (issue 16 item 6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rag.serve import free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_install_serves_from_an_empty_folder_and_keeps_its_index_there(
        tmp_path: Path) -> None:
    site, work, src = tmp_path / "site", tmp_path / "work", tmp_path / "src"
    work.mkdir()
    # Built from a copy of what a wheel is made of, so the build leaves nothing in the checkout.
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("rag", "ui"):
        shutil.copytree(REPO / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(src)],
                   check=True, capture_output=True, timeout=600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSRAG_")}
    env.update(PYTHONPATH=str(site), HF_HUB_OFFLINE="1")
    code = "import rag, ui; print(rag.__file__, ui.__file__)"
    where = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                           text=True, check=True)
    assert all(p.startswith(str(site)) for p in where.stdout.split()), where.stdout
    newsrag = [sys.executable, str(site / "bin" / "newsrag")]
    helped = subprocess.run([*newsrag, "--help"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=60)
    assert helped.returncode == 0 and "serve" in helped.stdout
    port = free_port()
    proc = subprocess.Popen([*newsrag, "serve", "--port", str(port)], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 180, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert health is not None and health.status_code == 200, proc.poll()
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200  # the page
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert (work / "index").is_dir() and any((work / "index").iterdir()), out
    assert not (site / "index").exists() and not (site / "rag" / "index").exists()
    assert health.json().get("articles") == 0  # a wheel carries no sample corpus
