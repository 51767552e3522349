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
# The benchmark script in its quick mode: only checks that it works (numbers: BENCHMARKS.md).
# It installs ansible-core, pyinfra and mitogen into a private virtualenv (PyPI, by package name).
export PROV_BENCH_CACHE=/var/cache/prov-bench
bench/run --quick --prov target/debug/prov --no-build
# That virtualenv's ansible-vault serves the live vault compatibility tests (both directions).
export ANSIBLE_VAULT_BIN="$PROV_BENCH_CACHE/venv/bin/ansible-vault"
cargo test --locked --workspace -- --test-threads=2
# The Ansible corpus (tests/corpus/README.md): each of the seven public roles in
# ../shared/ansible-corpus is converged by Ansible on lab1 and by prov on lab2 (fresh disks),
# then /etc, packages and running services are compared, and prov's second and --check runs
# checked. About 3-4 minutes. Only roles listed in tests/corpus/expected-identical fail the run;
# the others are reported (table on stdout, JSON in target/corpus-report.json).
"$PROV" lab up --hosts 4
tests/corpus/compare --prov "$PROV" --hosts lab1,lab2 --report target/corpus-report.json
# Bounded fuzzing of the parsers and the template front end: each target runs a fixed number of
# inputs from a fixed seed (about 15 s, the same inputs on every run of a commit) under
# libFuzzer + AddressSanitizer; a crash, panic, hang or OOM fails the run and leaves its input
# in fuzz/artifacts/. The first build of the targets takes a few minutes.
fuzz/run-short
