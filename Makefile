# h5tocbors: `make demo` to see it work, `make test` to check it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-numpy1 lint bench sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: install, convert the sample and replay it through the real `dranspose replay`
demo: $(STAMP)
	$(BIN)/h5tocbors convert sample_data/pilatus_100k.h5 --stream pilatus -o out --force
	LOG_LEVEL=WARNING $(BIN)/dranspose replay -w examples.worker:ImageSumWorker \
		-r examples.reducer:SummaryReducer -f out/pilatus.cbors

## test: lint, type-check, run the test suite, and the capture reader again under cbor2 6 and 5.8.0
test: $(STAMP) lint
	$(BIN)/python -m pytest -q
	$(MAKE) $(addprefix test-cbor2-,$(CBOR2_OTHERS))
	$(MAKE) test-numpy1

# h5tocbors' own reader must work under every cbor2, also those dranspose 0.2.0 cannot use
# (see README "Dependencies"): each gets a venv .venv-cbor2-<version> and runs the reader's tests.
CBOR2_OTHERS := 6 5.8.0
cbor2-6     := cbor2>=6,<7
cbor2-5.8.0 := cbor2==5.8.0
READER_TESTS := tests/test_reader.py tests/test_inspect.py tests/test_verify.py \
	tests/test_capture.py tests/test_hostile_captures.py tests/test_terminal.py

.PRECIOUS: .venv-cbor2-%/.installed-stamp  # kept: make deletes what a pattern chain makes
.venv-cbor2-%/.installed-stamp: pyproject.toml
	$(PYTHON) -m venv .venv-cbor2-$*
	.venv-cbor2-$*/bin/pip install --quiet --upgrade pip
	.venv-cbor2-$*/bin/pip install --quiet -e '.[dev]'
	.venv-cbor2-$*/bin/pip install --quiet '$(cbor2-$*)' 2>&1 | grep -v "dependency conflicts\|requires cbor2" || true
	.venv-cbor2-$*/bin/python -c "import cbor2, importlib.metadata as m; print('cbor2', m.version('cbor2'))"
	touch $@

test-cbor2-%: .venv-cbor2-%/.installed-stamp
	.venv-cbor2-$*/bin/python -m pytest -q $(READER_TESTS)

# Workers run old images: the pickles the writers make (contrast, xspress meta) must load
# under numpy 1.x as well. A venv with numpy 1.x alone loads what the test suite wrote; it is
# older than 1.26, which already reads numpy 2's `numpy._core` names and so proves nothing.
NUMPY1 := .venv-numpy1
PICKLES := build/numpy1-pickles
$(NUMPY1)/.installed-stamp:
	$(PYTHON) -m venv $(NUMPY1)
	$(NUMPY1)/bin/pip install --quiet 'numpy<1.26'
	touch $@

test-numpy1: $(STAMP) $(NUMPY1)/.installed-stamp
	rm -rf $(PICKLES)
	H5TOCBORS_NUMPY1_PICKLES=$(PICKLES) $(BIN)/python -m pytest -q \
		tests/test_protocol_pickles.py -k test_writers_pickles_load_under_numpy1
	$(NUMPY1)/bin/python tests/numpy1_check.py $(PICKLES)

LINTED := h5tocbors tests examples sample_data $(wildcard bench)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy h5tocbors

## bench: speed and memory, side by side with a seed-style loop and cp
bench: $(STAMP)
	$(BIN)/python bench/bench.py

## sample: regenerate sample_data/pilatus_100k.h5
sample: $(STAMP)
	$(BIN)/python sample_data/make_sample.py

clean:
	rm -rf $(VENV) .venv-cbor2-* $(NUMPY1) out .pytest_cache .mypy_cache .ruff_cache *.egg-info
