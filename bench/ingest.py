"""Ingest throughput: chunks per second with the real packaged model, into a fresh index.

Ingests the sample corpus `--copies` times (each copy's text made unique so nothing is
skipped as already present) and prints chunks/s and sentences/s, with the model load timed
separately. Every chunk and every sentence is embedded (sentence vectors serve the answerer).

    .venv/bin/python bench/ingest.py [--copies 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.embed import load_embedder  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.settings import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--model", default=Settings.load(env={}).embed_model,
                    help="embedding model (default: the configured default)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    embedder = load_embedder(args.model)
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for c in range(args.copies):
            for f in sorted((REPO / "data" / "articles").glob("*.txt")):
                (src / f"{c}_{f.name}").write_text(f.read_text() + f"\n\nEdition {c}.\n")
        pipe = Pipeline(Settings.load({"index_dir": Path(tmp) / "index"}, env={}),
                        embedder=embedder)
        t1 = time.perf_counter()
        report = pipe.ingest([src])
        secs = time.perf_counter() - t1
        stats = pipe.stats()
    n_files = args.copies * 5
    print(f"model {args.model}: load {load_s:.1f} s")
    print(f"ingested {len(report.added)}/{n_files} articles, {stats['chunks']} chunks, "
          f"{stats['sentences']} sentences in {secs:.1f} s")
    print(f"throughput: {stats['chunks'] / secs:.1f} chunks/s "
          f"({(stats['chunks'] + stats['sentences']) / secs:.1f} texts embedded/s, "
          f"{n_files / secs:.2f} articles/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
