#!/usr/bin/env bash
# The main job on one machine: set up, build prov, start 3 lab hosts and run the Redis Cluster
# playbook on them. Needs root on Linux. Leaves the lab running (`prov lab down` removes it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked --bin prov
PROV=target/release/prov
"$PROV" lab up --hosts 3
"$PROV" run playbooks/redis-cluster.yml -i inventories/lab \
  --vault-password-file inventories/lab/vault-password "$@"
