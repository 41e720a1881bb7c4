#!/usr/bin/env bash
# Debian's qemu-user: tests/test_numerics.py runs the fingerprint jobs on an emulated CPU
# (`qemu-x86_64 -cpu max`) to check that runs are the same bytes on another CPU type.
set -euo pipefail
if command -v qemu-x86_64 >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
