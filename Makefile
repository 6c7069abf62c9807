# The README's two commands: `make demo` and `make test`. Everything they need is installed from the
# project's own files: system packages (infra/bootstrap.sh), Python packages (pyproject.toml),
# jars (infra/**/pom.xml, on first `automate up`).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
AUTOMATE := $(BIN)/automate
# The source roots that hold code (mypy refuses a folder without any).
MYPY_DIRS = $(shell for d in core producers rules processors connectors llm rag runtime ops; do \
	[ -n "$$(find $$d -name '*.py' 2>/dev/null | head -1)" ] && echo $$d; done)

.PHONY: demo test setup system up down status lint typecheck unit bench chaos soak clean

setup: system $(VENV)/.installed

system:
	@bash infra/bootstrap.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

up: setup
	$(AUTOMATE) up

down:
	$(AUTOMATE) down

status:
	$(AUTOMATE) status

demo: setup
	$(AUTOMATE) up
	$(AUTOMATE) migrate
	$(AUTOMATE) demo
	$(AUTOMATE) status

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy $(MYPY_DIRS)

unit: setup
	$(BIN)/pytest tests/unit

# In CI (CI=true) the stack is stopped afterwards, whatever the result; locally it stays up for the next run.
test: setup
	@set -e; \
	trap 'if [ -n "$$CI" ]; then $(AUTOMATE) down; fi' EXIT; \
	$(AUTOMATE) up; \
	$(AUTOMATE) migrate; \
	$(BIN)/ruff check .; \
	$(BIN)/mypy $(MYPY_DIRS); \
	$(BIN)/pytest

# The chaos suite, long form: ten runs in a row, three rounds of faults each (`make test` runs one short run).
CHAOS_RUNS ?= 10
chaos: setup
	$(AUTOMATE) up
	$(AUTOMATE) migrate
	@for i in $$(seq 1 $(CHAOS_RUNS)); do \
		echo "chaos run $$i of $(CHAOS_RUNS)"; \
		AUTOMATE_CHAOS_ROUNDS=3 $(BIN)/pytest tests/e2e -q || exit 1; \
	done

bench: setup
	$(BIN)/python tests/bench/bench_rules.py

# By hand, not in CI: 30 minutes at 500 events/s; each worker's RSS and each group's lag every 10 s.
SOAK_MINUTES ?= 30
SOAK_RATE ?= 500
soak: setup
	$(AUTOMATE) up
	$(AUTOMATE) migrate
	$(BIN)/python tests/bench/soak.py --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE) --out .automate/soak.jsonl

clean: down
	rm -rf $(VENV) .automate
