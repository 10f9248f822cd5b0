# Course pipeline: jupytext sources -> nbgrader release -> collect -> grade -> feedback -> grades.
# `make help` lists the targets. Every target takes ASSIGNMENT=<name> (default: spatial).

SHELL := /bin/bash
.DEFAULT_GOAL := help

ASSIGNMENT ?= spatial
VENV ?= .venv
FROM ?=
PYTEST_ARGS ?=

PYTHON3 ?= python3
VENV_ABS := $(abspath $(VENV))
PY := $(VENV_ABS)/bin/python
STAMP := $(VENV_ABS)/.requirements.txt
# nbgrader calls `alembic` by name: the environment's bin/ must come first on PATH.
export PATH := $(VENV_ABS)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
TOOL := $(PY) -m coursetools --assignment $(ASSIGNMENT)

.PHONY: help env release validate collect grade summary feedback export demo lab mutants bench test clean distclean

help: ## list the targets
	@echo "usage: make <target> [ASSIGNMENT=$(ASSIGNMENT)]"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  \1\t\2/' | expand -t 14

env: $(STAMP) ## create/refresh .venv from requirements.txt (every target does this first)

# Re-created only when requirements.txt really changed (its copy in the venv differs).
$(STAMP): requirements.txt
	@if [ -f "$@" ] && cmp -s requirements.txt "$@"; then touch "$@"; else \
	  if [ -e "$(VENV_ABS)" ] && [ ! -f "$(VENV_ABS)/pyvenv.cfg" ]; then \
	    echo "error: $(VENV) exists but is not a virtual environment; refusing to replace it" >&2; exit 1; fi; \
	  echo "creating $(VENV) from requirements.txt (first run only; about a minute) ..."; \
	  rm -rf "$(VENV_ABS)" && $(PYTHON3) -m venv "$(VENV_ABS)" && \
	  if "$(PY)" -m pip install --disable-pip-version-check -q -r requirements.txt > "$(VENV_ABS).install.log" 2>&1; \
	  then cp requirements.txt "$@" && rm -f "$(VENV_ABS).install.log"; \
	  else echo "error: installing requirements.txt failed; see $(VENV_ABS).install.log" >&2; \
	       rm -rf "$(VENV_ABS)"; exit 1; fi; fi

release: $(STAMP) ## build release/<a>/ from source/<a>/*.py (commit the result)
	@$(TOOL) release

validate: release ## instructor solution earns every point, the blank release none
	@$(TOOL) validate

collect: release ## LMS download FROM=<folder or .zip> -> submitted/<student>/<a>/
	@$(TOOL) collect --from "$(FROM)"

grade: release ## nbgrader autograde every collected submission, then a summary
	@$(TOOL) grade

summary: $(STAMP) ## the grade summary again, without grading
	@$(TOOL) summary

feedback: $(STAMP) ## HTML feedback per student in feedback/
	@$(TOOL) feedback

export: $(STAMP) ## all grades of the gradebook -> grades.csv
	@$(TOOL) export

demo: $(STAMP) ## a simulated class through collect, grade, feedback, export (in demo/)
	@$(TOOL) demo

lab: release ## JupyterLab on a scratch copy of the release in lab/ (RESET=1: fresh copy)
	@$(TOOL) lab $(if $(RESET),--reset) $(if $(DRY_RUN),--dry-run) -- $(LAB_ARGS)

mutants: release ## grade every buggy submission of gradebook_tests/mutants.py -> reports/mutation-report.md
	@$(PY) gradebook_tests/mutation_report.py

bench: $(STAMP) ## time loop/fast conv vs torch and the BLAS bound; table into README.md
	@$(PY) bench/conv_bench.py

test: $(STAMP) ## run gradebook_tests/ (end to end through real nbgrader)
	@$(PY) -m pytest gradebook_tests $(PYTEST_ARGS)

clean: ## remove generated data: autograded/ feedback/ grades.csv build/ demo/ logs/
	rm -rf autograded feedback grades.csv build demo logs downloaded/*/extracted

distclean: clean ## also remove collected submissions, the gradebook and .venv (asks first)
	@read -r -p "delete submitted/, downloaded/, gradebook.db and $(VENV)? [y/N] " ok && [ "$$ok" = y ]
	rm -rf submitted downloaded gradebook.db "$(VENV_ABS)"
