"""Time to first token and total latency per backend, over the gold questions of one split.

The eval (`newsrag eval --backend ...`) reports quality and total latency; this adds the time
to the first streamed token, which is what a reader waits for. Each backend answers every
question through `Pipeline.ask_stream` on one temporary index of the sample articles; the first
question is a warm-up (model load, prompt cache) and is not counted. The machine's load average
is printed before and after, since other jobs on a 2-core machine move every figure.

For the `local` backend it also breaks the first token down, from llama.cpp's own timings:
retrieval and the extractive answer (`pre`, which includes `condense`: the model rewriting a
follow-up as a standalone question), prompt tokens
in all (`prompt`), read for this question (`read`) and reused from the KV cache (`cached`), the
time reading them (`read ms`) and the rest until the first token (`decode ms`: the first decode
step and the streaming hand-over). Model load is reported once: it is paid once per process.

    .venv/bin/python bench/llm_latency.py --backends extractive local [--split test] [--limit N]
                                          [--per-question]

With `--rtqa PATH --weeks RANGE` it runs RealTimeQA questions instead (cached indexes, each
question asked as of its quiz date), once through the model, and prints from that one pass:
right / wrong / abstained for the extractive reader and for every joint abstention policy
(the model's NONE, overridden above a reader confidence; a supported answer dropped below one),
the findable split, first token and total p50/p95, the prompt tokens, and the load average.
Every short answer the model wrote is checked to be a span of (or supported by) its citation.

    .venv/bin/python bench/llm_latency.py --rtqa ../shared/realtimeqa/past --weeks 2025-01 \
        [--limit N] [--sources 6] [--jsonl OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["extractive", "local"])
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    ap.add_argument("--per-question", action="store_true",
                    help="Print the local backend's breakdown for every question.")
    ap.add_argument("--rtqa", type=Path, default=None, help="RealTimeQA past/ folder.")
    ap.add_argument("--weeks", default="2025-01")
    ap.add_argument("--sources", type=int, default=None, help="Sentences in the prompt.")
    ap.add_argument("--jsonl", type=Path, default=None, help="Per-question records.")
    ap.add_argument("--policies", type=Path, default=None, metavar="REPORT_JSON",
                    help="Abstention policies from an eval report.json of `newsrag eval "
                    "--dataset realtimeqa ... --backend local` (its two systems).")
    args = ap.parse_args()
    if args.policies is not None:
        return policies_from_report(args.policies)
    if args.rtqa is not None:
        return rtqa_main(args)

    from rag.embed import load_embedder
    from rag.llm import LocalLLM
    from rag.pipeline import Pipeline
    from rag.settings import Settings
    from rag.types import Answer, Turn

    items = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    items = [i for i in items if args.split == "all" or i.get("split") == args.split]
    items = items[:args.limit] if args.limit else items
    print(f"load average before: {_loadavg()}")
    with tempfile.TemporaryDirectory(prefix="newsrag-latency-") as tmp:
        base = Settings.load({"index_dir": Path(tmp) / "index", "sample_dir": None})
        embedder = load_embedder(base.embed_model, base.embed_batch_size)
        Pipeline(base, embedder=embedder).ingest([ROOT / "data" / "articles"])
        rows: list[str] = []
        breakdowns: dict[str, list[dict[str, float]]] = {}
        for backend in args.backends:
            pipe = Pipeline(base.model_copy(update={"backend": backend}), embedder=embedder)
            started = time.perf_counter()
            pipe.ask("When must US troops leave Niger?")  # warm-up, not counted
            warm_ms = (time.perf_counter() - started) * 1000
            llm = pipe.generator.llm if backend != "extractive" else None
            local = llm if isinstance(llm, LocalLLM) else None
            if local is not None:
                print(f"local: model load {local.load_ms:.0f} ms (once per process), warm-up "
                      f"question {warm_ms:.0f} ms; {base.llm_sources} sources, "
                      f"{base.llm_threads or os.cpu_count()} threads")
            firsts, totals, by_llm = [], [], 0
            rows_b = breakdowns.setdefault(backend, [])
            for item in items:
                history = [Turn(t["role"], t["content"]) for t in item.get("turns") or []]
                if local is not None:
                    local.timings.clear()
                started = time.perf_counter()
                first = None
                answer: Answer | None = None
                for part in pipe.ask_stream(item["question"], history or None):
                    if first is None:
                        first = (time.perf_counter() - started) * 1000
                    if isinstance(part, Answer):
                        answer = part
                        by_llm += part.backend == backend
                totals.append((time.perf_counter() - started) * 1000)
                firsts.append(first or totals[-1])
                if local is not None and answer is not None:
                    local.last_timings()  # waits for the request the stream stopped early
                    row = _breakdown(list(local.timings), answer.timings_ms, firsts[-1],
                                     totals[-1])
                    rows_b.append(row)
                    if args.per_question:
                        print(_format_row(item["question"][:48], row))
            pipe.close()
            rows.append(f"{backend:<20}{statistics.median(firsts):>16.0f}{_p95(firsts):>8.0f}"
                        f"{statistics.median(totals):>12.0f}{_p95(totals):>8.0f}"
                        f"{by_llm:>8}/{len(items)}")
        print(f"{len(items)} questions ({args.split}); p50 / p95 in ms")
        print(f"{'backend':<20}{'first token p50':>16}{'p95':>8}{'total p50':>12}{'p95':>8}"
              f"{'LLM answered':>14}")
        print("\n".join(rows))
        for backend, bd in breakdowns.items():
            if not bd:
                continue
            print(f"\n{backend}: first-token breakdown, median (p95) over the questions "
                  "the model was asked")
            asked = [r for r in bd if r["prompt"] > 0]
            for key in ("pre", "condense", "prompt", "read", "cached", "read_ms", "decode_ms",
                        "first", "total"):
                xs = [r[key] for r in asked] or [0.0]
                print(f"  {key:<10}{statistics.median(xs):>9.0f}  ({_p95(xs):.0f})")
            reads = sum(r["read"] for r in asked)
            read_ms = sum(r["read_ms"] for r in asked)
            if read_ms:
                print(f"  prompt reading: {reads / read_ms * 1000:.1f} tokens/s")
    print(f"load average after: {_loadavg()}")
    return 0


def rtqa_main(args: argparse.Namespace) -> int:
    from rag.embed import load_embedder
    from rag.eval import rtqa
    from rag.eval.realtimeqa import plan
    from rag.eval.rtqa_cache import cache_root, ensure_index, index_settings
    from rag.generate import (
        Generator,
        build_messages,
        parse_reply,
        prompt_order,
        read_reply,
        reply_confidence,
        select_evidence,
    )
    from rag.llm import LocalLLM
    from rag.pipeline import Pipeline
    from rag.settings import Settings
    from rag.types import Answer

    base = Settings.load({"backend": "local"})
    if args.sources:
        base = base.model_copy(update={"llm_sources": args.sources})
    embedder = load_embedder(base.embed_model, base.embed_batch_size)
    archives = plan(args.rtqa, args.weeks, False, args.limit)
    print(f"load average before: {_loadavg()}", flush=True)
    rows: list[dict[str, Any]] = []
    kept: list[tuple[Answer, list[Any], Any, rtqa.RtqaQuestion]] = []
    gen: Generator | None = None
    loads: list[float] = []
    out = args.jsonl.open("w", encoding="utf-8") if args.jsonl else None
    for archive in archives:
        index_dir, _ = ensure_index(archive.articles, base, embedder, cache_root(), False,
                                    lambda m: print(m, file=sys.stderr))
        pipe = Pipeline(index_settings(base, index_dir), embedder=embedder)
        gen = pipe.generator
        llm = gen.llm
        gen.warm_up()  # loads the model once and caches the system prompt
        for q in archive.questions:
            if isinstance(llm, LocalLLM):
                llm.timings.clear()
            started = time.perf_counter()
            extractive, ranked = pipe._extractive(q.question, None, None, as_of=q.date)
            first = None
            final: Answer | None = None
            deltas: list[str] = []
            tokens: list[Any] = []
            for part in gen.stream(q.question, extractive, ranked):
                if first is None:
                    first = (time.perf_counter() - started) * 1000
                if isinstance(part, Answer):
                    final = part
                else:
                    deltas.append(part)
                    tokens.extend(getattr(part, "logprobs", ()))
            total = (time.perf_counter() - started) * 1000
            assert final is not None
            evidence = prompt_order(select_evidence(ranked, gen.n_sources))
            t = llm.last_timings() if isinstance(llm, LocalLLM) else {}
            reply = "".join(deltas)
            reading = read_reply(parse_reply(reply), evidence, q.question)
            conf = reply_confidence(tokens)
            reading = replace(reading, confidence=conf)
            kept.append((extractive, evidence, reading, q))
            shown = final.short_answer.text if final.short_answer else None
            if final.short_answer is not None:  # the invariant: a span of its citation
                c = final.citations[final.short_answer.citation - 1]
                a = pipe.get_article(c.article_id)
                assert a.text[final.short_answer.start:final.short_answer.end] == shown
                assert c.start <= final.short_answer.start <= final.short_answer.end <= c.end
            g = rtqa.normalize_answer(q.gold)
            rows.append({
                "id": q.id, "week": q.week, "question": q.question, "gold": q.gold,
                "findable": q.findable,
                "gold_shown": any(rtqa.contains(c.text, g, normalized=True) for c in evidence),
                "prompt": build_messages(q.question, evidence, extractive.as_of)[1]["content"],
                "reply": reply, "none": reading.reply.none, "supported": bool(reading.support),
                "reason": reading.reason, "repaired": reading.repaired,
                "answer": final.text, "abstained": final.abstained, "short": shown,
                "ext_answer": extractive.text, "ext_abstained": extractive.abstained,
                "ext_confidence": extractive.confidence,
                "ext_right": not extractive.abstained and rtqa.judge(extractive.text, q),
                "ttft_ms": first, "total_ms": total,
                "prompt_n": t.get("prompt_n"), "cache_n": t.get("cache_n"),
                "prompt_ms": t.get("prompt_ms"),
                # the model's own answer, judged as if it stood (None: NONE or unsupported)
                "llm_right": rtqa.judge(shown or reading.reply.text, q)
                if reading.support else None,
                "load1": os.getloadavg()[0],
                "llm_confidence": asdict(conf) if conf is not None else None,
            })
            if out is not None:
                out.write(json.dumps(rows[-1]) + "\n")
                out.flush()
            loads.append(os.getloadavg()[0])
            r = rows[-1]
            print(f"{len(rows):>3} {r['ttft_ms']:>6.0f} {r['total_ms']:>6.0f} ms "
                  f"{'F' if r['findable'] else '-'}{'S' if r['gold_shown'] else '-'} "
                  f"{r['reply'][:40]!r:<44} gold {q.gold[:30]!r}", flush=True)
        pipe.close()
    if out is not None:
        out.close()
    assert gen is not None
    _policies(gen, kept)
    firsts = [r["ttft_ms"] for r in rows]
    totals = [r["total_ms"] for r in rows]
    pn = [float(r["prompt_n"]) for r in rows if r["prompt_n"] is not None]
    cn = [float(r["cache_n"]) for r in rows if r["cache_n"] is not None]
    print(f"\n{len(rows)} questions, {gen.n_sources} sentences in the prompt")
    print(f"first token p50 {statistics.median(firsts):.0f} ms, p95 {_p95(firsts):.0f} ms; "
          f"total p50 {statistics.median(totals):.0f} ms, p95 {_p95(totals):.0f} ms")
    if pn:
        print(f"prompt tokens read p50 {statistics.median(pn):.0f}, reused from the KV cache "
              f"p50 {statistics.median(cn):.0f}")
    print(f"load average (1 min) during the run: p50 {statistics.median(loads):.2f}, "
          f"max {max(loads):.2f}; after: {_loadavg()}")
    return 0


def _policies(gen: Any, kept: list[Any]) -> None:
    """Right / wrong / abstained for each joint abstention policy, from the one pass."""
    from rag.eval import rtqa
    from rag.generate import Generator

    def score(answers: list[Any]) -> str:
        n = len(answers)
        right = wrong = 0
        right_f = n_f = 0
        for (a, q) in answers:
            ok = not a.abstained and rtqa.judge(a.text, q)
            right += ok
            wrong += not a.abstained and not ok
            if q.findable:
                n_f += 1
                right_f += ok
        abst = n - right - wrong
        return (f"right {right:>3} ({right / n:6.1%})  wrong {wrong:>3} ({wrong / n:6.1%})  "
                f"abstained {abst:>3}  right of findable {right_f}/{n_f} "
                f"({right_f / max(n_f, 1):.1%})")

    print("\npolicy                                        " + " " * 8 + "figures")
    print(f"{'extractive reader alone':<54}"
          + score([(e, q) for e, _, _, q in kept]))
    for override in (1.01, 0.5, 0.3, 0.15):
        for floor in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4):
            g = _with_policy(gen, override, floor)
            answers = [(g.compose(e, ev, rd, {}), q) for e, ev, rd, q in kept]
            label = (f"NONE abstains{'' if override > 1 else f' unless conf >= {override}'}"
                     f"{f', answer needs conf >= {floor}' if floor else ''}")
            print(f"{label:<54}" + score(answers))
    if gen.answer_model is not None:  # the learned P(right) (rag/confidence.py), per threshold
        for t in (0.2, 0.25, 0.3, 0.35, 0.4):
            g = Generator(gen.llm, n_sources=gen.n_sources, answer_model=gen.answer_model,
                          answer_threshold=t)
            answers = [(g.compose(e, ev, rd, {}), q) for e, ev, rd, q in kept]
            default = " (the default)" if t == gen.answer_threshold else ""
            print(f"{f'NONE abstains, answer needs P(right) >= {t}{default}':<54}"
                  + score(answers))


def policies_from_report(path: Path) -> int:
    """The joint abstention policies, recomputed per question from one eval run: the LLM
    system ran the default policy (NONE abstains; an unsupported answer keeps the extractive
    one), the extractive system the reader alone, on the same questions. Where the LLM
    abstained and the reader answered, the model said NONE; where the LLM answered with other
    text than the reader's, the model's answer stood."""
    report = json.loads(path.read_text(encoding="utf-8"))
    llm = {i["id"]: i for i in report["systems"]["newsrag"]["items"]}
    ext = {i["id"]: i for i in report["systems"]["extractive"]["items"]}
    print(f"{len(llm)} questions, {report['split']}; load-independent figures")
    print(f"{'policy':<58}{'right':>7}{'wrong':>7}{'abst.':>7}{'right of findable':>20}")

    def row(label: str, outcome: dict[str, str]) -> None:
        n = len(outcome)
        right = sum(v == "right" for v in outcome.values())
        wrong = sum(v == "wrong" for v in outcome.values())
        findable = [k for k in outcome if llm[k]["findable"]]
        rf = sum(outcome[k] == "right" for k in findable)
        print(f"{label:<58}{right / n:>7.1%}{wrong / n:>7.1%}{(n - right - wrong) / n:>7.1%}"
              f"{f'{rf}/{len(findable)} ({rf / max(len(findable), 1):.1%})':>20}")

    def result(item: dict[str, Any]) -> str:
        if item["error"] or not item["abstained"] and not item["right"]:
            return "wrong"
        return "abstained" if item["abstained"] else "right"

    row("extractive reader alone", {k: result(e) for k, e in ext.items()})
    for override in (1.01, 0.4):
        for floor in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5):
            out = {}
            for k, a in llm.items():
                e = ext[k]
                said_none = a["abstained"] and not e["abstained"]
                by_model = not a["abstained"] and a["answer"] != e["answer"]
                if said_none and e["confidence"] >= override:
                    out[k] = result(e)
                elif by_model and a["confidence"] < floor:
                    out[k] = "abstained"
                else:
                    out[k] = result(a)
            label = (f"NONE abstains{'' if override > 1 else f' unless conf >= {override}'}"
                     f"{f'; answer needs conf >= {floor}' if floor else ''}")
            row(label, out)
    by_model = sum(not a["abstained"] and a["answer"] != ext[k]["answer"] for k, a in llm.items())
    nones = sum(a["abstained"] and not ext[k]["abstained"] for k, a in llm.items())
    print(f"the model's answer stood in {by_model}; it said NONE where the reader answered in "
          f"{nones}")
    return 0


def _with_policy(gen: Any, override: float, floor: float) -> Any:
    from rag.generate import Generator

    return Generator(gen.llm, n_sources=gen.n_sources, none_override=override,
                     min_confidence=floor)


def _breakdown(timings: list[dict[str, Any]], answer_ms: dict[str, float], first: float,
               total: float) -> dict[str, float]:
    """The answer request is llama.cpp's last; any before it condensed a follow-up."""
    last = timings[-1] if timings else {}
    condense = sum(float(t.get("prompt_ms", 0)) + float(t.get("predicted_ms", 0))
                   for t in timings[:-1])
    # "retrieve" runs from the start of the question, so it includes condensing
    pre = sum(answer_ms.get(k, 0.0) for k in ("retrieve", "rerank", "answer"))
    read = float(last.get("prompt_n", 0))
    cached = float(last.get("cache_n", 0))
    read_ms = float(last.get("prompt_ms", 0))
    return {"pre": pre, "condense": condense, "prompt": read + cached, "read": read,
            "cached": cached, "read_ms": read_ms,
            "decode_ms": max(0.0, first - pre - read_ms) if last else 0.0,
            "first": first, "total": total}


def _format_row(label: str, r: dict[str, float]) -> str:
    return (f"  {label:<50} first {r['first']:>6.0f}  pre {r['pre']:>5.0f}  condense "
            f"{r['condense']:>5.0f}  prompt {r['prompt']:>4.0f} = read {r['read']:>4.0f} + "
            f"cached {r['cached']:>4.0f}  read {r['read_ms']:>5.0f} ms  total {r['total']:>6.0f}")


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.95 * len(s)))]


if __name__ == "__main__":
    sys.exit(main())
