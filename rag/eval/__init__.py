"""The evals: newsrag scored on the gold set and on RealTimeQA, each run writing a report.

`gold` runs the hand-written gold set (`eval/gold.jsonl`), `realtimeqa` the RealTimeQA weeks
(read by `rtqa`, indexed once by `rtqa_cache`); both score with `metrics` and write their
reports with `report` (and `realtimeqa_report`). They take typed arguments: `newsrag eval`'s
argparse lives in `rag.cli_eval`. Nothing here loads at `import rag`.
"""
