# pleiades-fpga: two commands do all the set-up.
#   make demo   build .venv, then train -> QAT -> export -> RTL -> verify -> report on the synthetic default
#   make test   build .venv, then run the test suite
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
EXTRAS  ?= test,synth,hls4ml

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found; install Python 3.11 or run 'make PY=python3 ...'"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade "pip>=24" "setuptools>=77" wheel
	# torch first: the pinned CPU build (a bare 'torch' would pull GBs of CUDA packages)
	$(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pleiades-fpga demo --out build/demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf build .pytest_cache
