# Greenlight: the two commands are `make run` and `make test`.

# Demo approvers for a first run; a GREENLIGHT_APPROVERS or
# GREENLIGHT_APPROVERS_URL in your environment takes precedence.
DEMO_APPROVERS := Ana <ana@example.com>, Bruno <bruno@example.com>

.PHONY: run test api-fuzz chaos fuzz bench build release lint fmt clean

## Serve on SQLite (./greenlight.db) at http://127.0.0.1:8080; emails go to ./outbox/.
run:
	GREENLIGHT_APPROVERS="$${GREENLIGHT_APPROVERS:-$(DEMO_APPROVERS)}" cargo run --bin greenlight -- serve

## Unit and integration tests on SQLite and PostgreSQL (see scripts/test.sh).
test:
	bash scripts/test.sh

## Schemathesis (PyPI) against a live Greenlight on SQLite and PostgreSQL,
## generated from /openapi.json: no 5xx, only documented statuses, content
## types and shapes (see scripts/api-fuzz.sh). CI runs it after `make test`.
api-fuzz:
	bash scripts/api-fuzz.sh

## The fault suite at full size (kill -9, a 60 s mail outage, replicas, hostile
## corpus, on both backends); its figures go to target/chaos-report.txt.
## `make test` runs the same suite in its quick form.
chaos:
	rm -f target/chaos-report.txt
	CHAOS_FULL=1 CHAOS_REPORT=$(CURDIR)/target/chaos-report.txt cargo test --test chaos -- --test-threads 1
	@echo; cat target/chaos-report.txt

## A long campaign against the input parsers and token checks: the property
## tests with many cases, then the libFuzzer targets in fuzz/ for
## FUZZ_SECONDS each (needs a nightly toolchain and `cargo install cargo-fuzz`).
FUZZ_CASES ?= 20000
FUZZ_SECONDS ?= 120
FUZZ_TARGETS := release_body approvers_response approval_token
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --test properties
	@echo "proptest: $(FUZZ_CASES) cases per property, 8 properties, no failure"
	@if command -v cargo-fuzz >/dev/null && rustup toolchain list | grep -q nightly; then \
	  for t in $(FUZZ_TARGETS); do \
	    cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	  done; \
	else echo "cargo-fuzz or a nightly toolchain is missing: libFuzzer targets not run"; fi

## Greenlight against its database's own limit; rewrites BENCHMARKS.md (see bench/run.sh).
## `make bench BENCH_ARGS=--quick` is a smoke run of a few seconds per scenario.
bench:
	bash bench/run.sh $(BENCH_ARGS)

build:
	cargo build

release:
	cargo build --release

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt

clean:
	cargo clean
	rm -rf outbox greenlight.db greenlight.db-shm greenlight.db-wal
