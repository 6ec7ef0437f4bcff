"""The HTTP API's typed replies (issue 16 item 3): the OpenAPI page declares a schema for
every route's reply, the reply models name every key the library's types can carry, and a reply
leaves absent what is optional and passes new keys through."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.types import Answer, ArticleSummary, Chunk, Citation, IngestReport, Passage
from tests.api_fakes import NIGER, FakePipeline


def test_openapi_page_documents_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/articles", "/api/health", "/v1/chat/completions"} <= set(paths)


ROUTES = [("/api/ask", "post", "AnswerOut"), ("/api/articles", "get", "ArticlePageOut"),
          ("/api/articles", "post", "IngestReportOut"),
          ("/api/articles/{article_id}", "get", "ArticleOut"),
          ("/api/articles/{article_id}", "delete", "DeletedOut"),
          ("/api/health", "get", "HealthOut"), ("/v1/models", "get", "ModelListOut"),
          ("/v1/chat/completions", "post", "ChatCompletionOut")]


def test_openapi_declares_a_schema_for_every_reply(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for path, method, model in ROUTES:
        responses = spec["paths"][path][method]["responses"]
        ok = responses.get("200") or responses["201"]
        assert ok["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"}, (path, method)
        assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ErrorOut")
    answer = schemas["AnswerOut"]
    assert set(answer["required"]) == {"question", "short_answer", "answer", "abstained",
                                       "confidence", "citations", "timings_ms"}
    assert answer["properties"]["citations"]["items"] == {"$ref": "#/components/schemas/"
                                                                  "CitationOut"}
    assert set(schemas["CitationOut"]["required"]) == {
        "n", "article_id", "title", "date", "source", "chunk_id", "quote", "start", "end",
        "score"}
    assert {"usage", "choices", "citations"} <= set(schemas["ChatCompletionOut"]["required"])
    assert set(schemas["UsageOut"]["required"]) == {"prompt_tokens", "completion_tokens",
                                                    "total_tokens"}
    assert "text/event-stream" in spec["paths"]["/v1/chat/completions"]["post"]["responses"][
        "200"]["content"]


def test_the_models_name_every_key_the_contract_can_carry(fake_pipeline: Any) -> None:
    from rag import api_models as api
    from rag.types import ShortAnswer

    def fields(model: Any) -> set[str]:
        return set(model.model_fields)

    cite = Citation(1, "a", "T", "2024-05-20", "AP", "a:0", "q", 0, 1, 0.5,
                    also_reported_by=("BBC",), url="https://x.org/#:~:text=q",
                    date_inferred=True)
    passage = Passage(Chunk("a:0", "a", 0, "q", 0, 1), "T", None, "AP", 0.5)
    full = Answer("Q", "A [1]", True, (cite,), (passage,), {"total": 1.0}, "Q2", 0.5, "local",
                  ("gone",), "down", ShortAnswer("q", "a", 0, 1, 1), "2024-05-20", 2).to_dict()
    assert set(full) == fields(api.AnswerOut)
    assert set(full["citations"][0]) == fields(api.CitationOut)
    assert set(full["nearest_passages"][0]) == fields(api.PassageOut)
    assert set(full["short_answer"]) == fields(api.ShortAnswerOut)
    assert set(NIGER.to_dict()) == fields(api.ArticleOut)
    assert set(IngestReport(errors=(("p", "m"),)).to_dict()) == fields(api.IngestReportOut)
    assert set(ArticleSummary("a", "T", None, "AP", 1).to_dict()) == fields(
        api.ArticleSummaryOut)
    fake_pipeline.ensure_sample_corpus()
    assert {"status", "collection", *fake_pipeline.stats()} == fields(api.HealthOut)


def test_typed_replies_keep_optional_keys_absent_and_pass_new_keys_through(
        client: TestClient, fake: FakePipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    body = client.post("/api/ask", json={"question": "When must US troops leave Niger?"}).json()
    assert "short_answer" in body and body["short_answer"] is None
    assert not {"as_of", "nearest_passages", "backend", "removed", "backend_error"} & set(body)
    assert not {"url", "also_reported_by", "date_inferred"} & set(body["citations"][0])
    assert client.get("/api/health").json() == {"status": "ok", **fake.stats(),
                                                "collection": "main"}

    class Later(Answer):
        def to_dict(self) -> dict[str, Any]:
            return {**super().to_dict(), "conflicts": [{"n": 2}]}

    monkeypatch.setattr(fake, "ask", lambda *a, **k: Later("Q", "A", True))
    assert client.post("/api/ask", json={"question": "Q"}).json()["conflicts"] == [{"n": 2}]
