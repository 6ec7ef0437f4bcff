"""The library holds no names of things: no entity, country, agency or outlet, no alias table.

What a question asks for and which words answer it come from learned models (rag/nlp.py,
rag/rank.py, rag/read.py), so nothing in rag/ should name the things of any one archive. The
list below is the sample corpus's vocabulary and the alias and demonym tables the earlier
rule-based reader carried; a hit means a rule fitted to particular articles came back.
"""

import re
from pathlib import Path

RAG = Path(__file__).resolve().parent.parent / "rag"
NAMES = """niger nigeria nigerien niamey agadez tchiani zeine pentagon wagner sahel mali chad
burkina russia russian moscow putin france french paris washington america american usa
united states britain british china chinese beijing dutch netherlands ecowas""".split()
# Two-word names are matched as phrases.
PHRASES = ["united states"]


def _library_text() -> dict[str, str]:
    return {str(p.relative_to(RAG)): p.read_text(encoding="utf-8").lower()
            for p in RAG.rglob("*.py")}


def test_no_module_of_the_library_names_an_entity_country_or_agency() -> None:
    hits = []
    words = [n for n in NAMES if n not in {"united", "states"}]
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words + PHRASES)) + r")\b")
    for path, text in _library_text().items():
        for m in pattern.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            hits.append(f"{path}:{line}: {m.group(0)}")
    assert not hits, "\n".join(hits)
