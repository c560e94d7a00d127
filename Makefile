# signin-watch: the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
# The samples and the correlation scenarios (events/sqs repeats the scenarios as SQS batches).
EVENTS ?= $(wildcard events/*.json) events/scenarios
VENV ?= .venv
PY := $(VENV)/bin/python
# SAM CLI has its own venv: its boto3 pin conflicts with moto's.
SAM_VENV ?= .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
STACK ?= signin-watch
# Outside the crate: `cargo lambda watch` restarts on any file change inside it.
LOCAL ?= $(or $(TMPDIR),/tmp)/signin-watch-local
MOTO_PORT ?= 5123
INVOKE_PORT ?= 9000
EVENT ?= events/rule1-failed-mfa-iam-user.json
# The backtest report `make demo` writes.
REPORT ?= target/report/demo.html
# Debian's Chromium, for the report's browser test.
CHROMIUM ?= /usr/bin/chromium
# cargo-lambda finds the venv's zig only when the venv comes first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: browser report-screenshot geo-data scenarios scenarios-check help demo replay venv venv-sam validate test-sam-build deploy deploy-cargo-lambda deploy-forwarder logs test test-rust rules-test check deny fuzz lint bench bench-lambda bench-trail bench-load bench-shared build local invoke local-stop clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: ## Replay the samples and scenarios of events/ through the pack with in-memory counters; print the findings; write the backtest report
	$(CARGO) run --release --no-default-features --bin signin-watch -- replay --format text $(EVENTS)
	mkdir -p $(dir $(REPORT))
	$(CARGO) run --release --no-default-features --bin signin-watch -- replay --report $(REPORT) $(EVENTS)
	@echo "The backtest report of the samples and scenarios: $(CURDIR)/$(REPORT)"

replay: ## Replay PATHS="..." (files or directories) and print JSON findings
	$(CARGO) run --release --no-default-features --bin signin-watch -- replay $(PATHS)

venv: $(VENV)/.installed ## moto[server] and cargo-lambda (with zig) from PyPI, into .venv

$(VENV)/.installed: requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv-sam: $(SAM_VENV)/.installed ## AWS SAM CLI from PyPI, into .venv-sam

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

test: venv venv-sam browser lint templates-checked deny sam-build-checked test-rust rules-test scenarios-check ## Install what the tests need and run them all

# cargo-deny, pinned, into the project's own tools directory.
DENY_VERSION := 0.20.2
DENY := .tools/bin/cargo-deny

$(DENY):
	$(CARGO) install cargo-deny --locked --version $(DENY_VERSION) --root .tools

# Coverage-guided fuzzing: cargo-fuzz (pinned, into .tools) on a nightly
# toolchain, installed with rustup when missing.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := splitter decode record_view rule_file sns_message config
# Seeds: the project's own samples and rules, and the shared corpus when it is
# beside the clone. The committed corpora are grown with FUZZ_SEEDS="events
# rules" only, so that no fragment of the shared corpus lands in the repository
# (tests/pure/fuzz_corpora.rs replays the shared corpus in place).
FUZZ_SEEDS ?= events rules $(wildcard ../shared/corpus)
FUZZ_MAX_LEN ?= 16384
# The corpora are committed, so small: inputs larger than this many bytes are
# dropped before minimizing (the seeds stay replayed whole by make test).
FUZZ_KEEP_LEN ?= 2048
CARGO_FUZZ := .tools/bin/cargo-fuzz

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --locked --version 0.13.2 --root .tools

fuzz: $(CARGO_FUZZ) ## Every fuzz target for FUZZ_SECONDS each, seeded from FUZZ_SEEDS (events/, rules/, ../shared/corpus); minimizes the corpora into fuzz/corpus
	rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
	set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t fuzz/reports; \
	  PATH="$(CURDIR)/.tools/bin:$$PATH" cargo +nightly fuzz run --fuzz-dir fuzz $$t fuzz/corpus/$$t $(FUZZ_SEEDS) \
	    -- -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -print_final_stats=1 2>&1 | tee fuzz/reports/$$t.log | tail -n 12; \
	  find fuzz/corpus/$$t -type f -size +$(FUZZ_KEEP_LEN)c -delete; \
	  PATH="$(CURDIR)/.tools/bin:$$PATH" cargo +nightly fuzz cmin --fuzz-dir fuzz $$t fuzz/corpus/$$t >/dev/null 2>&1; \
	done

# cargo-deny reads `cargo metadata` for every platform, so it needs crates no
# build on this machine downloads (android_system_properties, valuable, ...):
# `cargo fetch` brings every crate of Cargo.lock, for every target, first.
deny: $(DENY) ## Licences, bans and sources of every dependency (deny.toml), offline after `cargo fetch`
	$(CARGO) fetch --locked
	$(DENY) --offline check licenses bans sources

# The emulator and browser tests skip (loudly) without the venv or
# Chromium; here they must run.
test-rust: export SIGNIN_WATCH_REQUIRE_EMULATOR := 1
test-rust: export SIGNIN_WATCH_REQUIRE_BROWSER := 1
test-rust: export CHROMIUM := $(CHROMIUM)
test-rust: ## Unit, integration (moto), corpus and CLI tests, debug profile
	$(CARGO) test --all-features --benches    # each benchmark once, small, as a smoke test
	$(CARGO) test --all-features --lib --bins --tests
	$(CARGO) test --all-features --doc    # the quick start in src/lib.rs

browser: ## Debian's Chromium (package chromium), installed with apt-get when missing, for the report's browser test
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }
	@$(CHROMIUM) --version

report-screenshot: browser ## Redraw docs/report.png: the demo's backtest report in Chromium
	mkdir -p $(dir $(REPORT))
	$(CARGO) run --release --no-default-features --bin signin-watch -- replay --no-progress --report $(REPORT) $(EVENTS) > /dev/null
	CHROMIUM=$(CHROMIUM) python3 tools/browser_check.py $(REPORT) --screenshot docs/report.png --height 2700 > /dev/null

rules-test: ## Every inline test of the pack and of the example filters
	$(CARGO) run --quiet --all-features --bin signin-watch -- rules test
	$(CARGO) run --quiet --all-features --bin signin-watch -- rules test --rules rules/filters

# The embedded geo data: ip-location-db's packages from the npm registry
# (docs/decisions/0010-geo-data.md). Commit data/geo/ afterwards.
GEO_WORK := target/geo-data
geo-data: ## Refresh data/geo/ from ip-location-db's latest packages on the npm registry, and the country points from 360info
	rm -rf $(GEO_WORK) && mkdir -p $(GEO_WORK)/country $(GEO_WORK)/asn
	cd $(GEO_WORK) && npm pack --silent @ip-location-db/geo-whois-asn-country @ip-location-db/asn
	tar xzf $(GEO_WORK)/ip-location-db-geo-whois-asn-country-*.tgz -C $(GEO_WORK)/country
	tar xzf $(GEO_WORK)/ip-location-db-asn-*.tgz -C $(GEO_WORK)/asn
	python3 tools/geo_data.py --country $(GEO_WORK)/country/package --asn $(GEO_WORK)/asn/package --out data/geo
	curl -fsSL -o data/geo/country-points.csv https://raw.githubusercontent.com/360-info/country-centroids/main/data/centroids-oflargestpoly.csv
	cat data/geo/SOURCE

scenarios: ## Write events/scenarios/*.jsonl and events/sqs/*.json from tools/scenarios.py
	python3 tools/scenarios.py

scenarios-check: ## Fail when events/scenarios or events/sqs differ from what tools/scenarios.py writes
	python3 tools/scenarios.py --check

check: ## The fast loop, with cargo alone: formatting, clippy, and the tests (emulator tests skip without the venv)
	$(CARGO) fmt --check
	$(CARGO) clippy --all-features --all-targets -- -D warnings
	$(CARGO) test --all-features --lib --bins --tests

lint: ## Formatting and clippy, warnings as errors; src/ reads bottom-up with no circle; the replay CLI without the SDK (what make demo builds) compiles
	$(CARGO) fmt --check
	python3 tools/layers.py
	$(CARGO) clippy --all-features --all-targets -- -D warnings
	$(CARGO) check --no-default-features --bins

build: venv ## Release arm64 function with cargo-lambda: target/lambda/signin-watch-lambda/bootstrap.zip
	rustup target add aarch64-unknown-linux-gnu 2>/dev/null || true
	$(CARGO) lambda build --release --arm64 --features lambda --bin signin-watch-lambda --output-format zip

validate: venv venv-sam ## cfn-lint and `sam validate --lint` on template.yaml and deploy/*.yaml
	$(VENV)/bin/cfn-lint template.yaml deploy/forwarder.yaml deploy/finding-routes.yaml
	$(SAM) validate --lint --template-file template.yaml
	$(SAM) validate --lint --template-file deploy/forwarder.yaml
	$(SAM) validate --lint --template-file deploy/finding-routes.yaml

test-sam-build: venv venv-sam ## `sam build` offline must produce the bootstrap
	tools/check_sam_build.sh

# `make test` lints the templates and runs `sam build` again only when what
# they read changed since the last time they passed (the binary embeds
# rules/, events/ and data/): a change to a test alone skips both.
TEMPLATES := template.yaml deploy/forwarder.yaml deploy/finding-routes.yaml
CHECKED := target/checked
SAM_BUILD_INPUTS := $(TEMPLATES) samconfig.toml Cargo.toml Cargo.lock tools/check_sam_build.sh $(shell find src rules events data -type f 2>/dev/null)

.PHONY: templates-checked sam-build-checked
templates-checked: $(CHECKED)/templates
sam-build-checked: $(CHECKED)/sam-build

$(CHECKED)/templates: $(TEMPLATES) samconfig.toml $(VENV)/.installed $(SAM_VENV)/.installed
	$(MAKE) validate
	mkdir -p $(CHECKED) && touch $@

$(CHECKED)/sam-build: $(SAM_BUILD_INPUTS) $(VENV)/.installed $(SAM_VENV)/.installed
	tools/check_sam_build.sh
	mkdir -p $(CHECKED) && touch $@

deploy: venv venv-sam ## sam build, then sam deploy (--guided the first time, which saves samconfig.toml)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(SAM) build --beta-features
	if grep -q '^region' samconfig.toml; then $(SAM) deploy; else $(SAM) deploy --guided; fi

deploy-cargo-lambda: build ## cargo lambda deploy into the stack's function, same settings: STACK=signin-watch (needs the AWS CLI)
	out() { aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	fn=$$(out FunctionArn) && table=$$(out CounterTableName) && topic=$$(out FindingsTopicArn) && \
	$(CARGO) lambda deploy --binary-name signin-watch-lambda --runtime provided.al2023 --memory 128 --timeout 60 \
	  --merge-env --env-var SIGNIN_WATCH_TABLE=$$table --env-var SIGNIN_WATCH_TOPIC_ARN=$$topic "$$fn"

deploy-forwarder: venv-sam ## The forwarder in REGION=... sending to BUS_ARN=... (the stack's SigninEventBusArn output)
	test -n "$(BUS_ARN)" || { echo "BUS_ARN=arn:aws:events:...:event-bus/$(STACK)-signin is required"; exit 2; }
	$(SAM) deploy --template-file deploy/forwarder.yaml --stack-name $(STACK)-forwarder --region $(REGION) \
	  --capabilities CAPABILITY_IAM --parameter-overrides TargetEventBusArn=$(BUS_ARN) --no-fail-on-empty-changeset

logs: venv-sam ## Tail the deployed function's logs
	$(SAM) logs --stack-name $(STACK) --name SigninWatchFunction --tail

local: venv ## moto on 127.0.0.1:$(MOTO_PORT) with table, topic and a subscribed queue; then `cargo lambda watch`
	mkdir -p $(LOCAL)
	$(PY) tools/moto_serial.py 127.0.0.1 $(MOTO_PORT) > $(LOCAL)/moto.log 2>&1 & echo $$! > $(LOCAL)/moto.pid
	for i in $$(seq 50); do $(PY) -c "import socket; socket.create_connection(('127.0.0.1', $(MOTO_PORT)))" 2>/dev/null && break; sleep 0.2; done
	$(PY) tools/local.py setup http://127.0.0.1:$(MOTO_PORT) $(LOCAL)/function.env
	@echo "now: make invoke EVENT=events/<file>.json (in another terminal); Ctrl-C stops both"
	trap '$(MAKE) --no-print-directory local-stop' EXIT; \
	  $(CARGO) lambda watch --features lambda --invoke-address 127.0.0.1 --invoke-port $(INVOKE_PORT) \
	    --env-file $(LOCAL)/function.env

invoke: venv ## Invoke the local function with EVENT=events/<file>.json (or an SQS batch, events/sqs/<scenario>.json); print its summary and what the queue received
	$(CARGO) lambda invoke --invoke-address 127.0.0.1 --invoke-port $(INVOKE_PORT) --data-file $(EVENT) signin-watch-lambda
	@echo
	$(PY) tools/local.py inbox http://127.0.0.1:$(MOTO_PORT) $(LOCAL)/function.env

local-stop: ## Stop the local moto server
	-test -f $(LOCAL)/moto.pid && kill $$(cat $(LOCAL)/moto.pid) 2>/dev/null; rm -f $(LOCAL)/moto.pid

# The replay CLI does not need the AWS SDK: the benchmarks build without it.
bench: ## Criterion rule benchmark and the 1 GiB replay throughput/RSS benchmark
	$(CARGO) bench --no-default-features --bench rules
	$(CARGO) bench --no-default-features --bench replay

bench-lambda: ## Cold start (init, first invoke, peak RSS) of the release function, and its arm64 zip size
	$(CARGO) bench --features lambda --bench cold_start
	$(MAKE) --no-print-directory build
	@ls -l target/lambda/signin-watch-lambda/bootstrap.zip

bench-trail: venv ## The trail bucket's path on moto: a 100 MiB object's peak RSS in the function, replay s3:// beside local replay, backfill's time and requests
	$(CARGO) bench --features lambda --bench trail

bench-load: venv ## 10,000 sign-in events (10% twice, shuffled) through 50 concurrent invocations on moto: the same answer as replay, throughput and latency
	$(CARGO) bench --features lambda --bench load

bench-shared: ## Replay benchmark on ../shared/perf's generator (1.08 GB), checked against its expected counts
	mkdir -p target/perf
	test -f target/perf/big.jsonl || python3 ../shared/perf/gen_cloudtrail.py --size-mb 1030 --jsonl target/perf/big.jsonl --s3 target/perf/s3-big
	BENCH_JSONL=target/perf/big.jsonl BENCH_S3=target/perf/s3-big $(CARGO) bench --no-default-features --bench replay

clean: ## Remove build output
	$(CARGO) clean
