# One command for each job on a fresh machine; each does its own set-up.
#   make run    -- the main job: the whole tabular study on the built-in games -> results/
#   make test   -- lint + the docs build + the full test suite (tabular core, proofs, notebooks, LLM on CPU)
#   make test-fast -- the edit–test loop: every test not marked `slow` (<= 90 s on 2 cores)
#   make docs   -- the documentation site (mkdocs build --strict) -> site/
#   make mutants -- plant known bugs in the loss/trainer/sampler code; lists survivors
#   make bench  -- the pinned TRL environments in .bench/, then every benchmark (benchmarks/RESULTS.md)
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
OUT     ?= results

.PHONY: setup browser run test test-fast lint docs clean mutants bench bench-envs

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build of torch where no GPU is present (a bare `torch` pulls the CUDA build).
	if ! command -v nvidia-smi >/dev/null 2>&1; then \
	  $(BIN)/python -m pip install -q "torch==2.13.0" || $(BIN)/python -m pip install -q "torch>=2.2,<3"; \
	fi
	$(BIN)/python -m pip install -q -e ".[llm,notebooks,dev,explore,docs]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f $(VENV)/.installed-* && touch $(STAMP)

run: setup
	$(BIN)/prefgame study --out $(OUT)

# Headless Chromium + its driver for the explorer's browser test (Debian packages, as root);
# where that fails the test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium chromium-driver >/dev/null; } || \
	  echo "make: no headless Chromium could be installed; the explorer's browser test will skip"

test: setup browser lint docs
	$(BIN)/python -m pytest -n 2 -q

# The edit–test loop: no notebook, browser, docs build, subprocess training or experiment run
# (those tests are marked `slow`; `make test` still runs them).
test-fast: setup
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# mutation check of the losses, the trainer's loss/sampling/checkpoint code and the sampler
mutants: setup
	$(BIN)/python tools/mutants.py

# the whole tree: lint rules and formatting (notebooks are checked through their .py pairs)
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The TRL contestants of benchmarks/online_step.py, each in its own venv under .bench/ (ignored):
# TRL 1.16 (online DPO) and TRL 1.12 (its NashMDTrainer), both on the CPU torch and the
# transformers/accelerate/datasets of prefgame's own venv.
BENCH         := .bench
BENCH_PINS    := "torch==2.13.0" "transformers==5.24.0" "accelerate==1.15.0" "datasets==5.2.0" requests
BENCH_PINS116 := "trl==1.16.0"
BENCH_PINS112 := "trl==1.12.0"

$(BENCH)/trl%/.installed: Makefile
	test -x $(BENCH)/trl$*/bin/python || $(PY) -m venv $(BENCH)/trl$*
	$(BENCH)/trl$*/bin/python -m pip install -q --upgrade pip
	$(BENCH)/trl$*/bin/python -m pip install -q "torch==2.13.0"
	$(BENCH)/trl$*/bin/python -m pip install -q $(BENCH_PINS) $(BENCH_PINS$*)
	touch $@

bench-envs: $(BENCH)/trl116/.installed $(BENCH)/trl112/.installed

bench: setup bench-envs
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/solver.py --timeout 30
	$(BIN)/python benchmarks/dynamics.py
	$(BIN)/python benchmarks/online_step.py --preset long \
	  --trl-python $(BENCH)/trl116/bin/python --trl112-python $(BENCH)/trl112/bin/python
	$(BIN)/python benchmarks/online_step.py \
	  --trl-python $(BENCH)/trl116/bin/python --trl112-python $(BENCH)/trl112/bin/python
	$(BIN)/python benchmarks/ablate_step.py


# the documentation site: README sections, rendered notebooks, proofs, API from docstrings
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) $(BENCH) .pytest_cache .hypothesis site
