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
cargo test --locked --workspace -- --test-threads=2
