"""The library's one-way layering, checked on the source: imports go down the way of data
(ingest -> ... -> render -> {ui, api, cli, eval}), never back up."""

from __future__ import annotations

import ast
from pathlib import Path

RAG = Path(__file__).resolve().parents[1] / "rag"


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_imported_modules_sees_imports_inside_functions(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from rag.ingest import RawDocument\n    import gradio\n")
    assert {"rag.ingest", "gradio"} <= imported_modules(src)


def test_feeds_do_not_import_ingest_which_reads_them() -> None:
    assert not {m for m in imported_modules(RAG / "feeds.py") if m.startswith("rag.ingest")}


def test_the_library_never_imports_its_ui_or_gradio() -> None:
    offenders = {str(path.relative_to(RAG)): sorted(bad) for path in RAG.rglob("*.py")
                 if (bad := {m for m in imported_modules(path)
                             if m.split(".")[0] in ("ui", "gradio", "gradio_client")})}
    assert offenders == {}


def test_serve_finds_the_chat_pages_through_their_entry_point() -> None:
    from rag.serve import installed_pages
    from ui.server import mount_pages

    assert installed_pages() is mount_pages


def test_only_the_store_s_vector_module_imports_chromadb() -> None:
    importers = {str(path.relative_to(RAG)) for path in RAG.rglob("*.py")
                 if any(m.split(".")[0] == "chromadb" for m in imported_modules(path))}
    # rag/baseline.py is the stock llama-index pipeline the eval compares against: its own
    # Chroma, as llama-index builds it.
    assert importers == {"store/vectors.py", "baseline.py"}
