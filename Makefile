# The two commands: `make report` builds the interim report on the bundled synthetic data,
# `make test` runs lint and the whole test suite. Both create or reuse the local virtual
# environment .venv, installed from the lock file requirements.lock.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PARAMS ?= parameters/interim-2024q4.yaml

.PHONY: report final test lint venv lock notebooks kernel clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/cohort report $(PARAMS)

final: $(STAMP)
	$(BIN)/cohort report parameters/final-2026.yaml $(if $(wildcard reports/interim-2024q4/tables/monitor.csv),--against reports/interim-2024q4)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: lint
	$(BIN)/python -m pytest -n 2 --doctest-modules src/cohort tests
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:randomly notebooks

# Re-execute the committed notebooks on the bundled synthetic data after an intended change.
notebooks: $(STAMP)
	$(BIN)/cohort notebooks --refresh

kernel: $(STAMP)
	$(BIN)/python -m ipykernel install --user --name cohort --display-name "Python (cohort)"

lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	.lockenv/bin/python -m pip install --quiet -e '.[dev]'
	echo '# Exact versions for a reproducible environment (Python 3.11). Regenerate with `make lock`.' > requirements.lock
	.lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^cohort' >> requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
