"""Load: many concurrent chat sessions against a real `newsrag serve`, over HTTP and Gradio.

Starts the server in its own process on a free loopback port with a throw-away index (the
sample corpus is built on that first start; `bench/load_api.py` does the starting and stopping),
then runs `--sessions` chat sessions at once. Half are HTTP sessions: `POST /api/ask` with the
conversation so far as `history`, every third one through `/v1/chat/completions` with the
conversation as `messages`. The other half are `gradio_client` sessions on the pinned `/chat`
endpoint. Each session asks `--turns` questions, follow-ups among them, each turn carrying the
answers before it. Every ask is checked (an answer with citations or an abstention, every `[n]`
marker backed by a citation), a wrong shape counts as an error.

Bounded: at most `--sessions` x `--turns` asks, a per-request timeout, and a wall-clock
deadline after which sessions stop asking. Loopback only.

    .venv/bin/python bench/load.py [--sessions 50] [--turns 4] [--deadline 600]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

# Loopback only: no usage pings from gradio_client or from the server it inherits this from.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_api import pct, start, stop  # noqa: E402
from rag.serve import free_port  # noqa: E402

# Conversations: a first question, then follow-ups that only make sense with the history.
CONVERSATIONS = [
    ["When must US troops leave Niger?", "How many of them are there?",
     "Why are they leaving?", "Who leads the country now?"],
    ["Who leads Niger's military government?", "When did he take power?",
     "What did his government decide about US troops?", "What base does the US run there?"],
    ["What base does the US operate in Agadez?", "What was it used for?",
     "How many US troops are in Niger?", "When must they leave?"],
    ["Why did Niger end its military agreement with the US?", "When was that announced?",
     "What happens to the drone base?", "Which country's troops arrived instead?"],
]
# Half the sessions on gradio_client, a third of the HTTP ones on the OpenAI-style route.
CHANNELS = ["http /api/ask", "gradio /chat", "http /api/ask", "gradio /chat",
            "http /v1/chat", "gradio /chat"]
TIMEOUT_S = 120.0
Ask = Callable[[str, list[dict[str, str]]], dict[str, Any]]


class Tally:
    """Latencies per channel and errors, shared by the session threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = {}
        self.errors: list[str] = []

    def record(self, channel: str, ms: float) -> None:
        with self.lock:
            self.ms.setdefault(channel, []).append(ms)

    def error(self, channel: str, message: str) -> None:
        with self.lock:
            self.errors.append(f"{channel}: {message[:300]}")


def check(body: dict[str, Any]) -> str | None:
    """What is wrong with an answer body, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("answer"), str):
        return f"no answer in {str(body)[:200]}"
    if body.get("abstained"):
        return None
    cited = {c.get("n") for c in body.get("citations") or []}
    if not cited:
        return "an answer without citations"
    missing = [n for n in cited if f"[{n}]" not in body["answer"]]
    return f"citations {missing} have no marker" if missing else None


def http_asker(base: str, openai: bool) -> Ask:
    client = httpx.Client(base_url=base, timeout=TIMEOUT_S)

    def ask(question: str, history: list[dict[str, str]]) -> dict[str, Any]:
        if openai:
            r = client.post("/v1/chat/completions", json={
                "model": "newsrag",
                "messages": [*history, {"role": "user", "content": question}]})
            r.raise_for_status()
            done = r.json()
            return {"answer": done["choices"][0]["message"]["content"],
                    "citations": done.get("citations", []), "abstained": done.get("abstained")}
        r = client.post("/api/ask", json={"question": question, "history": history})
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    return ask


def gradio_asker(base: str) -> Ask:
    from gradio_client import Client

    client = Client(base + "/", verbose=False, analytics_enabled=False,
                    httpx_kwargs={"timeout": TIMEOUT_S})

    def ask(question: str, history: list[dict[str, str]]) -> dict[str, Any]:
        body: dict[str, Any] = client.predict(question, history or None, api_name="/chat")
        return body

    return ask


def session(i: int, base: str, turns: int, deadline: float, tally: Tally) -> int:
    """One chat session; returns the number of asks made."""
    channel = CHANNELS[i % len(CHANNELS)]
    try:
        ask = gradio_asker(base) if channel.startswith("gradio") else \
            http_asker(base, channel.endswith("/v1/chat"))
    except Exception as exc:  # a client that cannot connect is an error of this run
        tally.error(channel, f"connect: {type(exc).__name__}: {exc}")
        return 0
    history: list[dict[str, str]] = []
    asked = 0
    for question in CONVERSATIONS[i % len(CONVERSATIONS)][:turns]:
        if time.monotonic() > deadline:
            tally.error(channel, "deadline reached before the session finished")
            break
        t0 = time.perf_counter()
        try:
            body = ask(question, history)
        except Exception as exc:
            tally.error(channel, f"{type(exc).__name__}: {exc}")
            asked += 1
            continue
        tally.record(channel, (time.perf_counter() - t0) * 1000)
        asked += 1
        problem = check(body)
        if problem:
            tally.error(channel, f"{question!r}: {problem}")
        history += [{"role": "user", "content": question},
                    {"role": "assistant", "content": str(body.get("answer", ""))}]
    return asked


def run(base: str, sessions: int, turns: int, deadline_s: float) -> tuple[Tally, int, float]:
    tally = Tally()
    deadline = time.monotonic() + deadline_s
    t0 = time.perf_counter()
    with ThreadPoolExecutor(sessions) as pool:
        asked = sum(pool.map(lambda i: session(i, base, turns, deadline, tally), range(sessions)))
    return tally, asked, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--turns", type=int, default=4)
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds for all sessions")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="newsrag-load-") as index_dir:
        port = free_port()
        proc, startup = start(index_dir, port)
        base = f"http://127.0.0.1:{port}"
        print(f"server up in {startup:.1f}s at {base} (embed model: "
              f"{httpx.get(base + '/api/health').json().get('embed_model')})")
        try:
            httpx.post(base + "/api/ask", json={"question": "warm-up"}, timeout=TIMEOUT_S)
            tally, asked, wall = run(base, args.sessions, args.turns, args.deadline)
        finally:
            stop(proc)
    print(f"\n{args.sessions} sessions x {args.turns} turns: {asked} asks in {wall:.1f}s, "
          f"throughput {asked / wall:.2f} asks/s, {os.cpu_count()} cores")
    print(f"{'channel':16} {'asks':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for channel, ms in sorted(tally.ms.items()):
        print(f"{channel:16} {len(ms):5d} {statistics.median(ms):8.0f} {pct(ms, 0.95):8.0f} "
              f"{max(ms):8.0f}")
    print(f"errors: {len(tally.errors)}")
    for e in tally.errors[:20]:
        print(f"  {e}")
    return 1 if tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())
