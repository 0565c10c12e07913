# Two commands for a fresh machine (see README.md):
#   make run    build the pinned env, train with an absolute local sqlite store, print the UI command
#   make test   build the pinned env plus dev tools and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STORE ?= $(CURDIR)/mlflow.db
TRACKING_URI ?= sqlite:///$(STORE)
ENTRY ?= train_sklearn

.PHONY: venv run ui test lint format lock

$(STAMP): requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock -r requirements-dev.lock
	touch $(STAMP)

venv: $(STAMP)

run: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" MLFLOW_TRACKING_URI="$(TRACKING_URI)" \
	  $(BIN)/mlflow run . -e $(ENTRY) --env-manager local \
	  --experiment-name "$$($(BIN)/python -c 'from common.tracking import experiment_name; print(experiment_name("train"))')"
	@echo "Runs are in $(TRACKING_URI); browse them with:"
	@echo "  $(BIN)/mlflow ui --backend-store-uri $(TRACKING_URI)"

ui: venv
	$(BIN)/mlflow ui --backend-store-uri "$(TRACKING_URI)"

test: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/pytest

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate both locks from the direct pins in pyproject.toml in throwaway environments.
lock:
	bash tools/lock.sh
