# pleiades-fpga: two commands do all the set-up.
#   make demo   build .venv, then train -> QAT -> export -> RTL -> verify -> report on the synthetic default
#   make test   build .venv, then run the test suite
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
EXTRAS  ?= test,synth,hls4ml

.PHONY: venv finn-env litex-env demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found; install Python 3.11 or run 'make PY=python3 ...'"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade "pip>=24" "setuptools>=77" wheel
	# torch first: the pinned CPU build (a bare 'torch' would pull GBs of CUDA packages)
	$(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $(STAMP)

# FINN+ in its own venv (.venv-finn: finn-plus --no-deps + the deps its transformations need; ~1-2 min, docs/FINN.md).
# `make test` builds it too; if that fails (no PyPI), the FINN test is skipped with the reason.
FINN_STAMP := .venv-finn/.pleiades-finn-env
finn-env: $(FINN_STAMP)

$(FINN_STAMP): $(STAMP) pleiades_fpga/hw/finn_backend/env.py
	$(BIN)/python -m pleiades_fpga.hw.finn_backend.env -q

# LiteX + LiteDRAM in their own venv (.venv-litex, PyPI; the ULX3S SDRAM flow, docs/EXTERNAL_MEMORY.md).
# `make test` builds it too; if that fails (no PyPI), the LiteDRAM tests are skipped with the reason.
LITEX_STAMP := .venv-litex/.pleiades-litex-env
litex-env: $(LITEX_STAMP)

$(LITEX_STAMP): $(STAMP) pleiades_fpga/toolflow/boards/litedram_core.py
	$(BIN)/python -m pleiades_fpga.toolflow.boards.litedram_core -q

demo: $(STAMP)
	$(BIN)/pleiades-fpga demo --out build/demo

test: $(STAMP)
	-$(MAKE) finn-env
	-$(MAKE) litex-env
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf build .pytest_cache
