"""Latency of the HTTP API under 10 simultaneous asks, and server start-up time.

Starts `serve()` in its own process on a throw-away index (so the clients here do not share a
GIL with the server), builds the sample corpus on the first start, restarts it on the built index
to time a normal start, then fires rounds of 10 concurrent `POST /api/ask`.

    .venv/bin/python bench/load_api.py [--rounds 3] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.serve import free_port  # noqa: E402

QUESTIONS = [
    "When must US troops leave Niger?",
    "How many US troops are in Niger?",
    "Why did Niger end its military agreement with the US?",
    "Who leads Niger's military government?",
    "What base does the US operate in Agadez?",
]


def start(index_dir: str, port: int) -> tuple[subprocess.Popen[str], float]:
    code = ("import sys; from rag.settings import Settings; from rag.serve import serve; "
            f"serve(Settings.load({{'index_dir': sys.argv[1]}}), port={port})")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("NEWSRAG_API_KEY", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, index_dir], env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and time.perf_counter() - t0 < 300:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=10)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="newsrag-bench-") as index_dir:
        proc, first = start(index_dir, free_port())
        stop(proc)
        port = free_port()
        proc, warm = start(index_dir, port)
        url = f"http://127.0.0.1:{port}/api/ask"
        print(f"start-up: {first:.1f}s with an empty index (builds the sample corpus), "
              f"{warm:.1f}s with a built index")
        try:
            def ask(i: int) -> float:
                t0 = time.perf_counter()
                r = httpx.post(url, json={"question": QUESTIONS[i % len(QUESTIONS)]}, timeout=300)
                r.raise_for_status()
                return time.perf_counter() - t0

            ask(0)  # first request pays for lazy initialisation; not what users see afterwards
            all_ms: list[float] = []
            for n in range(args.rounds):
                t0 = time.perf_counter()
                with ThreadPoolExecutor(args.concurrency) as pool:
                    lat = [x * 1000 for x in pool.map(ask, range(args.concurrency))]
                wall = time.perf_counter() - t0
                all_ms += lat
                print(f"round {n + 1}: {args.concurrency} simultaneous asks, p50 "
                      f"{statistics.median(lat):.0f} ms, p95 {pct(lat, 0.95):.0f} ms, "
                      f"wall {wall:.2f}s")
            print(f"overall ({len(all_ms)} asks): p50 {statistics.median(all_ms):.0f} ms, "
                  f"p95 {pct(all_ms, 0.95):.0f} ms, max {max(all_ms):.0f} ms, "
                  f"cpus {os.cpu_count()}")
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
