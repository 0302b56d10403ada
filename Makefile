# sesame: `make run` builds and starts the server on its embedded defaults;
# `make test` runs every test (lint, unit, integration, SQLite and PostgreSQL).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: run build test lint unit setup setup-test pg clean

run: setup build
	./target/debug/sesame serve

build:
	cargo build

setup:
	@scripts/setup.sh build

setup-test:
	@scripts/setup.sh test

lint:
	cargo fmt --all --check
	cargo clippy --all-targets -- -D warnings

test: setup-test lint
	SESAME_TEST_PG_URL="$$(scripts/pg.sh)" cargo test --all-targets

clean:
	cargo clean
	rm -rf data
