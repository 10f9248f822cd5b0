# Course pipeline: jupytext sources -> nbgrader release -> collect -> grade -> feedback -> grades.
# `make help` lists the targets. Every target takes ASSIGNMENT=<name> (default: spatial).

SHELL := /bin/bash
.DEFAULT_GOAL := help

ASSIGNMENT ?= spatial
VENV ?= .venv
FROM ?=
PYTEST_ARGS ?=
TESTS ?= gradebook_tests
# unit tests of the grading perimeter and of the checks framework, and the other tests that
# grade nothing: seconds each, no sandbox (docs/testing.md)
FAST_TESTS ?= $(addprefix gradebook_tests/,test_perimeter_execute.py test_perimeter_verify.py \
	test_perimeter_repair.py test_checks.py test_reference.py test_docs.py test_report.py \
	test_intake_rules.py test_grade_export.py)
# UNSANDBOXED=1 grades without the bubblewrap sandbox (only where it cannot run; docs/threat-model.md)
UNSANDBOXED ?=
# Grading at scale (docs/grading-at-scale.md): JOBS students at once (default: the number of
# cores); CLUSTER= dask | tcp://<scheduler>:8786 | slurm | pbs | sge | lsf | htcondor;
# DB= a SQLAlchemy URL of the gradebook (default: the SQLite file gradebook.db).
JOBS ?=
CLUSTER ?=
DB ?=
SCHEDULER_PORT ?= 8786

# Course operations (docs/course-operations.md): LMS=auto|canvas|moodle|blackboard|plain for
# FROM= downloads; ROSTER=<csv> (default: roster.csv when present); EXCHANGE=<dir> (default:
# c.Exchange.root in nbgrader_config.py, the course's exchange/); DUE="2026-12-01 23:59 Europe/Berlin";
# FORMAT=csv|canvas|moodle|gradescope; PUBLISH=1 (make release also publishes); FORCE=1.
LMS ?= auto
ROSTER ?=
EXCHANGE ?=
DUE ?=
FORMAT ?= csv
PUBLISH ?=
FORCE ?=
OPS_ROSTER = --roster "$(ROSTER)"
OPS_EXCHANGE = --exchange "$(EXCHANGE)"

PYTHON3 ?= python3
VENV_ABS := $(abspath $(VENV))
PY := $(VENV_ABS)/bin/python
STAMP := $(VENV_ABS)/.requirements.txt
# nbgrader calls `alembic` by name: the environment's bin/ must come first on PATH.
export PATH := $(VENV_ABS)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# Settings reach the course tools as options (coursetools/settings.py), never as variables
# of the environment: they apply to this course folder only.
TOOL := $(PY) -m coursetools --assignment $(ASSIGNMENT) $(if $(strip $(DB)),--db '$(strip $(DB))') \
	$(if $(strip $(UNSANDBOXED)),--unsandboxed)

.PHONY: sandbox postgres help env release validate collect grade summary feedback export report demo lab scheduler worker mutants bench bench-grade test test-fast clean distclean publish return-feedback due roster

help: ## list the targets
	@echo "usage: make <target> [ASSIGNMENT=$(ASSIGNMENT)]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 19

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

# Grading runs student code in bubblewrap (Debian package `bubblewrap`): installed here when
# missing and we may (root with apt-get); otherwise grading explains what to do.
sandbox: ## install bubblewrap for the grading sandbox if it is missing (root + apt-get)
	@if ! command -v bwrap >/dev/null 2>&1 && [ -z "$(strip $(UNSANDBOXED))" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap (grading sandbox) with apt-get ..."; \
	    mkdir -p logs; (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap) \
	      > logs/apt-bubblewrap.log 2>&1 \
	      || { echo "error: apt-get install bubblewrap failed; see logs/apt-bubblewrap.log" >&2; exit 1; }; \
	  else echo "note: bubblewrap (bwrap) is not installed; grading needs it: sudo apt-get install bubblewrap" >&2; fi; fi

release: $(STAMP) ## build release/<a>/ from source/<a>/*.py (commit the result; PUBLISH=1 also publishes)
	@$(TOOL) release
	@$(if $(strip $(PUBLISH)),$(TOOL) publish $(OPS_EXCHANGE) $(if $(strip $(FORCE)),--force),true)

publish: release ## nbgrader release_assignment into the exchange (EXCHANGE=<dir>; FORCE=1 replaces)
	@$(TOOL) publish $(OPS_EXCHANGE) $(if $(strip $(FORCE)),--force)

validate: release sandbox ## instructor solution earns every point, the blank release none
	@$(TOOL) validate

collect: release ## FROM=<zip|folder> [LMS=canvas|moodle|blackboard|plain] [ROSTER=], or the exchange -> submitted/
	@$(TOOL) collect --from "$(FROM)" --lms "$(LMS)" $(OPS_ROSTER) $(OPS_EXCHANGE)

grade: release sandbox ## autograde every collected submission (JOBS=N at once, CLUSTER=...), then a summary
	@$(TOOL) grade --jobs "$(JOBS)" --cluster "$(CLUSTER)"

summary: $(STAMP) ## the grade summary again: scores, late, could not be graded, no submission (ROSTER=)
	@$(TOOL) summary $(OPS_ROSTER)

feedback: $(STAMP) ## HTML feedback per student in feedback/
	@$(TOOL) feedback

export: $(STAMP) ## FORMAT=csv (grades.csv) | canvas | moodle | gradescope (grades-<lms>-<a>.csv)
	@$(TOOL) export --format "$(FORMAT)" $(OPS_ROSTER)

return-feedback: $(STAMP) ## nbgrader release_feedback: students fetch their feedback from the exchange
	@$(TOOL) return-feedback $(OPS_EXCHANGE)

due: $(STAMP) ## show the due date, or set it: DUE="2026-12-01 23:59 Europe/Berlin" (DUE=none clears)
	@$(TOOL) due --due "$(DUE)"

roster: $(STAMP) ## check ROSTER=<csv> (default roster.csv) and import it into the gradebook
	@$(TOOL) roster $(OPS_ROSTER)

report: $(STAMP) ## class report: pass rate per test, score histogram, late and failed -> reports/class-<a>/
	@$(TOOL) report $(OPS_ROSTER)

demo: $(STAMP) sandbox ## a simulated class through collect, grade, feedback, export (in demo/)
	@$(TOOL) demo

lab: release ## JupyterLab on a scratch copy of the release in lab/ (RESET=1: fresh copy)
	@$(TOOL) lab $(if $(RESET),--reset) $(if $(DRY_RUN),--dry-run) -- $(LAB_ARGS)

# Several machines (docs/grading-at-scale.md): one scheduler, workers on every
# machine that sees this course folder at the same path, then `make grade CLUSTER=tcp://...`.
scheduler: $(STAMP) ## run a Dask scheduler (port SCHEDULER_PORT=8786) for CLUSTER=tcp://<this host>:8786 (Ctrl-C stops it)
	@PYTHONPATH="$(CURDIR)" $(VENV_ABS)/bin/dask scheduler --port $(SCHEDULER_PORT) --no-dashboard

worker: $(STAMP) sandbox ## run JOBS grading workers for the scheduler CLUSTER=tcp://host:port (Ctrl-C stops them)
	@if [[ "$(CLUSTER)" != *://* ]]; then echo "error: give the scheduler: make worker CLUSTER=tcp://<host>:$(SCHEDULER_PORT)" >&2; exit 1; fi
	@PYTHONPATH="$(CURDIR)" $(VENV_ABS)/bin/dask worker "$(CLUSTER)" --nthreads 1 \
	  --nworkers $(if $(strip $(JOBS)),$(JOBS),$$(nproc)) --memory-limit 0 --no-dashboard

mutants: release sandbox ## grade every buggy submission of gradebook_tests/mutants.py -> reports/mutation-report.md
	@$(PY) gradebook_tests/mutation_report.py

bench: $(STAMP) ## time loop/fast conv vs torch and the BLAS bound -> reports/bench-conv.md
	@$(PY) bench/conv_bench.py

bench-grade: release sandbox ## grade a synthetic class (N=200): stock nbgrader vs make grade JOBS=2 -> reports/bench-grade.md
	@$(PY) bench/grade_bench.py $(if $(N),--students $(N)) $(if $(strip $(JOBS)),--jobs $(JOBS))

# The tests grade a class through a real PostgreSQL server (Debian package `postgresql`),
# which they start on a private port and data directory and stop afterwards.
postgres: ## install the PostgreSQL server the tests start (root + apt-get)
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing the PostgreSQL server (for the tests) with apt-get ..."; \
	    mkdir -p logs; (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql) \
	      > logs/apt-postgresql.log 2>&1 \
	      || { echo "error: apt-get install postgresql failed; see logs/apt-postgresql.log" >&2; exit 1; }; \
	  else echo "note: the PostgreSQL server is not installed; its test needs it: sudo apt-get install postgresql" >&2; fi; fi

test: $(STAMP) sandbox postgres ## run gradebook_tests/ (end to end through real nbgrader); TESTS= narrows it
	@$(PY) -m pytest $(TESTS) $(PYTEST_ARGS)

test-fast: $(STAMP) ## the fast tests, for every edit: perimeter units, checks, reference, docs (~1 min, no sandbox)
	@$(PY) -m pytest $(FAST_TESTS) -q $(PYTEST_ARGS)

# Empty the student-data folders $(1) but keep the README.md file that explains each of them
# (a folder named README.md is a student's and goes too).
empty_keeping_readme = for d in $(1); do if [ -d "$$d" ]; then \
	  echo "emptying $$d/ (its README.md stays)"; \
	  find "$$d" -mindepth 1 -maxdepth 1 ! \( -type f -name README.md \) -exec rm -rf {} + || exit 1; fi; done

clean: ## remove generated data: autograded/ and feedback/ (README.md stays), grades*.csv build/ demo/ logs/
	@$(call empty_keeping_readme,autograded feedback)
	rm -rf grades.csv grades-*.csv build demo logs downloaded/*/extracted downloaded/*/staging

distclean: clean ## also remove collected submissions, the gradebook and .venv (asks first)
	@read -r -p "delete submitted/, downloaded/, gradebook.db and $(VENV)? [y/N] " ok && [ "$$ok" = y ]
	@$(call empty_keeping_readme,submitted)
	rm -rf downloaded gradebook.db "$(VENV_ABS)"
