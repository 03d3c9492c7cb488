#!/usr/bin/env bash
# `make soak` runs this (inside the emulated KVM host when this machine has no /dev/kvm):
# clones made and destroyed through `hyperfork serve` for SOAK_SECONDS with random kills,
# then the leak checks. What it does and the tolerances: tests/soak/soak.py.
cd "$(dirname "$0")/../.." || exit 1
[ -x /usr/bin/python3 ] || { echo "soak: FAIL: no /usr/bin/python3 (scripts/install-deps.sh)"; exit 1; }
command -v curl > /dev/null || { echo "soak: FAIL: no curl (scripts/install-deps.sh)"; exit 1; }
exec /usr/bin/python3 tests/soak/soak.py
