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
FAST_TESTS ?= $(addprefix gradebook_tests/,test_perimeter_execute.py test_perimeter_verify.py test_perimeter_checks.py \
	test_perimeter_repair.py test_checks.py test_reference.py test_docs.py test_report.py \
	test_intake_rules.py test_grade_export.py test_phases.py test_lanes.py test_cell_metadata.py)
# UNSANDBOXED=1 grades without the bubblewrap sandbox (only where it cannot run; docs/threat-model.md)
UNSANDBOXED ?=
# Grading at scale (docs/grading-at-scale.md): JOBS students at once (default: the number of
# cores); CLUSTER= dask | tcp://<scheduler>:8786 | slurm | pbs | sge | lsf | htcondor;
# DB= a SQLAlchemy URL of the gradebook (default: the SQLite file gradebook.db).
JOBS ?=
CLUSTER ?=
DB ?=
SCHEDULER_PORT ?= 8786

# Three environments, each built on first use by the targets that need it and rebuilt only when
# its requirements file changed (docs/environments.md): VENV the course tooling (requirements.txt),
# KERNEL_VENV the Python that runs student code when grading and in `make lab`
# (requirements-kernel.txt: numpy, matplotlib, ipykernel only), TEST_VENV the tests and benchmarks
# (requirements-test.txt: the tooling plus pytest and torch).
KERNEL_VENV ?= .venv-kernel
TEST_VENV ?= .venv-test
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
KERNEL_VENV_ABS := $(abspath $(KERNEL_VENV))
KERNEL_PY := $(KERNEL_VENV_ABS)/bin/python
KERNEL_STAMP := $(KERNEL_VENV_ABS)/.requirements-kernel.txt
TEST_VENV_ABS := $(abspath $(TEST_VENV))
TEST_PY := $(TEST_VENV_ABS)/bin/python
TEST_STAMP := $(TEST_VENV_ABS)/.requirements-test.txt
# nbgrader calls `alembic` by name: the environment's bin/ must come first on PATH.
export PATH := $(VENV_ABS)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# Settings reach the course tools as options (coursetools/settings.py), never as variables
# of the environment: they apply to this course folder only.
TOOL := $(PY) -m coursetools --assignment $(ASSIGNMENT) $(if $(strip $(DB)),--db '$(strip $(DB))') \
	$(if $(strip $(UNSANDBOXED)),--unsandboxed)
# targets that run student code give it the grading kernel environment's Python
GRADE_TOOL := $(TOOL) --kernel-python $(KERNEL_PY)

.PHONY: sandbox postgres chromium help env kernel-env test-env release release-current formgrader validate collect grade summary feedback export report demo lab scheduler worker mutants bench bench-grade test test-fast clean distclean publish return-feedback due roster

help: ## list the targets
	@echo "usage: make <target> [ASSIGNMENT=$(ASSIGNMENT)]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 19

env: $(STAMP) ## create/refresh .venv (course tooling) from requirements.txt (targets do this first)

# $(call venv,<venv dir>,<requirements file>,<stamp>,<what for>): (re)create the venv when the
# stamp (a copy of the requirements file(s) it was built from) differs; `touch` otherwise.
define venv
	@if [ -f "$(3)" ] && cat $(2) | cmp -s - "$(3)"; then touch "$(3)"; else \
	  if [ -e "$(1)" ] && [ ! -f "$(1)/pyvenv.cfg" ]; then \
	    echo "error: $(1) exists but is not a virtual environment; refusing to replace it" >&2; exit 1; fi; \
	  echo "creating $(notdir $(1)) ($(4)) from $(lastword $(2)) (first run only) ..."; \
	  rm -rf "$(1)" && $(PYTHON3) -m venv "$(1)" && \
	  if "$(1)/bin/python" -m pip install --disable-pip-version-check -q -r $(lastword $(2)) > "$(1).install.log" 2>&1; \
	  then cat $(2) > "$(3)" && rm -f "$(1).install.log"; \
	  else echo "error: installing $(lastword $(2)) failed; see $(1).install.log" >&2; \
	       rm -rf "$(1)"; exit 1; fi; fi
endef

# Re-created only when requirements.txt really changed (its copy in the venv differs).
$(STAMP): requirements.txt
	$(call venv,$(VENV_ABS),requirements.txt,$@,course tooling)

$(KERNEL_STAMP): requirements-kernel.txt
	$(call venv,$(KERNEL_VENV_ABS),requirements-kernel.txt,$@,grading kernel)

# The test venv holds the tooling too (requirements-test.txt starts with -r requirements.txt), so
# the tests can pass it as VENV= to the course copies they drive: it gets .venv's stamp as well.
$(TEST_STAMP): requirements.txt requirements-test.txt
	$(call venv,$(TEST_VENV_ABS),requirements.txt requirements-test.txt,$@,tests and benchmarks)
	@cp requirements.txt "$(TEST_VENV_ABS)/.requirements.txt"

kernel-env: $(KERNEL_STAMP) ## create/refresh .venv-kernel (what student code may import) from requirements-kernel.txt

test-env: $(TEST_STAMP) ## create/refresh .venv-test (pytest, torch) from requirements-test.txt

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

release: $(STAMP) ## build release/<a>/ from source/<a>/*.py, check every cell compiles (commit the result; PUBLISH=1 also publishes)
	@$(TOOL) release
	@$(if $(strip $(PUBLISH)),$(TOOL) publish $(OPS_EXCHANGE) $(if $(strip $(FORCE)),--force),true)

publish: release-current ## nbgrader release_assignment into the exchange (EXCHANGE=<dir>; FORCE=1 replaces)
	@$(TOOL) publish $(OPS_EXCHANGE) $(if $(strip $(FORCE)),--force)

# What every other target needs: the release, rebuilt only when source/<a>/, nbgrader_config.py,
# requirements.txt or the code that builds it changed (content hashes; build/release-<a>.sha256).
release-current: $(STAMP)
	@$(TOOL) release --if-changed

validate: release-current sandbox $(KERNEL_STAMP) ## run the released notebook with the instructor solution (every visible test passes), then grade it (every point) and the blank release (none)
	@$(GRADE_TOOL) validate

collect: release-current ## FROM=<zip|folder> [LMS=canvas|moodle|blackboard|plain] [ROSTER=], or the exchange -> submitted/
	@$(TOOL) collect --from "$(FROM)" --lms "$(LMS)" $(OPS_ROSTER) $(OPS_EXCHANGE)

# (grade checks that the release is current itself, in its own process: release-current's check)
grade: $(STAMP) sandbox $(KERNEL_STAMP) ## autograde every collected submission (JOBS=N at once, CLUSTER=...), then a summary
	@$(GRADE_TOOL) grade --jobs "$(JOBS)" --cluster "$(CLUSTER)"

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

demo: $(STAMP) sandbox $(KERNEL_STAMP) ## a simulated class through collect, grade, feedback, export (in demo/)
	@$(GRADE_TOOL) demo

lab: release-current $(KERNEL_STAMP) ## JupyterLab as a student sees it, on a scratch copy of the release in lab/ (RESET=1: fresh copy)
	@$(GRADE_TOOL) lab $(if $(RESET),--reset) $(if $(DRY_RUN),--dry-run) -- $(LAB_ARGS)

formgrader: release-current ## nbgrader's formgrader on this course (instructor: browse and grade by hand)
	@$(TOOL) formgrader $(if $(DRY_RUN),--dry-run) -- $(LAB_ARGS)

# Several machines (docs/grading-at-scale.md): one scheduler, workers on every
# machine that sees this course folder at the same path, then `make grade CLUSTER=tcp://...`.
scheduler: $(STAMP) ## run a Dask scheduler (port SCHEDULER_PORT=8786) for CLUSTER=tcp://<this host>:8786 (Ctrl-C stops it)
	@PYTHONPATH="$(CURDIR)" $(VENV_ABS)/bin/dask scheduler --port $(SCHEDULER_PORT) --no-dashboard

worker: $(STAMP) sandbox $(KERNEL_STAMP) ## run JOBS grading workers for the scheduler CLUSTER=tcp://host:port (Ctrl-C stops them)
	@if [[ "$(CLUSTER)" != *://* ]]; then echo "error: give the scheduler: make worker CLUSTER=tcp://<host>:$(SCHEDULER_PORT)" >&2; exit 1; fi
	@PYTHONPATH="$(CURDIR)" $(VENV_ABS)/bin/dask worker "$(CLUSTER)" --nthreads 1 \
	  --nworkers $(if $(strip $(JOBS)),$(JOBS),$$(nproc)) --memory-limit 0 --no-dashboard

mutants: release-current sandbox $(KERNEL_STAMP) ## grade every buggy submission of gradebook_tests/mutants.py -> reports/mutation-report.md
	@$(PY) gradebook_tests/mutation_report.py --kernel-python $(KERNEL_PY)

bench: $(TEST_STAMP) ## time loop/fast conv vs torch and the BLAS bound -> reports/bench-conv.md
	@$(TEST_PY) bench/conv_bench.py

bench-grade: release-current sandbox $(KERNEL_STAMP) ## grade a synthetic class (N=200): stock nbgrader vs make grade JOBS=2 -> reports/bench-grade.md
	@$(PY) bench/grade_bench.py --kernel-venv $(KERNEL_VENV_ABS) $(if $(N),--students $(N)) $(if $(strip $(JOBS)),--jobs $(JOBS)) $(if $(strip $(CLUSTER)),--cluster $(CLUSTER))

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

# The feedback pages are checked in a real headless browser (Debian packages `chromium`, fonts).
chromium: ## install the headless Chromium the tests open feedback pages in (root + apt-get)
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium (headless browser for the feedback tests) with apt-get ..."; \
	    mkdir -p logs; (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core) \
	      > logs/apt-chromium.log 2>&1 \
	      || { echo "error: apt-get install chromium failed; see logs/apt-chromium.log" >&2; exit 1; }; \
	  else echo "note: chromium is not installed; the feedback page tests need it: sudo apt-get install chromium" >&2; fi; fi

# The tests run in TEST_VENV and hand VENV=$(TEST_VENV) KERNEL_VENV=$(KERNEL_VENV) to the course
# copies they drive, so no copy builds an environment of its own.
test: $(TEST_STAMP) $(KERNEL_STAMP) sandbox postgres chromium ## run gradebook_tests/ (end to end through real nbgrader); TESTS= narrows it
	@$(TEST_PY) -m pytest $(if $(filter gradebook_tests/%,$(PYTEST_ARGS)),,$(TESTS)) --kernel-venv=$(KERNEL_VENV_ABS) $(PYTEST_ARGS)

test-fast: $(TEST_STAMP) $(KERNEL_STAMP) ## the fast tests, for every edit: perimeter units, checks, reference, docs (~1 min, no sandbox)
	@$(TEST_PY) -m pytest $(FAST_TESTS) -q --kernel-venv=$(KERNEL_VENV_ABS) $(PYTEST_ARGS)

# Empty the student-data folders $(1) but keep the README.md file that explains each of them
# (a folder named README.md is a student's and goes too).
empty_keeping_readme = for d in $(1); do if [ -d "$$d" ]; then \
	  echo "emptying $$d/ (its README.md stays)"; \
	  find "$$d" -mindepth 1 -maxdepth 1 ! \( -type f -name README.md \) -exec rm -rf {} + || exit 1; fi; done

clean: ## remove generated data: autograded/ and feedback/ (README.md stays), grades*.csv build/ demo/ logs/
	@$(call empty_keeping_readme,autograded feedback)
	rm -rf grades.csv grades-*.csv build demo logs downloaded/*/extracted downloaded/*/staging

distclean: clean ## also remove collected submissions, the gradebook and the three venvs (asks first)
	@read -r -p "delete submitted/, downloaded/, gradebook.db, $(VENV), $(KERNEL_VENV) and $(TEST_VENV)? [y/N] " ok && [ "$$ok" = y ]
	@$(call empty_keeping_readme,submitted)
	rm -rf downloaded gradebook.db "$(VENV_ABS)" "$(KERNEL_VENV_ABS)" "$(TEST_VENV_ABS)"
