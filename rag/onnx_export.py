"""Build an int8 ONNX copy of a sentence-transformers model folder, locally and offline.

The recipe: torch.onnx export of the transformer (eager attention), then dynamic int8
quantisation of the weights' MatMuls; onnxruntime fuses the rest (SkipLayerNorm, Gelu, the
scaled QK^T) when it loads the file. Fusing the graph first with its BERT optimizer, as v1 did,
puts the QKV projections and attention into one QAttention kernel that ran ~15% slower
(bench/embed_speed.py, AVX-512 VNNI CPU: 4-chunk batch 73 vs 85 ms on one thread, same cosine).
Per-channel scales with reduce_range keep cosine agreement with the float model at ~0.99: the
default per-tensor int8 saturates on AVX2 CPUs without VNNI and drops it to ~0.94. Only the
ingredients on disk are used: no hub, no optimum.

The result is cached under `$XDG_CACHE_HOME/newsrag/onnx/` (or `~/.cache/...`), keyed by the
weights' sha256, the recipe version and the onnxruntime version, so a changed model or runtime
gets a fresh export and concurrent first runs cannot read a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

RECIPE = "v2-eager-dyn-int8-perchannel-rr"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsrag" / "onnx"


def _fingerprint(model_dir: Path) -> str:
    import onnxruntime

    h = hashlib.sha256(f"{RECIPE}|{onnxruntime.__version__}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = model_dir / name
        if path.exists():
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def int8_model_path(model_dir: Path) -> Path:
    """The cached int8 ONNX file for `model_dir`, exported first if missing (~15-30 s)."""
    target = cache_root() / f"{model_dir.name}-{_fingerprint(model_dir)}" / "model_int8.onnx"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            work = Path(tmp)
            _export_float(model_dir, work / "float.onnx")
            _quantise(work / "float.onnx", work / "int8.onnx")
            os.replace(work / "int8.onnx", target)  # atomic: readers see all of it or none
    return target


def _export_float(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    model: Any = AutoModel.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):
        # Keyword arguments: BertModel's positional order changed between transformers versions.
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "last_hidden_state")}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter, not actionable here
        # The TorchScript exporter: the dynamo one needs onnxscript and gives the fusion
        # patterns onnxruntime's optimizer does not recognise.
        torch.onnx.export(Encoder(), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                          str(out), input_names=list(INPUTS),
                          output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def _quantise(src: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=True,
                     # where shape inference cannot type an output, it is float32
                     extra_options={"DefaultTensorType": 1})
