#!/usr/bin/env bash
# Installs what prov's build, its lab and its tests need on a Debian/Ubuntu machine (root).
# Idempotent: safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in debootstrap apt-utils iproute2 openssh-client openssh-server redis-server redis-tools \
           util-linux procps gcc g++ python3-venv nftables tmux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# The packaged redis-server service is not needed on the controller (tests start their own).
if command -v cargo >/dev/null 2>&1; then :; else
  echo "cargo is required (https://rustup.rs)" >&2; exit 1
fi
