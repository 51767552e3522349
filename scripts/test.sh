#!/usr/bin/env bash
# One command that sets up and runs every test: installs packages, builds prov, brings the lab
# up (real test hosts in network namespaces), runs the whole test suite, and takes the lab down.
# Needs root on Linux.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --locked --bin prov
PROV=target/debug/prov
# Tests that cross the network use lab hosts; the suite expects them up.
"$PROV" lab up --hosts 4
trap '"$PROV" lab down || true' EXIT
export PROV_REQUIRE_LAB=1
# ansible-vault, for the live vault compatibility tests (prov <-> ansible-vault both ways).
VENV=/var/cache/prov-test/ansible-venv
if [ ! -x "$VENV/bin/ansible-vault" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q ansible-core
fi
export ANSIBLE_VAULT_BIN="$VENV/bin/ansible-vault"
# The benchmark script in its quick mode: only checks that it works (numbers: BENCHMARKS.md).
bench/run --quick --prov target/debug/prov --no-build
cargo test --locked --workspace -- --test-threads=2
