"""`newsrag ask` (one question, or a JSONL batch) and `newsrag chat` (questions from a terminal),
with the history file and batch line checks they share."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rag.errors import InputError, NewsragError
from rag.text import require_unicode

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.types import Answer, Turn


def _read_history(path: Path | None) -> list[Turn]:
    if path is None:
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"No such history file: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"History file {path} is not valid JSON ({exc}).") from None
    return parse_history(data, str(path))


def parse_history(data: Any, where: str = "history") -> list[Turn]:
    from rag.types import Turn

    if not isinstance(data, list):
        raise InputError(f"{where}: expected a JSON list of {{\"role\", \"content\"}} objects.")
    turns = []
    for i, item in enumerate(data):
        if (not isinstance(item, dict) or item.get("role") not in ("user", "assistant", "system")
                or not isinstance(item.get("content"), str)):
            raise InputError(f"{where}, item {i}: each turn needs a role (user or assistant) "
                             "and a string content.")
        if item["role"] != "system":
            turns.append(Turn(role=item["role"], content=item["content"]))
    return turns


def ask(pipe: Pipeline, args: argparse.Namespace) -> int:
    if args.batch:
        if args.question:
            raise InputError("Give either a question or --batch, not both.")
        return ask_batch(pipe, args)
    answer = pipe.ask(args.question, history=_read_history(args.history), top_k=args.top_k,
                      since=args.since, until=args.until, as_of=args.as_of,
                      include_undated=args.include_undated)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print(render_answer(answer))
        if answer.backend_error:
            print(f"newsrag: warning: the {pipe.settings.backend} backend failed, so this is "
                  f"the extractive answer: {answer.backend_error}", file=sys.stderr)
    return 0


def ask_batch(pipe: Pipeline, args: argparse.Namespace) -> int:
    try:
        lines = args.batch.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"No such batch file: {args.batch}") from None
    except UnicodeDecodeError:
        raise InputError(f"Batch file {args.batch} is not UTF-8.") from None
    failed = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {n}: malformed JSON ({exc.msg}).") from None
            require_unicode(item, f"line {n}")
            if not isinstance(item, dict) or not isinstance(item.get("question"), str):
                raise InputError(f"line {n}: expected an object with a string 'question'.")
            history = parse_history(item.get("history", []), f"line {n} history")
            as_of = item.get("as_of", args.as_of)
            if as_of is not None and not isinstance(as_of, str):
                raise InputError(f"line {n}: 'as_of' must be a date string (YYYY-MM-DD).")
            out = pipe.ask(item["question"], history=history, top_k=args.top_k,
                           since=args.since, until=args.until, as_of=as_of,
                           include_undated=args.include_undated).to_dict()
        except NewsragError as exc:
            failed += 1
            out = {"line": n, **exc.to_dict()}
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return 2 if failed else 0


def render_answer(answer: Answer) -> str:
    """The answer and its numbered sources, for a person at a terminal."""
    from rag.present import answer_as_text

    return answer_as_text(answer)


def chat(pipe: Pipeline, stdin: TextIO, stdout: TextIO) -> int:
    from rag.types import Turn

    print("newsrag chat — ask about the articles; follow-ups work. Empty line or Ctrl-D quits.",
          file=stdout)
    history: list[Turn] = []
    while True:
        print("\n> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line or not line.strip():
            return 0
        try:
            answer = pipe.ask(line.strip(), history=history)
        except NewsragError as exc:
            print(f"error: {exc}", file=stdout)
            continue
        print(render_answer(answer), file=stdout)
        history += [Turn("user", line.strip()), Turn("assistant", answer.text)]
