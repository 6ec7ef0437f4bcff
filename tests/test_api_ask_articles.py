"""The HTTP API's own routes against the in-memory FakePipeline (tests/api_fakes.py): /api/ask
and its errors, /api/articles (list, page, get, upload, delete), /api/health, and the API key
that guards them all."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.api import create_app
from rag.settings import Settings
from rag.types import Answer, Turn
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


def test_ask_passes_the_date_range(client: TestClient, fake: FakePipeline) -> None:
    r = client.post("/api/ask", json={"question": "When must they leave?",
                                      "since": "2024-05-01", "until": "2024-05-31"})
    assert r.status_code == 200 and fake.ranges[-1] == ("2024-05-01", "2024-05-31")


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
