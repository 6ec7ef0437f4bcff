"""rag/serve.py: the server the library assembles, with or without the pages of ui/."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rag.pipeline import Pipeline
from rag.serve import create_server_app
from rag.settings import Settings


def test_without_pages_the_server_is_the_api_alone(fake_pipeline: Pipeline,
                                                   settings: Settings) -> None:
    app = create_server_app(fake_pipeline, settings, api_key="")
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/docs").status_code == 200  # the offline docs page
        assert client.get("/").status_code == 404  # no chat page mounted
        assert client.get("/embed").status_code == 404


def test_pages_are_mounted_after_the_api_and_inside_its_policies(fake_pipeline: Pipeline,
                                                                 settings: Settings) -> None:
    seen: list[object] = []

    def pages(app: object, pipeline: Pipeline, s: Settings, key: str | None) -> None:
        seen.append((pipeline, s, key))
        from fastapi.responses import PlainTextResponse

        app.add_api_route("/", lambda: PlainTextResponse("page"))  # type: ignore[attr-defined]

    app = create_server_app(fake_pipeline, settings, api_key="k", pages=pages)
    assert seen == [(fake_pipeline, settings, "k")]
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 401  # the key guards the API
        page = client.get("/", headers={"Authorization": "Bearer k"})
        assert page.text == "page"
        assert "frame-ancestors" in page.headers.get("content-security-policy", "")
