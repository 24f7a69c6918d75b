# gan-runner: `make install`, then `make test` or `.venv/bin/gan-runner`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
ARGS   ?=

.PHONY: install test test-fast test-slurm test-all lint format train tensorboard bench clean slurm-up slurm-down

install: $(VENV)/.installed

# Re-runs only when pyproject.toml changes; the package itself is installed editable.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,digits,inception,optuna]'
	touch $@

# Everything that needs no system service: CPU only, no network, no root, no Slurm.
test: install
	$(BIN)/python -m pytest -n 2 -m "not slurm" $(ARGS)

# The developer's loop: the tests not marked slow (a few minutes on two cores).
test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slurm and not slow" $(ARGS)

# The Slurm tests submit real jobs: slurm-up starts a local one-node Slurm (root, Debian's packages)
# when none runs. They fail, never skip, when it cannot start; one worker: they share one sweep.
test-slurm: install slurm-up
	$(BIN)/python -m pytest -m slurm $(ARGS)

test-all: test test-slurm

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

train: install
	$(BIN)/gan-runner $(ARGS)

tensorboard: install
	$(BIN)/tensorboard --logdir outputs $(ARGS)

bench: install
	$(BIN)/python scripts/bench.py $(ARGS)

slurm-up:
	bash scripts/slurm_local.sh up

slurm-down:
	bash scripts/slurm_local.sh down

clean:
	find outputs -mindepth 1 -maxdepth 1 -type d ! -name reproduce -exec rm -rf {} +
	git clean -fdXq outputs/reproduce 2>/dev/null || true  # what git ignores there: checkpoints, events, full logs
	rm -rf .pytest_cache src/*.egg-info
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
