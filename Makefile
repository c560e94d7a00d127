# signin-watch: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
EVENTS ?= events
VENV ?= .venv
PY := $(VENV)/bin/python
# Outside the crate: `cargo lambda watch` restarts on any file change inside it.
LOCAL ?= $(or $(TMPDIR),/tmp)/signin-watch-local
MOTO_PORT ?= 5123
INVOKE_PORT ?= 9000
EVENT ?= events/rule1-failed-mfa-iam-user.json
# cargo-lambda finds the venv's zig only when the venv comes first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help demo replay venv test test-rust lint bench bench-lambda bench-shared build local invoke local-stop clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: ## Replay events/ through both rules with in-memory counters and print the findings
	$(CARGO) run --release --bin signin-watch -- replay --format text $(EVENTS)
	$(CARGO) run --release --bin signin-watch -- replay $(EVENTS)

replay: ## Replay PATHS="..." (files or directories) and print JSON findings
	$(CARGO) run --release --bin signin-watch -- replay $(PATHS)

venv: $(VENV)/.installed ## moto[server] and cargo-lambda (with zig) from PyPI, into .venv

$(VENV)/.installed: requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

test: venv lint test-rust ## Install what the tests need and run them all

test-rust: ## Unit, integration (moto), corpus and CLI tests, debug profile
	$(CARGO) test --all-features --all-targets

lint: ## Formatting and clippy, warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --all-features --all-targets -- -D warnings

build: venv ## Release arm64 function with cargo-lambda: target/lambda/signin-watch-lambda/bootstrap.zip
	rustup target add aarch64-unknown-linux-gnu 2>/dev/null || true
	$(CARGO) lambda build --release --arm64 --features lambda --bin signin-watch-lambda --output-format zip

local: venv ## moto on 127.0.0.1:$(MOTO_PORT) with table, topic and a subscribed queue; then `cargo lambda watch`
	mkdir -p $(LOCAL)
	$(PY) tools/moto_serial.py 127.0.0.1 $(MOTO_PORT) > $(LOCAL)/moto.log 2>&1 & echo $$! > $(LOCAL)/moto.pid
	for i in $$(seq 50); do $(PY) -c "import socket; socket.create_connection(('127.0.0.1', $(MOTO_PORT)))" 2>/dev/null && break; sleep 0.2; done
	$(PY) tools/local.py setup http://127.0.0.1:$(MOTO_PORT) $(LOCAL)/function.env
	@echo "now: make invoke EVENT=events/<file>.json (in another terminal); Ctrl-C stops both"
	trap '$(MAKE) --no-print-directory local-stop' EXIT; \
	  $(CARGO) lambda watch --features lambda --invoke-address 127.0.0.1 --invoke-port $(INVOKE_PORT) \
	    --env-file $(LOCAL)/function.env

invoke: venv ## Invoke the local function with EVENT=events/<file>.json; print its summary and what the queue received
	$(CARGO) lambda invoke --invoke-address 127.0.0.1 --invoke-port $(INVOKE_PORT) --data-file $(EVENT) signin-watch-lambda
	@echo
	$(PY) tools/local.py inbox http://127.0.0.1:$(MOTO_PORT) $(LOCAL)/function.env

local-stop: ## Stop the local moto server
	-test -f $(LOCAL)/moto.pid && kill $$(cat $(LOCAL)/moto.pid) 2>/dev/null; rm -f $(LOCAL)/moto.pid

bench: ## Criterion rule benchmark and the 1 GiB replay throughput/RSS benchmark
	$(CARGO) bench --bench rules
	$(CARGO) bench --bench replay

bench-lambda: ## Cold start (init, first invoke, peak RSS) of the release function, and its arm64 zip size
	$(CARGO) bench --features lambda --bench cold_start
	$(MAKE) --no-print-directory build
	@ls -l target/lambda/signin-watch-lambda/bootstrap.zip

bench-shared: ## Replay benchmark on ../shared/perf's generator (1.08 GB), checked against its expected counts
	mkdir -p target/perf
	test -f target/perf/big.jsonl || python3 ../shared/perf/gen_cloudtrail.py --size-mb 1030 --jsonl target/perf/big.jsonl --s3 target/perf/s3-big
	BENCH_JSONL=target/perf/big.jsonl BENCH_S3=target/perf/s3-big $(CARGO) bench --bench replay

clean: ## Remove build output
	$(CARGO) clean
