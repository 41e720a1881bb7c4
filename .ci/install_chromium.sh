#!/usr/bin/env bash
# Debian's Chromium, for the check that `dvc plots` pages draw their charts offline
# (tests/test_dvc.py); without it that test is skipped and says why.
set -euo pipefail
if command -v chromium >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
