"""English language resources live in rag/language.py alone (issue 12 item 4).

Month and weekday names, number words, the negation words and the stopwords were once written
out again in rag/verify.py, rag/text.py, rag/eval/metrics.py and rag/generate.py, and the copies
drifted apart. A module that needs them derives its form from rag/language.py; this test reads
the source of every other module and fails on a statement whose string literals spell one of
these lists again.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

RAG = Path(__file__).resolve().parents[1] / "rag"

# A list is spelled again when one statement's strings hold all the words of one of these.
RESOURCES = {
    "month names": [{"january", "february"}, {"jan", "feb", "mar"}],
    "weekday names": [{"monday", "tuesday"}, {"mon", "tue", "wed"}],
    "number words": [{"eleven", "twelve"}, {"twenty", "thirty"}],
    "ordinals": [{"first", "second", "third"}],
    "negation words": [{"never", "none", "without"}, {"neither", "nor", "cannot"}],
    "stopwords": [{"the", "of", "whom", "whose", "would"}],
    "words of opposite sense": [{"increase", "decrease"}, {"approve", "reject"}],
}


def _literal_words(node: ast.AST) -> set[str]:
    return {w for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            for w in re.findall(r"[a-z]+", n.value.lower())}


def statement_words(source: str) -> list[tuple[int, set[str]]]:
    """(line, words of its string literals) for each statement, docstrings aside. A compound
    statement counts its own expressions ("if w in (...)"), not its body's statements."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring: prose, not a list
        parts = [c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.stmt)]
        found = set().union(*(_literal_words(c) for c in parts)) if parts else set()
        if found:
            out.append((node.lineno, found))
    return out


def copies(path: Path) -> list[str]:
    where = path.relative_to(RAG) if path.is_relative_to(RAG) else path.name
    return [f"{where}:{line}: {name}"
            for line, found in statement_words(path.read_text(encoding="utf-8"))
            for name, sets in RESOURCES.items() if any(s <= found for s in sets)]


def test_the_check_finds_each_resource_where_it_is_defined() -> None:
    # Not a vacuous pass: every resource is found in rag/language.py itself.
    found = {hit.split(": ")[1] for hit in copies(RAG / "language.py")}
    assert found >= set(RESOURCES)


def test_a_copy_in_a_tuple_of_literals_or_a_regex_is_found(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text('"""January, February: a docstring is prose."""\n'
                   'X = 1\n'
                   'MONTHS = ("january", "february")\n'
                   'def f(w):\n'
                   '    if re.match(r"\\b(?:one|eleven|twelve)\\b", w):\n'
                   '        return 1\n')
    assert [h.split(": ", 1)[1] for h in copies(src)] == ["month names", "number words"]
    assert [line for line, _ in statement_words(src.read_text())] == [3, 5]


@pytest.mark.parametrize("path", sorted(p for p in RAG.rglob("*.py") if p != RAG / "language.py"),
                         ids=lambda p: str(p.relative_to(RAG)))
def test_no_other_module_spells_a_language_resource(path: Path) -> None:
    assert copies(path) == []
