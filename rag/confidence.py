"""How likely an LLM's supported short answer is to be right: a logistic model over the
extractive reader's confidence and the reply's own token probabilities, fitted on RealTimeQA
2024 for one model (`bench/fit_llm_confidence.py`; weights in rag/models/llm-confidence.json).

A model's token probabilities are its own scale: the fit holds for the model it was fitted on
(the file names it), so the pipeline uses it only for that model; any other backend keeps the
reader-confidence floor (`llm_min_confidence`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError
from rag.llm import TokenLogprob
from rag.settings import Settings

CONFIDENCE_PATH = Path(__file__).resolve().parent / "models" / "llm-confidence.json"


@dataclass(frozen=True)
class ReplyConfidence:
    """What the token probabilities of a reply say: the probability of its first token, of
    NONE at the first position (summed over the alternatives that begin that word), and the
    mean and least log-probability of the answer's tokens (those before the first sentence
    number or line break)."""

    first: float
    none: float
    mean_logprob: float
    min_logprob: float


def reply_confidence(tokens: Sequence[TokenLogprob]) -> ReplyConfidence | None:
    """None when the backend reported no token probabilities."""
    if not tokens:
        return None
    head = tokens[0]
    alternatives = dict(head.top) or {head.token: head.logprob}
    p_none = sum(math.exp(lp) for tok, lp in alternatives.items()
                 if tok.strip() and "none".startswith(tok.strip().casefold()))
    answer: list[float] = []
    for t in tokens:
        if "[" in t.token or "\n" in t.token:
            break
        answer.append(t.logprob)
    answer = answer or [head.logprob]
    return ReplyConfidence(first=math.exp(head.logprob), none=min(1.0, p_none),
                           mean_logprob=sum(answer) / len(answer), min_logprob=min(answer))


# What P(a supported answer is right) is computed from, in this order.
ANSWER_FEATURES = ("reader_logit", "first", "none", "mean_logprob", "min_logprob")


def answer_features(reader_confidence: float, reply: ReplyConfidence) -> list[float]:
    c = min(max(reader_confidence, 1e-3), 1 - 1e-3)
    return [math.log(c / (1 - c)), reply.first, reply.none, reply.mean_logprob,
            reply.min_logprob]


@dataclass(frozen=True)
class AnswerModel:
    """P(right) = sigmoid(weights . answer_features + intercept), for the model `llm` (the
    GGUF file's name) it was fitted on."""

    weights: tuple[float, ...]
    intercept: float
    llm: str

    def probability(self, reader_confidence: float, reply: ReplyConfidence) -> float:
        z = self.intercept + sum(w * x for w, x in zip(
            self.weights, answer_features(reader_confidence, reply), strict=True))
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))

    @classmethod
    def load(cls, path: Path = CONFIDENCE_PATH) -> AnswerModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            weights = tuple(float(w) for w in data["weights"])
            model = cls(weights, float(data["intercept"]), str(data["llm"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"The LLM answer model {path} is missing or unreadable ({exc}).",
                              hint="Restore rag/models/ from the repository.") from None
        if data.get("features") != list(ANSWER_FEATURES):
            raise ConfigError(f"{path} was fitted on other features than this code computes.",
                              hint="Re-run bench/fit_llm_confidence.py.")
        return model


def answer_model_for(settings: Settings, path: Path = CONFIDENCE_PATH) -> AnswerModel | None:
    """The answer model when the backend is the local model it was fitted on, else None."""
    if settings.backend != "local":
        return None
    model = AnswerModel.load(path)
    return model if Path(settings.llm_model_path).name == model.llm else None
