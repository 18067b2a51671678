#!/usr/bin/env bash
# Set everything up (as run.sh does, plus test tools), then run the whole suite.
# Extra arguments go to pytest, e.g. ./test.sh tests/test_foundation.py -x
set -euo pipefail
cd "$(dirname "$0")"
./scripts/bootstrap.sh --dev
exec .venv/bin/python -m pytest "$@"
