#!/usr/bin/env bash
# Install GridAtlas, load the sample city into the embedded store, and serve the map and API.
# Options go to `gridatlas demo` (e.g. --port 8080, --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/gridatlas demo "$@"
