"""The learned reader: spaCy analysis, evidence and span features, the committed models, short
answers.

Unit tests use a scripted ranker and the fake embedder with the real spaCy model; the
committed ranker and evidence models are checked to load offline and to refuse a changed file.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.cite import Candidate
from rag.errors import ConfigError
from rag.evidence import (
    EVIDENCE_PATH,
    RANKER_FEATURES,
    EvidenceIn,
    EvidenceModel,
    evidence_path,
    feature_names,
    features,
    null_feature_names,
    null_features,
)
from rag.followup import Query
from rag.learned import LearnedAnswerer, load_learned, prefilter
from rag.nlp import analyse_question, span_candidates
from rag.pipeline import Pipeline
from rag.read import span_feature_names, span_features
from rag.settings import Settings
from rag.types import Chunk, Passage
from tests.conftest import FakeEmbedder

ARTICLE = ("Storm hits coast. Officials said the storm, named Helene, made landfall near "
           "Tampa on Thursday. About 40,000 homes lost power in Pinellas County. "
           "Schools will reopen on Monday.")


class ScriptedRanker:
    """Scores a sentence by how many of the question's longer words it repeats."""

    name = "scripted"

    def score(self, question: str, sentences: Sequence[str]) -> list[float]:
        q = set(re.findall(r"[a-z]{4,}", question.lower()))
        return [min(0.95, 0.1 + 0.2 * len(q & set(re.findall(r"[a-z]{4,}", s.lower()))))
                for s in sentences]

    def logits(self, question: str, sentences: Sequence[str]) -> list[float]:
        return [float(np.log(p / (1 - p))) for p in self.score(question, sentences)]


def _candidates() -> tuple[list[Passage], list[Candidate]]:
    chunk = Chunk("a1:0", "a1", 0, ARTICLE, 0, len(ARTICLE))
    passage = Passage(chunk, "Storm hits coast", "2024-09-27", "example.com", 1.0)
    emb = FakeEmbedder()
    cands = []
    start = 0
    for i, sent in enumerate(ARTICLE.split(". ")):
        text = sent if sent.endswith(".") else sent + "."
        s = ARTICLE.index(text, start)
        cands.append(Candidate("a1", i, s, s + len(text), text, passage, emb.embed_query(text)))
        start = s + len(text)
    return [passage], cands


def test_the_question_word_and_its_noun_come_from_the_parser() -> None:
    info = analyse_question("Which film has dethroned the highest grossing animated movie?")
    assert (info.wh, info.focus) == ("which", "film")
    assert analyse_question("How many homes lost power?").wh == "how_many"
    assert analyse_question("Who won the election?").wh == "who"


def test_span_candidates_are_exact_substrings_of_their_sentence() -> None:
    sentences = ["Officials said the storm, named Helene, made landfall near Tampa on Thursday."]
    spans = span_candidates(sentences)[0]
    assert spans
    for sp in spans:
        assert sentences[0][sp.start:sp.end] == sp.text
    assert any(sp.text == "Tampa" for sp in spans)


def _evidence_in(text: str, logit: float) -> EvidenceIn:
    return EvidenceIn(text, logit, 0.5, "Storm hits coast", 1, "2024-09-27",
                      tuple(span_candidates([text])[0]))


def test_evidence_features_follow_the_feature_names() -> None:
    q = "Where did the storm make landfall?"
    info = analyse_question(q)
    rows = [_evidence_in("Helene made landfall near Tampa on Thursday.", 2.0),
            _evidence_in("Schools will reopen on Monday.", -1.0)]
    feats = features(q, info, {"GPE": 0.8, "DATE": 0.1}, rows, "2024-09-28")
    names = feature_names()
    assert feats.shape == (2, len(names))
    assert feats[0, names.index("ce")] == pytest.approx(0.2)
    assert feats[0, names.index("ce_top")] == 1.0 and feats[1, names.index("ce_top")] == 0.0
    # Tampa is a place the question does not name; the second sentence names only a day.
    assert feats[0, names.index("type_prob")] == pytest.approx(0.8)
    assert feats[1, names.index("type_prob")] == pytest.approx(0.1)
    assert feats[0, names.index("age_log")] > 0
    assert null_features(info)[null_feature_names().index("wh=where")] == 1.0


def test_span_features_follow_the_span_feature_names() -> None:
    q = "Where did the storm make landfall?"
    sentence = "Helene made landfall near Tampa on Thursday."
    spans = span_candidates([sentence])[0]
    feats = span_features(q, analyse_question(q), {"GPE": 0.8}, sentence, spans,
                          ["Tampa schools will reopen."], FakeEmbedder().embed)
    names = span_feature_names()
    assert feats.shape == (len(spans), len(names))
    tampa = next(i for i, sp in enumerate(spans) if sp.text == "Tampa")
    assert feats[tampa, names.index("support")] > 0


def _toy_model(null_bias: float = -40.0, ce: float = 10.0) -> EvidenceModel:
    committed = EvidenceModel.load()
    weights = np.zeros(len(feature_names()), dtype=np.float32)
    weights[feature_names().index("ce")] = ce
    null = np.zeros(len(null_feature_names()), dtype=np.float32)
    null[0] = null_bias
    return EvidenceModel(weights, null, committed.types, committed.spans)


def test_the_evidence_model_round_trips_through_its_json(tmp_path: Path) -> None:
    model = _toy_model(null_bias=0.5)
    model.save(tmp_path / "evidence.json", {"note": "test"})
    back = EvidenceModel.load(tmp_path / "evidence.json")
    feats = np.eye(len(feature_names()), dtype=np.float32)[:5]
    null = np.ones(len(null_feature_names()), dtype=np.float32)
    p, none = model.probabilities(feats, null)
    p2, none2 = back.probabilities(feats, null)
    assert np.allclose(p, p2, atol=1e-5) and none == pytest.approx(none2, abs=1e-5)
    assert p.sum() + none == pytest.approx(1.0)


def test_an_evidence_model_fitted_on_other_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(EVIDENCE_PATH.read_text())
    data["features"] = data["features"][:-1]
    (tmp_path / "evidence.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="other features"):
        EvidenceModel.load(tmp_path / "evidence.json")


def test_the_default_reader_runs_no_ranker_and_its_chooser_never_reads_ranker_scores() -> None:
    reader = load_learned(Settings(), FakeEmbedder().embed)
    assert reader.ranker is None and not reader.evidence.uses_ranker
    feats = np.random.default_rng(0).random((4, len(feature_names()))).astype(np.float32)
    null = np.ones(len(null_feature_names()), dtype=np.float32)
    changed = feats.copy()
    for name in RANKER_FEATURES:  # scores a ranker would give change nothing
        changed[:, feature_names().index(name)] = 7.0
    assert np.allclose(reader.evidence.probabilities(feats, null)[0],
                       reader.evidence.probabilities(changed, null)[0])


def test_the_cross_encoder_setting_loads_the_chooser_fitted_with_its_scores() -> None:
    reader = load_learned(Settings(ranker="cross-encoder"), FakeEmbedder().embed)
    assert reader.ranker is not None and reader.evidence.uses_ranker
    assert evidence_path("cross-encoder") != evidence_path("none")


def test_a_chooser_fitted_for_another_ranker_is_refused(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.learned

    shutil.copy(evidence_path("cross-encoder"), tmp_path / "evidence.json")
    monkeypatch.setattr(rag.learned, "evidence_path", lambda ranker: tmp_path / "evidence.json")
    with pytest.raises(ConfigError, match="fitted with a ranker"):
        load_learned(Settings(), FakeEmbedder().embed)


def test_the_committed_answer_type_model_learned_who_asks_for_a_person() -> None:
    types = EvidenceModel.load().types
    q = "Who was sworn in as the new prime minister this week?"
    p = types.probabilities(q, analyse_question(q))
    assert max(p, key=lambda k: p[k]) == "PERSON"
    assert sum(p.values()) == pytest.approx(1.0, abs=1e-4)


def _answerer(threshold: float, short: float = 0.0,
              model: EvidenceModel | None = None) -> LearnedAnswerer:
    return LearnedAnswerer(ScriptedRanker(), model or _toy_model(), FakeEmbedder().embed,
                           threshold, short)


def test_a_short_answer_is_a_span_of_its_cited_quote_in_the_article() -> None:
    passages, cands = _candidates()
    query = Query("Where did Helene make landfall?", "Where did Helene make landfall?")
    answer, ranked = _answerer(0.0).answer(query, FakeEmbedder().embed_query(query.text),
                                           passages, cands, "2024-09-28", {})
    assert not answer.abstained and ranked
    short = answer.short_answer
    assert short is not None
    cited = next(c for c in answer.citations if c.n == short.citation)
    assert ARTICLE[short.start:short.end] == short.text
    assert cited.start <= short.start < short.end <= cited.end
    assert ARTICLE[cited.start:cited.end] == cited.quote
    d = answer.to_dict()
    assert d["short_answer"]["text"] == short.text and d["as_of"] == "2024-09-28"


def test_below_the_threshold_the_reader_abstains_and_shows_the_nearest_passages() -> None:
    passages, cands = _candidates()
    query = Query("Where did Helene make landfall?", "Where did Helene make landfall?")
    answer, _ = _answerer(1.0).answer(query, FakeEmbedder().embed_query(query.text), passages,
                                      cands, None, {})
    assert answer.abstained and not answer.citations and answer.short_answer is None
    assert answer.to_dict()["nearest_passages"]


def test_prefilter_keeps_the_sentences_both_orders_agree_on() -> None:
    _, cands = _candidates()
    q = "How many homes lost power?"
    kept = prefilter(q, FakeEmbedder().embed_query(q), cands, keep=1)
    assert [c.text for c in kept] == ["About 40,000 homes lost power in Pinellas County."]


def test_the_committed_ranker_loads_offline_and_ranks_the_answer_first() -> None:
    from rag.rank import CrossEncoderRanker

    ranker = CrossEncoderRanker()
    scores = ranker.score("Where did the storm make landfall?", [
        "Schools will reopen on Monday.",
        "The storm made landfall near Tampa on Thursday.",
    ])
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[1] > scores[0]


def test_a_changed_ranker_file_is_refused(tmp_path: Path) -> None:
    from rag.rank import RANKER_DIR, CrossEncoderRanker

    copy = tmp_path / "ranker"
    shutil.copytree(RANKER_DIR, copy)
    with (copy / "tokenizer.json").open("a") as f:
        f.write(" ")
    with pytest.raises(ConfigError, match="sha256"):
        CrossEncoderRanker(copy)


def test_a_two_part_question_is_answered_part_by_part_with_its_own_citations() -> None:
    passages, cands = _candidates()
    q = "Where did Helene make landfall, and how many homes lost power?"
    query = Query(q, q)
    answer, _ = _answerer(0.0).answer(query, FakeEmbedder().embed_query(q), passages, cands,
                                      None, {})
    quotes = [c.quote for c in answer.citations]
    assert [c.n for c in answer.citations] == list(range(1, len(quotes) + 1))
    assert any("landfall" in x for x in quotes) and any("homes lost power" in x for x in quotes)
    for c in answer.citations:
        assert f"[{c.n}]" in answer.text


def test_a_part_below_the_threshold_is_named_not_answered() -> None:
    passages, cands = _candidates()
    q = "Where did Helene make landfall, and who won the chess final?"
    query = Query(q, q)
    # The scripted ranker gives the unrelated part a logit of -2.2 at most; "none of them"
    # scores 0, so that part's best sentence has P < 0.1 while the answered part's is ~1.
    answer, _ = _answerer(0.2, 1.0, _toy_model(null_bias=0.0)).answer(
        query, FakeEmbedder().embed_query(q), passages, cands, None, {})
    assert not answer.abstained
    assert answer.text.endswith("The articles don't answer: \u201cWho won the chess final?\u201d")


@pytest.mark.slow
def test_the_learned_reader_answers_the_sample_with_spans_that_round_trip(
        real_pipeline: Pipeline) -> None:
    """Through the real pipeline, with the committed models: every short answer and quote is
    `text[start:end]` of its stored article."""
    # Thresholds at 0: every answer carries a short answer, so each round-trip is checked.
    settings = Settings.load({**real_pipeline.settings.model_dump(), "abstain_threshold": 0.0,
                              "short_answer_threshold": 0.0}, env={})
    pipe = Pipeline(settings, embedder=real_pipeline.embedder)
    try:
        for q in ("When must US troops leave Niger?", "How many US troops are in Niger?"):
            ans = pipe.ask(q)
            assert ans.citations and ans.short_answer is not None
            for c in ans.citations:
                assert pipe.get_article(c.article_id).text[c.start:c.end] == c.quote
            s = ans.short_answer
            assert pipe.get_article(s.article_id).text[s.start:s.end] == s.text
    finally:
        pipe.close()


@pytest.mark.slow
def test_the_learned_reader_abstains_on_a_question_the_sample_does_not_cover(
        real_pipeline: Pipeline) -> None:
    """Was a known defect: the old span scorer answered this with a place name from the
    sample. The chooser's "none of them" option takes it now."""
    off = real_pipeline.ask("Who won the 1998 football World Cup final?")
    assert off.abstained and not off.citations


def test_copies_and_repeats_of_one_answer_share_its_probability() -> None:
    from rag.evidence import answer_probability

    texts = ["The storm made landfall near Tampa.", "The storm made landfall near Tampa.",
             "Helene came ashore close to Tampa, officials said.", "Schools reopen Monday."]
    p = np.array([0.2, 0.2, 0.1, 0.3])
    # The same sentence in a copy, and another report naming the same short answer, add up.
    assert answer_probability(p, 0, texts, "Tampa") == pytest.approx(0.5)
    assert answer_probability(p, 0, texts, None) == pytest.approx(0.4)
    assert answer_probability(p, 3, texts, "Monday") == pytest.approx(0.3)


def test_spans_found_at_ingest_are_what_the_reader_finds_and_it_does_not_look_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import make_settings

    pipe = Pipeline(make_settings(tmp_path / "index"), embedder=FakeEmbedder())
    pipe.ensure_sample_corpus()
    want = pipe.ask("When must US troops leave Niger?")
    assert want.citations
    art = pipe.store.get_article(want.citations[0].article_id)
    stored = pipe.store.sentences_in(art.id, 0, len(art.text))
    texts = [art.text[s.start:s.end] for s in stored]
    assert [s.span_candidates(t) for s, t in zip(stored, texts, strict=True)] == \
        [tuple(sp) for sp in span_candidates(texts)]

    def no_parsing(sentences: Sequence[str]) -> list[list[object]]:
        if sentences:
            raise AssertionError(f"spaCy ran at question time on {len(sentences)} sentences")
        return []

    monkeypatch.setattr("rag.learned.span_candidates", no_parsing)
    got = pipe.ask("When must US troops leave Niger?")
    assert (got.text, got.short_answer) == (want.text, want.short_answer)
    pipe.close()
