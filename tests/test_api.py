"""The HTTP API against a small in-memory pipeline (tests/api_fakes.py; the real one is driven in
test_server.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.api import create_app
from rag.settings import Settings
from rag.types import Answer, ArticleSummary, Chunk, Citation, IngestReport, Passage, Turn
from tests.api_fakes import NIGER, FakePipeline


def test_ask_returns_the_answer_contract_with_citations(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": "When must US troops leave Niger?"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"question", "answer", "abstained", "citations", "timings_ms"}
    assert "[1]" in body["answer"]
    assert not body["abstained"]
    c = body["citations"][0]
    assert NIGER.text[c["start"]:c["end"]] == c["quote"]
    assert "September 15" in c["quote"]


def test_ask_passes_history_for_follow_ups(client: TestClient, fake: FakePipeline) -> None:
    history = [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Niger."}]
    r = client.post("/api/ask", json={"question": "When must they leave?", "history": history})
    assert r.status_code == 200
    assert fake.calls[-1][1] == [Turn("user", "Who?"), Turn("assistant", "Niger.")]


def test_abstention_carries_the_nearest_passages(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "Zebra migration statistics?"}).json()
    assert body["abstained"] is True
    assert body["citations"] == []
    assert body["nearest_passages"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"question": ""}, 400, "bad_input"),  # the pipeline's InputError
        ({}, 422, "invalid_request"),  # missing field
        ({"question": "x", "top_k": 0}, 422, "invalid_request"),
        ({"question": "x", "history": [{"role": "robot", "content": "hi"}]}, 422,
         "invalid_request"),
        ({"question": "x", "unknown": 1}, 422, "invalid_request"),
    ],
)
def test_bad_asks_get_a_4xx_json_error(client: TestClient, payload: dict[str, Any], status: int,
                                       code: str) -> None:
    r = client.post("/api/ask", json=payload)
    assert r.status_code == status
    assert r.json()["error"] == code
    assert r.json()["message"]


def test_malformed_json_is_a_400_not_a_500(client: TestClient) -> None:
    r = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "bad_json"


def test_unexpected_errors_are_a_json_500_without_a_traceback(
        client: TestClient, fake: FakePipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Answer:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(fake, "ask", boom)
    r = client.post("/api/ask", json={"question": "When?"})
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error"
    assert "secret" not in r.text
    assert "Traceback" not in r.text


def test_articles_list_get_upload_delete_stay_consistent(client: TestClient) -> None:
    assert client.get("/api/articles").json()["count"] == 1
    assert client.get("/api/articles/niger1").json()["text"] == NIGER.text
    r = client.post("/api/articles", files={"file": ("note.txt", b"Mali news. Wagner left.")})
    assert r.status_code == 201, r.text
    new_id = r.json()["added"][0]
    again = client.post("/api/articles", files={"file": ("note.txt", b"Mali news. Wagner left.")})
    assert again.status_code == 200
    assert again.json()["added"] == []
    ids = {a["id"] for a in client.get("/api/articles").json()["articles"]}
    assert ids == {"niger1", new_id}
    assert client.delete(f"/api/articles/{new_id}").json() == {"deleted": new_id}
    assert client.get(f"/api/articles/{new_id}").status_code == 404
    assert client.delete(f"/api/articles/{new_id}").json()["error"] == "not_found"


def test_upload_rejects_bad_files_with_their_status(client: TestClient) -> None:
    r = client.post("/api/articles", files={"file": ("x.pdf", b"%PDF")})
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_format"
    r = client.post("/api/articles", files={"file": ("big.txt", b"x" * 2000)})
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert client.post("/api/articles").status_code == 422  # no file at all


def test_upload_uses_only_the_base_name(client: TestClient, fake: FakePipeline) -> None:
    r = client.post("/api/articles", files={"file": ("../../etc/evil.txt", b"Some text here.")})
    assert r.status_code == 201
    assert fake.articles[r.json()["added"][0]].title == "evil.txt"


def test_health_reports_index_size_and_model(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["articles"] == 1
    assert body["embed_model"] == "fake"


def test_openapi_page_documents_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/articles", "/api/health", "/v1/chat/completions"} <= set(paths)


# --- OpenAI-compatible ---------------------------------------------------------------------


def test_chat_completion_has_the_answer_and_citations(client: TestClient,
                                                      fake: FakePipeline) -> None:
    r = client.post("/v1/chat/completions", json={
        "model": "newsrag", "temperature": 0.2,
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Who ordered it?"},
                     {"role": "assistant", "content": "Niger."},
                     {"role": "user", "content": [{"type": "text", "text": "When must US troops"
                                                   " leave Niger?"}]}],
    })
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    msg = body["choices"][0]["message"]
    assert msg["role"] == "assistant"
    assert "[1]" in msg["content"]
    assert body["citations"][0]["n"] == 1
    assert body["abstained"] is False
    question, history = fake.calls[-1]
    assert question == "When must US troops leave Niger?"
    assert history == [Turn("user", "Who ordered it?"), Turn("assistant", "Niger.")]


def _events(text: str) -> list[Any]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: "):]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_streamed_chat_completion_rebuilds_the_same_answer(client: TestClient) -> None:
    q = {"messages": [{"role": "user", "content": "When must US troops leave Niger?"}]}
    whole = client.post("/v1/chat/completions", json=q).json()
    r = client.post("/v1/chat/completions", json={**q, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text.strip() == whole["choices"][0]["message"]["content"].strip()
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"] == whole["citations"]


def test_streamed_bad_question_is_a_4xx_before_the_stream(client: TestClient) -> None:
    r = client.post("/v1/chat/completions",
                    json={"stream": True, "messages": [{"role": "user", "content": " "}]})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "bad_input"  # OpenAI error shape under /v1


def test_chat_completion_needs_a_final_user_message(client: TestClient) -> None:
    r = client.post("/v1/chat/completions",
                    json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert r.status_code == 400
    assert r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json={"messages": []})
    assert r.status_code == 422


def test_models_lists_newsrag(client: TestClient) -> None:
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["newsrag"]


# --- auth ----------------------------------------------------------------------------------


@pytest.fixture
def locked(fake: FakePipeline, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("NEWSRAG_API_KEY", "s3cret")
    settings = Settings.load({"index_dir": tmp_path}, env={})
    return TestClient(create_app(fake, settings))  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/articles"), ("GET", "/api/health"), ("POST", "/api/ask"),
    ("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("DELETE", "/api/articles/niger1"),
])
def test_api_key_is_required_when_set(locked: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        r = locked.request(method, path, headers=headers, json={"question": "x"})
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


def test_the_right_key_opens_the_api(locked: TestClient) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    assert locked.get("/api/health", headers=auth).status_code == 200
    r = locked.post("/api/ask", headers=auth, json={"question": "When must troops leave Niger?"})
    assert r.status_code == 200
    assert r.json()["citations"]


def test_ask_passes_the_date_range(client: TestClient, fake: FakePipeline) -> None:
    r = client.post("/api/ask", json={"question": "When must they leave?",
                                      "since": "2024-05-01", "until": "2024-05-31"})
    assert r.status_code == 200 and fake.ranges[-1] == ("2024-05-01", "2024-05-31")


def test_openai_completion_carries_removed_sentences_and_backend_errors() -> None:
    from rag.api import _sse, completion

    answer = Answer("When?", "They leave by 15 September [1].", False, (), backend="local",
                    removed=("The base cost $1 billion [1].",))
    body = completion(answer, "newsrag")
    assert body["backend"] == "local" and body["removed"] == ["The base cost $1 billion [1]."]
    assert "backend_error" not in body
    failed = Answer("When?", "Quoted [1].", False, (), backend_error="Could not reach Ollama")
    events = [e.removeprefix("data: ").strip() for e in _sse(failed, iter(()), "newsrag")]
    final = [json.loads(e) for e in events if e != "[DONE]"][-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["backend_error"] == "Could not reach Ollama"


def test_articles_are_listed_a_page_at_a_time(client: TestClient) -> None:
    for i in range(3):
        client.post("/api/articles", files={"file": (f"n{i}.txt", f"Story {i}. Words.".encode())})
    body = client.get("/api/articles", params={"limit": 2}).json()
    assert body["count"] == 2 and body["total"] == 4 and body["offset"] == 0
    rest = client.get("/api/articles", params={"limit": 2, "offset": 2}).json()
    assert rest["count"] == 2
    assert not {a["id"] for a in body["articles"]} & {a["id"] for a in rest["articles"]}
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "ten"}):
        r = client.get("/api/articles", params=bad)
        assert r.status_code == 422 and r.json()["error"] == "invalid_request"


# --- typed replies, usage, n, sources in the content (issue 16 item 3) ----------------------


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


NIGER_Q = "When must US troops leave Niger?"
TRAILER = ("\n\nSources:\n[1] US to withdraw troops from Niger (20 May 2024, AP): "
           "“The US troops must leave Niger by September 15.”")


def test_count_tokens_counts_words_and_punctuation() -> None:
    from rag.api import count_tokens

    assert count_tokens(NIGER_Q) == 7  # six words and "?"
    assert count_tokens("“no later” than 15 September, [1]") == 11  # 6 words, 5 marks
    assert count_tokens("") == 0


def test_a_chat_completion_carries_usage_and_its_sources_in_the_content(
        client: TestClient) -> None:
    from rag.api import count_tokens

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": NIGER_Q}]
    body = client.post("/v1/chat/completions", json={"messages": messages}).json()
    content = body["choices"][0]["message"]["content"]
    assert content == "The US troops must leave Niger by September 15. [1]" + TRAILER
    assert body["usage"] == {"prompt_tokens": 3 + 7, "completion_tokens": count_tokens(content),
                             "total_tokens": 10 + count_tokens(content)}
    assert body["citations"][0]["quote"] in content  # the data stays beside the text
    plain = client.post("/v1/chat/completions",
                        json={"messages": messages, "sources_in_content": False}).json()
    assert plain["choices"][0]["message"]["content"] == (
        "The US troops must leave Niger by September 15. [1]")


def test_an_abstained_completion_has_no_sources_list(client: TestClient) -> None:
    body = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "Zebra migration statistics?"}]}).json()
    assert body["abstained"] is True
    assert "Sources:" not in body["choices"][0]["message"]["content"]


def test_the_openai_client_keeps_the_sources_and_usage(client: TestClient) -> None:
    from openai import OpenAI

    oai = OpenAI(base_url="http://testserver/v1", api_key="none", http_client=client)
    done = oai.chat.completions.create(model="newsrag",
                                       messages=[{"role": "user", "content": NIGER_Q}])
    assert done.choices[0].message.content is not None
    assert done.choices[0].message.content.endswith(TRAILER)
    assert done.usage is not None and done.usage.prompt_tokens == 7
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    chunks = list(oai.chat.completions.create(
        model="newsrag", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": NIGER_Q}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == done.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage == done.usage


def test_a_streamed_completion_ends_with_the_sources_then_usage(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json={
        "stream": True, "messages": [{"role": "user", "content": NIGER_Q}]})
    chunks = _events(r.text)[:-1]
    assert chunks[-2]["choices"][0]["delta"]["content"] == TRAILER
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop" and final["usage"]["prompt_tokens"] == 7
    assert all(c["choices"] for c in chunks)  # no usage-only chunk unless asked


@pytest.mark.parametrize("n", [2, 0, 5])
def test_more_than_one_choice_is_a_clear_400(client: TestClient, n: int) -> None:
    r = client.post("/v1/chat/completions",
                    json={"n": n, "messages": [{"role": "user", "content": NIGER_Q}]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "bad_input" and f"n must be 1, not {n}" in err["message"]
    ok = client.post("/v1/chat/completions",
                     json={"n": 1, "messages": [{"role": "user", "content": NIGER_Q}]})
    assert ok.status_code == 200


def test_an_answer_sent_back_as_history_loses_its_sources_list(client: TestClient,
                                                              fake: FakePipeline) -> None:
    first = client.post("/v1/chat/completions",
                        json={"messages": [{"role": "user", "content": NIGER_Q}]}).json()
    said = first["choices"][0]["message"]["content"]
    assert TRAILER in said
    client.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": NIGER_Q}, {"role": "assistant", "content": said},
        {"role": "user", "content": "Who ordered it?"}]})
    assert fake.calls[-1][1] == [Turn("user", NIGER_Q),
                                 Turn("assistant", said.removesuffix(TRAILER))]
