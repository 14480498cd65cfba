# Everything a fresh machine needs: `make demo` runs the study, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint bench clean

demo: $(STAMP)
	$(BIN)/personadrop study

test: $(STAMP)
	$(BIN)/python -m pytest -q

install: $(STAMP)

# torch goes in first and alone, pinned, so nothing later can pull a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_dropout.py

clean:
	rm -rf $(VENV) runs .pytest_cache
