# ganhost: `make run` and `make test` do all set-up on a fresh machine (Go, Python 3.11, gcc, npm,
# apt): the Python venv, libtensorflow for cgo (from the tensorflow-cpu wheel), Go modules and the
# offline datasets.

PYTHON3 ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
TFENV   := scripts/tfenv.sh

# Go 1.27.3 (served by the Go module proxy, fetched once per machine): go1.26.8 has standard
# library vulnerabilities that our code reaches (make audit-go). go.mod still says 1.26, so the
# code builds with it, but everything this Makefile builds and tests uses 1.27.3.
export GOTOOLCHAIN := go1.27.3

# Keras picks its backend at import; set it here, never on import in our code.
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONPATH := $(CURDIR)/python
# Lets the Go tests check that Python's tf.saved_model.load reads what Go saved.
export GANHOST_PYTHON := $(CURDIR)/$(PY)

# The shipped default model (savedmodel/gan/1); see savedmodel/README.md.
DATASET     ?= mnist
MODEL_CONFIG ?= $(if $(filter fashion,$(DATASET)),default,cond-mlp)
# MNIST digits ship as savedmodel/gan, Fashion-MNIST as savedmodel/fashion.
MODEL_OUT   ?= savedmodel/$(if $(filter fashion,$(DATASET)),fashion,gan)/1
MODEL_STEPS ?= 15000
MODEL_BATCH ?= 64
MODEL_SEED  ?= 0

# Packages that must stay free of cgo/TensorFlow; they are also tested with CGO_ENABLED=0.
PURE_GO := ./go/gan/... ./go/dataset/...
# ... and these must at least build without cgo (their tests use real SavedModels, so cgo).
PURE_GO_BUILD := ./go/http/...

.PHONY: soak bench bench-smoke test-e2e screenshot fuzz-short all venv data build bundle run model fixture export-user eval quality lint-docker test test-python test-go test-bundle clean audit audit-go audit-python reliability

all: build

venv: $(VENV)/.installed

$(VENV)/.installed: python/requirements.lock
	$(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r python/requirements.lock
	touch $@

# Tools for tests only (hadolint, the notebook kernel), kept out of the image's venv.
$(VENV)/.dev-installed: python/requirements-dev.lock python/requirements-notebook.lock $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r python/requirements-dev.lock -r python/requirements-notebook.lock
	touch $@

# No Docker engine runs on our machines: lint the Dockerfile (its link to the Makefile is
# checked by python/tests/test_docker.py) and test the bundle the image ships.
lint-docker: $(VENV)/.dev-installed
	$(VENV)/bin/hadolint Dockerfile

# Known vulnerabilities. audit-go: govulncheck against a pinned copy of the Go vulnerability
# database (scripts/govulncheck.sh); it fails when our code calls a vulnerable function, except
# for the accepted IDs below. GO-2026-6872 and GO-2026-6875 are fixed only in echo v5: they
# concern Context.RealIP behind a proxy and the Proxy middleware, which ganhost does not use.
# audit-python: pip-audit over the locks; it needs PyPI's per-version JSON API or api.osv.dev,
# which our network does not serve, so it is not part of `make test` (docs/reliability.md).
GOVULNCHECK_IGNORE ?= GO-2026-6872 GO-2026-6875
audit: audit-go audit-python

audit-go: $(VENV)/.installed
	GOVULNCHECK_IGNORE="$(GOVULNCHECK_IGNORE)" scripts/govulncheck.sh

audit-python: $(VENV)/.dev-installed
	$(VENV)/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r python/requirements.lock \
		-r python/requirements-dev.lock -r python/requirements-notebook.lock -r bench/requirements.lock

test-bundle: bundle
	cd / && $(CURDIR)/$(BUNDLE)/bin/ganhost generate -model-base $(CURDIR)/$(BUNDLE)/savedmodel/gan -n 4 -out /tmp/ganhost-bundle-test.png

data: data/mnist/manifest.json data/fashion/manifest.json

data/mnist/manifest.json data/fashion/manifest.json &: scripts/fetch_datasets.sh python/ganhost/data.py | venv
	PYTHON=$(PY) scripts/fetch_datasets.sh data

build: bin/ganhost

bin/ganhost: $(VENV)/.installed go.mod go.sum $(shell find go -name '*.go' -not -name '*_test.go') $(wildcard go/http/web/*)
	$(TFENV) go build -o $@ ./go/cmd/ganhost

# A relocatable tree for deployment (the Docker image copies it): bin/ganhost with an $ORIGIN
# rpath, lib/ with the wheel's two TensorFlow libraries, the shipped SavedModels and the digits.
BUNDLE ?= build/bundle
bundle: $(VENV)/.installed data
	rm -rf $(BUNDLE) && mkdir -p $(BUNDLE)/lib $(BUNDLE)/savedmodel $(BUNDLE)/data
	TF_RPATH='$$ORIGIN/../lib' $(TFENV) go build -o $(BUNDLE)/bin/ganhost ./go/cmd/ganhost
	cp -l $$($(TFENV) --libdir)/libtensorflow_cc.so.2 $$($(TFENV) --libdir)/libtensorflow_framework.so.2 $(BUNDLE)/lib/ 2>/dev/null \
		|| cp $$($(TFENV) --libdir)/libtensorflow_cc.so.2 $$($(TFENV) --libdir)/libtensorflow_framework.so.2 $(BUNDLE)/lib/
	# Only the shipped versions: locally trained ones stay out of a deployment.
	for m in gan fashion; do [ ! -d savedmodel/$$m/1 ] || { mkdir -p $(BUNDLE)/savedmodel/$$m && cp -r savedmodel/$$m/1 $(BUNDLE)/savedmodel/$$m/; }; done
	cp -r data/mnist $(BUNDLE)/data/

# Serves the shipped model on http://127.0.0.1:8080 until Ctrl-C (unsaved training is saved then).
run: build data
	bin/ganhost serve -addr 127.0.0.1:8080 -model-base savedmodel/gan -data data/mnist

model: venv data
	$(PY) -m ganhost train --config $(MODEL_CONFIG) --dataset $(DATASET) --steps $(MODEL_STEPS) \
		--batch-size $(MODEL_BATCH) --seed $(MODEL_SEED) --reset-optimizer --out $(MODEL_OUT)

fixture: venv
	$(PY) -m ganhost fixture

# Your own networks: make export-user GEN=gen.keras DISC=disc.keras BASE=savedmodel/mymodel
export-user: venv
	$(PY) scripts/export_savedmodel.py --generator $(GEN) --discriminator $(DISC) --base $(BASE)

# Scores the shipped default (floor and ceiling rows included) into docs/eval.{md,json}, then
# checks that those rows read exactly as in docs/quality.md (make quality's full table).
eval: venv data
	$(PY) -m ganhost eval --model default=savedmodel/gan/1 --dataset mnist \
		--classifier savedmodel/mnist_classifier/1 --default default --out docs --stem eval \
		--check-against docs/quality.json

# The side-by-side table of docs/quality.md (trains missing rows; see scripts/quality.sh).
quality: venv data
	scripts/quality.sh $(ROWS)

test: test-python test-go fuzz-short audit-go lint-docker test-bundle test-e2e bench-smoke

# build: the Go round-trip tests (export -> ganhost generate/train) run instead of skipping.
test-python: venv data build $(VENV)/.dev-installed
	$(PY) -m pytest -q python/tests

test-go: venv data
	CGO_ENABLED=0 go vet $(PURE_GO)
	CGO_ENABLED=0 go build $(PURE_GO_BUILD)
	CGO_ENABLED=0 go test $(PURE_GO)
	$(TFENV) go vet ./...
	$(TFENV) go test -race ./...

# Every fuzz target for a short bounded time (longer: make fuzz-short FUZZ_TIME=10m); each
# target's output and its execution count go to build/reliability/ (fuzz/*.log, fuzz.json).
FUZZ_TIME ?= 5s
fuzz-short: $(VENV)/.installed
	FUZZ_TIME=$(FUZZ_TIME) scripts/fuzz.sh build/reliability

# Bounded soak of a real server process under the race detector (TestSoak in go/cmd/ganhost):
# generation, :predict, hostile requests, training and saves at once; it stops by itself after
# SOAK_TIME and writes its figures for docs/reliability.md. `make test` runs a 15 s version.
SOAK_TIME ?= 2m
SOAK_REPORT ?= $(CURDIR)/build/reliability/soak.json
soak: venv data
	GANHOST_SOAK=$(SOAK_TIME) GANHOST_SOAK_REPORT=$(SOAK_REPORT) \
		$(TFENV) go test -race -count=1 -timeout 3h -run '^TestSoak$$' -v ./go/cmd/ganhost

# docs/reliability.md from fresh runs of the fault tests, fuzzers, soak and audit (scripts/reliability.sh).
reliability: venv data $(VENV)/.dev-installed
	scripts/reliability.sh

# Full benchmark suite: rewrites docs/performance.md and bench/results/results.json
# (about 11 minutes; run it on an idle machine).
bench: venv data
	bench/run

# Every benchmark once with tiny counts: proves they all still run and print their figures.
bench-smoke: venv data
	bench/run --smoke

# Browser test of the page (GET /): a real server and headless Debian chromium driven by
# playwright-core; installs chromium (apt) and e2e/node_modules (npm ci) when missing. Its
# screenshot goes to build/ so tests leave the tree clean; `make screenshot` updates the docs.
test-e2e: build data
	mkdir -p build && E2E_SCREENSHOT=$(CURDIR)/build/e2e-screenshot.png e2e/run.sh

screenshot: build data
	E2E_SCREENSHOT=$(CURDIR)/docs/screenshot.png e2e/run.sh

clean:
	rm -rf bin build grid.png e2e/node_modules
