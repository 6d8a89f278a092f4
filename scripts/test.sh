#!/usr/bin/env bash
# Run the whole GridAtlas test suite (sets everything up first). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# In parallel (pytest-xdist; every worker makes its own databases): GRIDATLAS_TEST_WORKERS=0 runs serially.
exec .venv/bin/python -m pytest -n "${GRIDATLAS_TEST_WORKERS:-auto}" --dist loadfile "$@"
