# Course pipeline: jupytext sources -> nbgrader release -> collect -> grade -> feedback -> grades.
# `make help` lists the targets. Every target takes ASSIGNMENT=<name> (default: spatial).

SHELL := /bin/bash
.DEFAULT_GOAL := help

ASSIGNMENT ?= spatial
VENV ?= .venv
FROM ?=
PYTEST_ARGS ?=
# UNSANDBOXED=1 grades without the bubblewrap sandbox (only where it cannot run; see README)
UNSANDBOXED ?=
# Grading at scale (README "Grading at scale"): JOBS students at once (default: the number of
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
ifneq ($(strip $(UNSANDBOXED)),)
export COURSE_UNSANDBOXED := 1
endif
ifneq ($(strip $(DB)),)
export COURSE_DB_URL := $(strip $(DB))
export COURSE_DB_ROOT := $(CURDIR)
endif
TOOL := $(PY) -m coursetools --assignment $(ASSIGNMENT)

.PHONY: sandbox postgres help env release validate collect grade summary feedback export report demo lab scheduler worker mutants bench bench-grade test clean distclean publish return-feedback due roster

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

# Several machines (README "Grading on several machines"): one scheduler, workers on every
# machine that sees this course folder at the same path, then `make grade CLUSTER=tcp://...`.
scheduler: $(STAMP) ## run a Dask scheduler (port SCHEDULER_PORT=8786) for CLUSTER=tcp://<this host>:8786 (Ctrl-C stops it)
	@PYTHONPATH="$(CURDIR)" $(VENV_ABS)/bin/dask scheduler --port $(SCHEDULER_PORT) --no-dashboard

worker: $(STAMP) sandbox ## run JOBS grading workers for the scheduler CLUSTER=tcp://host:port (Ctrl-C stops them)
	@if [[ "$(CLUSTER)" != *://* ]]; then echo "error: give the scheduler: make worker CLUSTER=tcp://<host>:$(SCHEDULER_PORT)" >&2; exit 1; fi
	@PYTHONPATH="$(CURDIR)" $(VENV_ABS)/bin/dask worker "$(CLUSTER)" --nthreads 1 \
	  --nworkers $(if $(strip $(JOBS)),$(JOBS),$$(nproc)) --memory-limit 0 --no-dashboard

mutants: release sandbox ## grade every buggy submission of gradebook_tests/mutants.py -> reports/mutation-report.md
	@$(PY) gradebook_tests/mutation_report.py

bench: $(STAMP) ## time loop/fast conv vs torch and the BLAS bound; table into README.md
	@$(PY) bench/conv_bench.py

bench-grade: release sandbox ## grade a synthetic class (N=200): stock nbgrader vs make grade JOBS=2; table into README.md
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

test: $(STAMP) sandbox postgres ## run gradebook_tests/ (end to end through real nbgrader)
	@$(PY) -m pytest gradebook_tests $(PYTEST_ARGS)

clean: ## remove generated data: autograded/ feedback/ grades.csv build/ demo/ logs/
	rm -rf autograded feedback grades.csv grades-*.csv build demo logs downloaded/*/extracted downloaded/*/staging

distclean: clean ## also remove collected submissions, the gradebook and .venv (asks first)
	@read -r -p "delete submitted/, downloaded/, gradebook.db and $(VENV)? [y/N] " ok && [ "$$ok" = y ]
	rm -rf submitted downloaded gradebook.db "$(VENV_ABS)"
