"""What a reply's token probabilities say (rag/confidence.py), and the answer model's file."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rag.confidence import AnswerModel, reply_confidence
from rag.errors import ConfigError
from rag.llm import TokenLogprob


def test_the_reply_confidence_reads_the_first_token_none_and_the_answer_tokens() -> None:
    tokens = [
        TokenLogprob("Jane", math.log(0.6), (("Jane", math.log(0.6)), ("NONE", math.log(0.2)),
                                            ("N", math.log(0.05)), ("No", math.log(0.05)),
                                            (" Nobody", math.log(0.01)))),
        TokenLogprob(" Doe", math.log(0.5)),
        TokenLogprob(" [", math.log(0.01)),  # the sentence number is not the answer
        TokenLogprob("2", math.log(0.01)),
    ]
    c = reply_confidence(tokens)
    assert c is not None
    assert c.first == pytest.approx(0.6)
    assert c.none == pytest.approx(0.3)  # "NONE", "N", "No": not "Nobody"
    assert c.min_logprob == pytest.approx(math.log(0.5))
    assert c.mean_logprob == pytest.approx((math.log(0.6) + math.log(0.5)) / 2)
    assert reply_confidence([]) is None


def test_a_bad_answer_model_file_is_a_clear_config_error(tmp_path: Path) -> None:
    for text in ("not json", '{"weights": [1]}',
                 '{"weights": [1], "intercept": 0, "llm": "m", "features": ["x"]}'):
        path = tmp_path / "m.json"
        path.write_text(text)
        with pytest.raises(ConfigError, match=str(path)):
            AnswerModel.load(path)
    with pytest.raises(ConfigError, match="missing"):
        AnswerModel.load(tmp_path / "absent.json")


def test_the_committed_answer_model_prefers_surer_replies() -> None:
    model = AnswerModel.load()
    sure = reply_confidence([TokenLogprob("Jane", -0.01, (("Jane", -0.01),))])
    unsure = reply_confidence([TokenLogprob("Jane", -2.0, (("Jane", -2.0),))])
    assert sure is not None and unsure is not None
    assert model.probability(0.3, sure) > model.probability(0.3, unsure)
    assert model.probability(0.6, sure) > model.probability(0.1, sure)
