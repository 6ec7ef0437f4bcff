"""Ask latency while a large article is uploaded: does ingest stall serving?

Starts `newsrag serve` in its own process on a throw-away index (the sample corpus), runs
`--clients` askers in a loop for `--seconds` with nothing else going on (idle), then again
while one `POST /api/articles` uploads a generated article of `--mb` MB, and prints p50/p95 of
both and the upload's own time. Issue 13 asks for p95 during the upload within 2x of idle.

    .venv/bin/python bench/upload_under_load.py [--mb 5] [--clients 20] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_api import QUESTIONS, start  # noqa: E402
from rag.serve import free_port  # noqa: E402


def unique_text(size: int) -> str:
    """The sample articles' paragraphs, repeated to `size` characters, each sentence numbered so
    no two are alike (an embedder that caches repeated texts would otherwise skip most work)."""
    paras = [p for f in sorted((ROOT / "data" / "articles").glob("*.txt"))
             for p in f.read_text().split("\n") if p.strip()]
    out, n, total = [], 0, 0
    while total < size:
        para = paras[n % len(paras)].replace(". ", f". ({n}) ")
        out.append(f"({n}) {para}")
        total += len(out[-1]) + 2
        n += 1
    return "\n\n".join(out)


def ask_loop(url: str, stop: threading.Event, i: int) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=120) as c:
        n = i
        while not stop.is_set():
            t0 = time.perf_counter()
            r = c.post("/api/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
            if r.status_code == 200:
                out.append(time.perf_counter() - t0)
            n += 1
    return out


def measure(url: str, clients: int, seconds: float,
            during: object = None) -> tuple[list[float], float | None]:
    stop = threading.Event()
    with ThreadPoolExecutor(clients + 1) as pool:
        futures = [pool.submit(ask_loop, url, stop, i) for i in range(clients)]
        took = None
        t0 = time.perf_counter()
        if callable(during):
            during()
            took = time.perf_counter() - t0
        time.sleep(max(0.0, seconds - (time.perf_counter() - t0)))
        stop.set()
        lat = sorted(x for f in futures for x in f.result())
    return lat, took


def pct(lat: list[float], q: float) -> float:
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    text = "Big report\n\n" + unique_text(int(args.mb * 1_000_000))
    os.environ["NEWSRAG_MAX_FILE_BYTES"] = str(len(text.encode()) + 1000)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc, _ = start(tmp, port)
        url = f"http://127.0.0.1:{port}"
        try:
            idle, _ = measure(url, args.clients, args.seconds)

            def upload() -> None:
                r = httpx.post(url + "/api/articles", timeout=3600,
                               files={"file": ("big.txt", text.encode(), "text/plain")})
                print(f"upload: HTTP {r.status_code}", flush=True)

            busy, took = measure(url, args.clients, args.seconds, upload)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{args.clients} clients, {args.mb:g} MB upload (took {took:.1f} s)")
    for name, lat in (("idle", idle), ("during upload", busy)):
        print(f"  {name:14} asks {len(lat):5}  p50 {pct(lat, 0.5):7.0f} ms  "
              f"p95 {pct(lat, 0.95):7.0f} ms  mean {statistics.fmean(lat) * 1000:7.0f} ms")
    print(f"  p95 ratio during/idle: {pct(busy, 0.95) / pct(idle, 0.95):.1f}x")


if __name__ == "__main__":
    main()
