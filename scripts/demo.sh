#!/usr/bin/env bash
# The main job on one machine: set up, build prov, start 3 fresh lab hosts and run the Redis
# Cluster playbook on them, then run it again in check mode to show that nothing is left to
# change. Needs root on Linux. Leaves the lab running (`target/release/prov lab down` removes it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked --bin prov
PROV=target/release/prov
"$PROV" lab down            # fresh hosts: the job starts from bare Debian every time
"$PROV" lab up --hosts 3
"$PROV" run playbooks/redis-cluster.yml -i inventories/lab \
  --vault-password-file inventories/lab/vault-password "$@"
echo
echo "== the same job again, as a dry run: nothing should be left to change =="
"$PROV" run playbooks/redis-cluster.yml -i inventories/lab \
  --vault-password-file inventories/lab/vault-password --check
