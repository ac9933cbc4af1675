# The two commands a new machine needs: `make run` and `make test`.
# Both build the virtual environment from pyproject.toml on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint benchmark clean

$(BIN)/vigil: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The server with the demo data, on the embedded default (SQLite file under var/, in-process tasks).
run: $(BIN)/vigil
	$(BIN)/vigil serve --demo

test: $(BIN)/vigil
	bash .ci/services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipeline models datasets training api review_ui vigil benchmarks
	$(BIN)/pytest

benchmark: $(BIN)/vigil
	$(BIN)/python -m benchmarks.bench_read

clean:
	rm -rf $(VENV) var
