# Two commands for a fresh machine (see README.md):
#   make run    build the pinned env, run the pipeline (tune, gate, register) on an absolute local
#               sqlite store with artifacts beside it, print the UI command; your own table with
#               make run DATA=path/to/table.csv TARGET=label ARGS="-P drop=id -P trainer=sklearn"
#   make test   build the pinned env plus dev tools and run the whole test suite
# The interpreter the pins are for (python_env.yaml): pyenv's 3.11.7 when it has one.
PYTHON ?= $(or $(wildcard $(HOME)/.pyenv/versions/3.11.7/bin/python3),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
STORE ?= $(CURDIR)/mlflow.db
TRACKING_URI ?= sqlite:///$(STORE)
ENTRY ?= main
DATA ?=
TARGET ?=
ARGS ?=
# A local file becomes an absolute path (the run may start elsewhere); URIs and builtin: pass.
PARAMS := $(if $(DATA),-P data=$(if $(wildcard $(DATA)),$(abspath $(DATA)),$(DATA))) \
  $(if $(TARGET),-P target=$(TARGET)) $(ARGS)
# The experiment follows the naming convention: main -> pipeline, train_* -> train, else its name.
STAGE ?= $(if $(filter main,$(ENTRY)),pipeline,$(if $(filter train_%,$(ENTRY)),train,$(ENTRY)))

.PHONY: venv venv-dev run ui test lint format lock mlproject deploy

# `make run` needs the runtime pins only; the dev tools (pytest, ruff, pyspark, uv, the bundle
# checker's typed models) come on top for `make test`, without rebuilding what is there.
$(STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; v = "%d.%d.%d" % sys.version_info[:3]; sys.exit(0 if v == "3.11.7" \
	  else f"error: {sys.executable} is Python {v}; the pins are for 3.11.7 (python_env.yaml): " \
	  "pyenv install 3.11.7, or make PYTHON=/path/to/python3.11.7")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(BIN)/pip install --quiet -r requirements.lock -r requirements-dev.lock
	touch $(DEV_STAMP)

venv: $(STAMP)

venv-dev: $(DEV_STAMP)

# The experiment is created first, with its artifacts beside the database (the launcher would
# put them in ./mlruns of wherever it was started). MLflow's own INFO lines (the launcher's
# temporary folders and command line, the store's table creation) are left out unless
# TABULAR_VERBOSE=true, as the entry points leave theirs out (jobs/cli.py). gc.freeze() spares
# the interpreter's final collections (~0.6 s), as the entry points do.
run: venv
	export PATH="$(CURDIR)/$(BIN):$$PATH" MLFLOW_TRACKING_URI="$(TRACKING_URI)" \
	  MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
	  MLFLOW_LOGGING_LEVEL="$${MLFLOW_LOGGING_LEVEL:-$(if $(filter true 1 yes,$(TABULAR_VERBOSE)),INFO,WARNING)}"; \
	  experiment_id=$$($(BIN)/python -c 'import gc; from common import tracking; \
	    print(tracking.ensure_experiment(tracking.experiment_name("$(STAGE)"))); \
	    gc.freeze()') && \
	  $(BIN)/mlflow run . -e $(ENTRY) --env-manager local --experiment-id $$experiment_id $(PARAMS)
	@echo "Runs are in $(TRACKING_URI); browse them with:"
	@echo "  $(BIN)/mlflow ui --backend-store-uri $(TRACKING_URI)"

# One worker and no job runner (MLflow's GenAI job executor): answers in ~4 s instead of ~16 s
# on 2 cores, and Ctrl-C stops it within ~2 s.
ui: venv
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri "$(TRACKING_URI)" \
	  --host 127.0.0.1 --workers 1 --uvicorn-opts "--timeout-graceful-shutdown=1"

# Two workers, each test file on one (its module fixtures, a Spark session, stay in one process).
PYTEST_WORKERS ?= 2

test: venv-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

format: venv-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate both locks from the direct pins in pyproject.toml in throwaway environments.
lock:
	bash tools/lock.sh

# Regenerate MLproject's commands from each entry point's declared parameters.
mlproject: venv-dev
	$(BIN)/python tools/mlproject.py

# Deploy the Databricks bundle for a target (dev by default; needs the databricks CLI): check it
# first (databricks/check_bundle.py), then record whether this checkout is a clean commit, so
# job runs are reused by the pipeline and reproducible only when they are.
BUNDLE_TARGET ?= dev
deploy: venv
	dirty=$$(test -z "$$(git status --porcelain)" && echo false || echo true); \
	  subdir=$$(git rev-parse --show-prefix | sed 's:/$$::'); \
	  $(BIN)/python databricks/check_bundle.py --target $(BUNDLE_TARGET) --var git_dirty=$$dirty && \
	  databricks bundle deploy -t $(BUNDLE_TARGET) --var="git_dirty=$$dirty" \
	    --var="project_subdir=$$subdir" $(ARGS)
