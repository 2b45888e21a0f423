# orca-bench: the two commands of the README, and a few more.
#   make table   set up (first time), build the default offline table with Snakemake and its HTML report
#                (a partly failed run still builds the table, listing its missing cells, and exits non-zero)
#   make test    run the test suite (what CI runs)
#   make followups  the follow-ups table on the offline rows (LoRA, the controls; config/followups-offline.yaml)
#   make size    measure every distinct job shape of the paper grid at real size (docs/sizing.md, ~1 h on 2 cores)
#   make cost    what each paper table costs, from those measurements (reports/cost/cost.md)
#   make gpu-check  on a CUDA machine: step time, peak GPU memory and TFLOP/s of one 1D and one 2D paper row
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.orca-installed

.PHONY: setup table followups test test-all slurm-test bench size cost gpu-check clean-results

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# check_lock.py first: a lock left by a killed run stops `make table` with the command that clears it
# (README: Troubleshooting); otherwise it prints nothing.
# --keep-going: a failed cell does not stop the others; the table is then built from the cells that ran, each
# missing one listed with its log (README: Partial runs), the HTML report is still written, and make fails.
table: setup
	$(BIN)/python scripts/check_lock.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --keep-going --report reports/report.html --report-after-run \
	  || { PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --report reports/report.html; exit 1; }

followups: setup
	$(BIN)/python scripts/check_lock.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --configfile config/followups-offline.yaml --keep-going \
	  --report reports/report-followups.html --report-after-run

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

test-all: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "slow or not slow"

bench: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/bench_default_table.py

SIZING := --configfile config/paper.yaml --configfile config/sizing.yaml

size: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/orca size $(SIZING)

cost: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/orca cost $(SIZING)

gpu-check: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" PYTHON=$(BIN)/python bash scripts/gpu_check.sh

clean-results:
	rm -rf results/runs results/baselines results/benchmarks .cache/orca/align logs
