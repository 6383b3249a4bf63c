# Two commands for a new user: `make run` and `make test`. Each builds .venv itself when it is
# missing or older than pyproject.toml (the single source of dependencies).

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 4
# pytest-xdist workers: much of the suite waits on processes, clusters and servers, so two
# workers keep both of a 2-core machine busy. A test file runs in one worker (--dist loadfile),
# so its module fixtures run once, and the SLURM test cluster (one per machine) is started by
# one file only, tests/slurm/test_slurm_e2e.py.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

.PHONY: run test test-fast lint docs report clean-results

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(PYTEST)

# The unit tests alone, for a contributor's edit-test loop: no snakemake, cluster or swarm of
# processes (those tests are marked slow); under 3 minutes on 2 cores.
test-fast: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(PYTEST) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d site

# The manual, served at http://127.0.0.1:8000 while you edit docs/.
docs: $(STAMP)
	$(BIN)/mkdocs serve

report: $(STAMP)
	$(BIN)/snakemake --report report.html

clean-results:
	rm -rf results resources .snakemake
