# Two commands do everything: `make run` and `make test`. Every target is idempotent.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BOT    := $(VENV)/bin/bot
STAMP  := $(VENV)/.installed
SHARED ?= ../shared
OUT    ?= results

.PHONY: install run index test test-fast lint eval bench clean

install: $(STAMP)

# torch goes in first and pinned: unpinned, another package would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	@echo "Installing the bot and its models (llama-cpp-python compiles once: 6-10 minutes)..."
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

index: install
	$(BOT) index

run: index
	$(BOT) chat

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not integration"

lint: install
	$(VENV)/bin/ruff check bot tests

eval: install
	@mkdir -p $(OUT)
	$(BOT) eval $(SHARED)/data/article_qa_dev.jsonl --out $(OUT)/article_qa_dev.jsonl
	$(BOT) eval $(SHARED)/data/squad_complexity_dev.jsonl --out $(OUT)/squad_complexity_dev.jsonl

bench: install
	$(PY) -m bot.bench --out docs/BENCHMARKS.md

clean:
	rm -rf $(VENV) index/*/ $(OUT) .pytest_cache
