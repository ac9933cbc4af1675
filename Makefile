# The two commands a new machine needs: `make run` and `make test`.
# Both build the virtual environment from pyproject.toml on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint benchmark clean

# --no-compile: byte-compiling every installed module (scipy, sklearn, matplotlib...) took
# half the build's CPU; Python compiles the few it imports on first use.
$(BIN)/vigil: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $@

# The server with the demo data, on the embedded default (SQLite file under var/, in-process tasks).
run: $(BIN)/vigil
	$(BIN)/vigil serve --demo

# The tests run in parallel, one pytest-xdist worker per CPU; the tests that share the live
# server (and its browser) stay on one worker (loadgroup), which seeds it once. Each worker
# runs its numerical libraries single-threaded: the workers already fill the CPUs, and
# thread pools competing for them (OpenMP spinning) are slower than none.
PYTEST_WORKERS ?= auto
test: $(BIN)/vigil
	bash .ci/services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipeline models datasets training api review_ui vigil benchmarks
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

benchmark: $(BIN)/vigil
	$(BIN)/python -m benchmarks.bench_read

clean:
	rm -rf $(VENV) var
