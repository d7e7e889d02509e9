# Two commands do everything: `make run` and `make test`. Every target is idempotent.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BOT    := $(VENV)/bin/bot
STAMP  := $(VENV)/.installed
SHARED ?= ../shared
OUT    ?= results
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser run chat index test test-fast lint eval bench bench-collection clean

install: $(STAMP)

# torch goes in first and pinned: unpinned, another package would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	@echo "Installing the bot and its models (llama-cpp-python compiles once: 6-10 minutes)..."
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

index: install
	$(BOT) index

run: index
	$(BOT) serve

chat: index
	$(BOT) chat

test: install browser
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not integration and not browser"

lint: install
	$(VENV)/bin/ruff check bot tests

eval: install
	@mkdir -p $(OUT)
	$(BOT) eval $(SHARED)/data/article_qa_dev.jsonl --out $(OUT)/article_qa_dev.jsonl
	$(BOT) eval $(SHARED)/data/squad_complexity_dev.jsonl --out $(OUT)/squad_complexity_dev.jsonl
	$(BOT) eval eval/own_news_dev.jsonl --out $(OUT)/own_news_dev.jsonl
	$(BOT) eval eval/own_rail_dev.jsonl --out $(OUT)/own_rail_dev.jsonl
	$(BOT) eval eval/own_article_dev.jsonl --out $(OUT)/own_article_dev.jsonl
	$(BOT) eval eval/own_article2_dev.jsonl --out $(OUT)/own_article2_dev.jsonl
	$(BOT) eval eval/own_article3_dev.jsonl --out $(OUT)/own_article3_dev.jsonl
	$(BOT) eval eval/own_article4_dev.jsonl --out $(OUT)/own_article4_dev.jsonl

bench: install
	$(PY) -m bot.bench --out docs/BENCHMARKS.md
	$(PY) -m bot.bench collection --out docs/BENCHMARKS.md

# 10,000 made-up news stories indexed, changed and searched (about a quarter of an hour).
bench-collection: install
	$(PY) -m bot.bench collection --out docs/BENCHMARKS.md

clean:
	rm -rf $(VENV) index/*/ $(OUT) .pytest_cache
