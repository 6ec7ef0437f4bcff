"""Documentation stays true: every setting is documented, README's commands exist."""

import re
from pathlib import Path

from rag.cli import _parser
from rag.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme() -> None:
    missing = [name for name in Settings.model_fields if f"`{name}`" not in README]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert all(f.description for f in Settings.model_fields.values())


def test_readme_commands_are_real_subcommands() -> None:
    sub = next(a for a in _parser()._actions if a.dest == "command")
    known = set(sub.choices)  # type: ignore[arg-type]
    used = set(re.findall(r"(?:`|bin/)newsrag (\w+)", README))
    assert {"ask", "ingest", "serve", "eval"} <= used
    assert used <= known


def test_quickstart_has_exactly_two_commands() -> None:
    quick = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.S)
    assert block is not None
    assert [ln.split("#")[0].strip() for ln in block.group(1).strip().splitlines()] == [
        "make serve", "make test"]
