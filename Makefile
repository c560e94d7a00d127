# signin-watch: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
EVENTS ?= events

.PHONY: help demo replay test test-rust lint bench bench-shared clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: ## Replay events/ through both rules with in-memory counters and print the findings
	$(CARGO) run --release --bin signin-watch -- replay --format text $(EVENTS)
	$(CARGO) run --release --bin signin-watch -- replay $(EVENTS)

replay: ## Replay PATHS="..." (files or directories) and print JSON findings
	$(CARGO) run --release --bin signin-watch -- replay $(PATHS)

test: lint test-rust ## Install what the tests need and run them all

test-rust: ## Unit, integration, corpus and CLI tests (debug profile)
	$(CARGO) test --all-targets

lint: ## Formatting and clippy, warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

bench: ## Criterion rule benchmark and the 1 GiB replay throughput/RSS benchmark
	$(CARGO) bench --bench rules
	$(CARGO) bench --bench replay

bench-shared: ## Replay benchmark on ../shared/perf's generator (1.08 GB), checked against its expected counts
	mkdir -p target/perf
	test -f target/perf/big.jsonl || python3 ../shared/perf/gen_cloudtrail.py --size-mb 1030 --jsonl target/perf/big.jsonl --s3 target/perf/s3-big
	BENCH_JSONL=target/perf/big.jsonl BENCH_S3=target/perf/s3-big $(CARGO) bench --bench replay

clean: ## Remove build output
	$(CARGO) clean
