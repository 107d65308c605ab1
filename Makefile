# Greenlight: the two commands are `make run` and `make test`.

# Demo approvers for a first run; a GREENLIGHT_APPROVERS or
# GREENLIGHT_APPROVERS_URL in your environment takes precedence.
DEMO_APPROVERS := Ana <ana@example.com>, Bruno <bruno@example.com>

.PHONY: run test chaos fuzz build release lint fmt clean

## Serve on SQLite (./greenlight.db) at http://127.0.0.1:8080; emails go to ./outbox/.
run:
	GREENLIGHT_APPROVERS="$${GREENLIGHT_APPROVERS:-$(DEMO_APPROVERS)}" cargo run --bin greenlight -- serve

## Unit and integration tests on SQLite and PostgreSQL (see scripts/test.sh).
test:
	bash scripts/test.sh

## The fault suite at full size (kill -9, a 60 s mail outage, replicas, hostile
## corpus, on both backends); its figures go to target/chaos-report.txt.
## `make test` runs the same suite in its quick form.
chaos:
	rm -f target/chaos-report.txt
	CHAOS_FULL=1 CHAOS_REPORT=$(CURDIR)/target/chaos-report.txt cargo test --test chaos -- --test-threads 1
	@echo; cat target/chaos-report.txt

## A long property-test campaign of the input parsers and token checks.
FUZZ_CASES ?= 100000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release --test properties
	@echo "fuzz: $(FUZZ_CASES) cases per property, 8 properties, no failure"

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
