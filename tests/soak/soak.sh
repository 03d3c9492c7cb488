#!/usr/bin/env bash
# `make soak` runs this (inside the emulated KVM host when this machine has no /dev/kvm):
# clones made and destroyed through `hyperfork serve` for SOAK_SECONDS with random kills,
# then the leak checks. What it does and the tolerances: tests/soak/soak.py.
cd "$(dirname "$0")/../.." || exit 1
[ -x /usr/bin/python3 ] || { echo "soak: FAIL: no /usr/bin/python3 (scripts/install-deps.sh)"; exit 1; }
command -v curl > /dev/null || { echo "soak: FAIL: no curl (scripts/install-deps.sh)"; exit 1; }
# What it prints is also kept for the benchmark report (bench/report.sh, section 12).
mkdir -p bench/results
/usr/bin/python3 tests/soak/soak.py 2>&1 | tee bench/results/soak.txt
exit "${PIPESTATUS[0]}"
