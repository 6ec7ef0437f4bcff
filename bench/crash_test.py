"""Crash safety: kill -9 a large ingest at random moments, N times, and check the index.

Each trial starts `newsrag`'s ingest in a child process over the same folder of articles and
the same index, kills it with SIGKILL at a random moment, then opens the index in this
process and checks:
  - it opens (no error, no lock left behind);
  - every article the child reported as stored is there;
  - every stored article is whole: its chunk rows, keyword rows, sentence rows and Chroma
    vectors all agree with its chunk count, and no vector belongs to an unknown article;
  - the row counts kept by triggers equal the rows.
The last step re-runs the ingest to the end: the rest is added and nothing is duplicated.

    .venv/bin/python bench/crash_test.py [--trials 20] [--articles 200] [--fake]

`--fake` uses a hashing embedder instead of the real model (the store is what is tested;
the real model only makes each trial slower).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD = r"""
import sys, os
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from rag.pipeline import Pipeline
from rag.settings import Settings
embedder = None
if sys.argv[4] == "fake":
    from bench.crash_test import HashEmbedder
    embedder = HashEmbedder()
pipe = Pipeline(Settings.load({"index_dir": sys.argv[2], "sample_dir": ""}), embedder=embedder)
def progress(done, total, title):
    print(f"stored {done} {title}", flush=True)
pipe.store  # open the index (and run recovery) before saying ready
print("ready", flush=True)
pipe.ingest([Path(sys.argv[3])], progress=progress)
print("finished", flush=True)
"""


class HashEmbedder:
    """Deterministic 64-d bag-of-words vectors: fast, and enough to exercise the store."""

    name = "hash-64"
    dim = 64

    def embed(self, texts):  # type: ignore[no-untyped-def]
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1
            out[i] /= max(1e-9, float(np.linalg.norm(out[i])))
        return out

    def embed_query(self, text):  # type: ignore[no-untyped-def]
        return self.embed([text])[0]


def make_corpus(folder: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    base = [p.read_text() for p in sorted((REPO / "data" / "articles").glob("*.txt"))]
    for i in range(n):
        text = base[i % len(base)]
        paras = [p for p in text.split("\n") if p.strip()]
        rng.shuffle(paras)
        (folder / f"story_{i:04d}.txt").write_text(
            f"Story {i}: report number {i}\n\n" + "\n\n".join(paras) + f"\n\nFiled as item {i}.\n")


def check(index: Path, reported: set[str], fake: bool) -> tuple[int, list[str]]:
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    problems: list[str] = []
    pipe = Pipeline(Settings.load({"index_dir": index, "sample_dir": ""}, env={}),
                    embedder=HashEmbedder() if fake else None)
    store = pipe.store  # opening runs recovery
    con = store._conn()
    rows = con.execute("SELECT id, title, chunk_count FROM articles").fetchall()
    titles = {r[1] for r in rows}
    for title in reported - titles:
        problems.append(f"reported but missing: {title}")
    for aid, _title, n in rows:
        counts = (
            con.execute("SELECT COUNT(*) FROM chunks WHERE article_id=?", (aid,)).fetchone()[0],
            con.execute("SELECT COUNT(*) FROM chunks_fts WHERE chunk_id LIKE ?",
                        (f"{aid}:%",)).fetchone()[0],
            len(store._collection.get(where={"article_id": aid}, include=[])["ids"]),
        )
        if counts != (n, n, n):
            problems.append(f"{aid}: chunk_count {n}, rows/fts/vectors {counts}")
        if not con.execute("SELECT COUNT(*) FROM sentences WHERE article_id=?",
                           (aid,)).fetchone()[0]:
            problems.append(f"{aid}: no sentences")
    if store.vector_count() != sum(r[2] for r in rows):
        problems.append(f"vectors {store.vector_count()} != chunks {sum(r[2] for r in rows)}")
    true_counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                   for t in ("articles", "chunks", "sentences")}
    if store.counts() != true_counts:  # the trigger-kept tallies (rag/store/schema.py)
        problems.append(f"tallies {store.counts()} != rows {true_counts}")
    if con.execute("SELECT COUNT(*) FROM pending").fetchone()[0]:
        problems.append("pending journal not cleared")
    pipe.close()
    return len(rows), problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--articles", type=int, default=200)
    ap.add_argument("--fake", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="newsrag-crash-"))
    src, index = tmp / "src", tmp / "index"
    src.mkdir()
    make_corpus(src, args.articles, args.seed)
    mode = "fake" if args.fake else "real"
    ok = 0
    print(f"{args.trials} trials, {args.articles} articles, {mode} embedder, index {index}")
    for trial in range(1, args.trials + 1):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), str(index), str(src),
                                 mode], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            print(f"trial {trial}: child failed to start")
            return 1
        reported: set[str] = set()
        delay = rng.uniform(0.05, 8.0 if args.fake else 15.0)
        deadline = time.monotonic() + delay
        os.set_blocking(proc.stdout.fileno(), False)
        finished = False
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            if line.startswith("stored "):
                reported.add(line.split(" ", 2)[2].strip())
            finished = finished or line.startswith("finished")
            if not line:
                time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):  # it may finish before the kill
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for line in proc.stdout.read().splitlines():  # lines written before the kill
            if line.startswith("stored "):
                reported.add(line.split(" ", 2)[2].strip())
        stored, problems = check(index, reported, args.fake)
        status = "ok" if not problems else "FAIL"
        ok += not problems
        print(f"trial {trial:2}: killed after {delay:4.2f}s, {len(reported):3} reported, "
              f"{stored:3} stored: {status}")
        if stored == args.articles and trial < args.trials:
            # All in: start a new index so the next kill lands mid-ingest. (A new path, not
            # rmtree: Chroma keeps one client per path open in this process.)
            index = tmp / f"index-{trial}"
        for p in problems[:5]:
            print(f"    {p}")
    # Re-running finishes the rest.
    subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(index), str(src), mode],
                   stdout=subprocess.DEVNULL, check=True)
    stored, problems = check(index, set(), args.fake)
    complete = stored == args.articles and not problems
    print(f"re-run: {stored}/{args.articles} articles stored, "
          f"{'complete and consistent' if complete else problems[:5]}")
    print(f"tally: {ok}/{args.trials} trials consistent after kill -9")
    return 0 if ok == args.trials and complete else 1


if __name__ == "__main__":
    sys.exit(main())
