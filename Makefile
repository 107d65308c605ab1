# Greenlight: the two commands are `make run` and `make test`.

# Demo approvers for a first run; a GREENLIGHT_APPROVERS or
# GREENLIGHT_APPROVERS_URL in your environment takes precedence.
DEMO_APPROVERS := Ana <ana@example.com>, Bruno <bruno@example.com>

.PHONY: run test build release lint fmt clean

## Serve on SQLite (./greenlight.db) at http://127.0.0.1:8080; emails go to ./outbox/.
run:
	GREENLIGHT_APPROVERS="$${GREENLIGHT_APPROVERS:-$(DEMO_APPROVERS)}" cargo run --bin greenlight -- serve

## Unit and integration tests on SQLite and PostgreSQL (see scripts/test.sh).
test:
	bash scripts/test.sh

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
