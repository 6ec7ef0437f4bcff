"""The OpenAI-compatible /v1 routes against the in-memory FakePipeline (tests/api_fakes.py):
chat completions whole and streamed, history, usage, the sources list in the content, `n`,
/v1/models, and the official OpenAI client talking to them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.types import Answer, Turn
from tests.api_fakes import FakePipeline


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


# --- usage, n, sources in the content (issue 16 item 3) ---------------------------------


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
