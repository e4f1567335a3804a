# h5tocbors: `make demo` to see it work, `make test` to check it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEV    := $(VENV)/.dev-stamp
SARDANA := build/sardana
# pip without setuptools' editable-install banner (a warning about nothing h5tocbors does)
PIP    = PYTHONWARNINGS=ignore $(1)/bin/pip install --quiet

.PHONY: demo test test-numpy1 lint bench sample clean

# What a demo needs: h5tocbors and its runtime dependencies, dranspose among them.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(call PIP,$(VENV)) --upgrade pip
	$(call PIP,$(VENV)) -e .
	touch $(STAMP)

# What a test needs besides: pytest (and pytest-xdist: TEST_JOBS processes), mypy, ruff,
# and Sardana's NXscan recorder, which writes the Sardana test files (see SARDANA below).
$(DEV): $(STAMP) $(SARDANA)/.installed-stamp
	$(call PIP,$(VENV)) -e '.[dev]'
	touch $(DEV)

# Sardana 3.7.1 without its dependencies (taurus, PyTango: sample_data/sardana_recorder.py
# stubs the few names its recorder imports), on its own in build/sardana, outside the venv.
$(SARDANA)/.installed-stamp: | $(STAMP)
	rm -rf $(SARDANA)
	$(call PIP,$(VENV)) --no-deps --target $(SARDANA) 'sardana==3.7.1'
	touch $@

## demo: install, convert the samples and replay them through the real `dranspose replay`
demo: $(STAMP)
	$(BIN)/h5tocbors convert sample_data/pilatus_100k.h5 --stream pilatus -o out --force
	LOG_LEVEL=WARNING $(BIN)/dranspose replay -w examples.worker:ImageSumWorker \
		-r examples.reducer:SummaryReducer -f out/pilatus.cbors
	$(BIN)/h5tocbors convert sample_data/scan/000008.h5 --scan -o out/scan --force
	LOG_LEVEL=WARNING $(BIN)/dranspose replay -w examples.scan:FluorescenceWorker \
		-r examples.scan:FluorescenceReducer -f out/scan/*.cbors
	$(BIN)/h5tocbors convert sample_data/sardana/2024102408.h5 --scan -o out/sardana --force
	LOG_LEVEL=WARNING $(BIN)/dranspose replay -w examples.sardana:PointWorker \
		-r examples.sardana:PointReducer -f out/sardana/*.cbors

# Test processes: most tests wait on subprocesses (h5tocbors, dranspose replay), so two
# processes halve the suite's time on two cores (120 s -> 75 s measured here).
TEST_JOBS ?= 2

## test: lint, type-check, run the test suite, and the capture reader again under cbor2 6 and 5.8.0
test: $(DEV) lint
	$(BIN)/python -m pytest -q -n $(TEST_JOBS)
	$(MAKE) $(addprefix test-cbor2-,$(CBOR2_OTHERS))
	$(MAKE) test-numpy1

# h5tocbors' own reader must work under every cbor2, also those dranspose 0.2.0 cannot use
# (see README "Dependencies"): each is installed on its own into build/cbor2-<version> and put
# first on the path of the project's venv for the reader's tests (no venv to build each time).
CBOR2_OTHERS := 6 5.8.0
cbor2-6     := cbor2>=6,<7
cbor2-5.8.0 := cbor2==5.8.0
READER_TESTS := tests/test_reader.py tests/test_capture.py tests/test_inspect.py \
	tests/test_hostile_captures.py

.PRECIOUS: build/cbor2-%/.installed-stamp  # kept: make deletes what a pattern chain makes
build/cbor2-%/.installed-stamp: pyproject.toml
	rm -rf build/cbor2-$*
	$(call PIP,$(VENV)) --no-deps --target build/cbor2-$* '$(cbor2-$*)'
	touch $@

test-cbor2-%: $(DEV) build/cbor2-%/.installed-stamp
	PYTHONPATH=build/cbor2-$* $(BIN)/python -c "import cbor2, importlib.metadata as m; print('cbor2', m.version('cbor2'))"
	PYTHONPATH=build/cbor2-$* $(BIN)/python -m pytest -q -n $(TEST_JOBS) -p no:cacheprovider \
		$(READER_TESTS)

# Workers run old images: the pickles the writers make (contrast, xspress meta) must load
# under numpy 1.x as well. numpy 1.x alone, first on the path, loads what the test suite wrote;
# it is older than 1.26, which already reads numpy 2's `numpy._core` names and so proves nothing.
NUMPY1 := build/numpy1
PICKLES := build/numpy1-pickles
$(NUMPY1)/.installed-stamp:
	rm -rf $(NUMPY1)
	$(call PIP,$(VENV)) --no-deps --target $(NUMPY1) 'numpy<1.26'
	touch $@

test-numpy1: $(DEV) $(NUMPY1)/.installed-stamp
	rm -rf $(PICKLES)
	H5TOCBORS_NUMPY1_PICKLES=$(PICKLES) $(BIN)/python -m pytest -q \
		tests/test_protocol_pickles.py -k test_writers_pickles_load_under_numpy1
	PYTHONPATH=$(NUMPY1) $(BIN)/python tests/numpy1_check.py $(PICKLES)

LINTED := h5tocbors tests examples sample_data $(wildcard bench)

lint: $(DEV)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy h5tocbors

## bench: speed and memory, side by side with a seed-style loop and cp
bench: $(DEV)
	$(BIN)/python -m bench

## sample: regenerate sample_data/pilatus_100k.h5, the contrast scan in sample_data/scan/
## and the Sardana scan in sample_data/sardana/
sample: $(STAMP) $(SARDANA)/.installed-stamp
	$(BIN)/python sample_data/make_sample.py
	$(BIN)/python sample_data/make_scan.py
	$(BIN)/python sample_data/make_sardana.py

clean:
	rm -rf $(VENV) build out .pytest_cache .mypy_cache .ruff_cache *.egg-info
