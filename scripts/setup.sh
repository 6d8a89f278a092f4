#!/usr/bin/env bash
# Set up GridAtlas on this machine: a virtual environment with the project installed.
#   scripts/setup.sh          the app (for the demo)
#   scripts/setup.sh --test   the app, the test tools, and the system packages the tests use
#                             (PostGIS for the server store, Debian's Chromium for the map tests)
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "GridAtlas needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi

extras=""
[[ $want_test == 1 ]] && extras="[test]"
stamp=".venv/.gridatlas-installed${extras:+-test}"
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  echo "==> installing gridatlas${extras} into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  echo "$digest" > "$stamp"
fi

if [[ $want_test == 1 && ! -f .venv-pandapower/.installed ]]; then
  # pandapower + simbench pin pandas<3, so the pandapower cross-check runs them in their own venv.
  echo "==> creating .venv-pandapower (pandapower, simbench)"
  "$PYTHON" -m venv .venv-pandapower
  .venv-pandapower/bin/python -m pip install --quiet 'pandapower>=3.1,<4' 'simbench>=1.5'
  touch .venv-pandapower/.installed
fi

if [[ $want_test == 1 ]]; then
  # System packages the test suite needs: Debian's Chromium (map tests, driven by
  # Playwright), node (the map modules' unit tests, `node --test map_ui/tests/`; the map
  # itself needs no node: no build step, no npm package) and PostGIS for the PostgreSQL
  # the machine runs (server-store tests).
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  if command -v pg_lsclusters >/dev/null 2>&1; then
    for ver in $(pg_lsclusters -h 2>/dev/null | awk '{print $1}' | sort -u); do
      [[ -f /usr/share/postgresql/$ver/extension/postgis.control ]] || missing+=("postgresql-$ver-postgis-3")
    done
  fi
  if (( ${#missing[@]} )); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing system packages: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "NOTE: missing system packages: ${missing[*]} (install them with apt-get as root);" >&2
      echo "      their tests are skipped locally and fail on CI." >&2
    fi
  fi
fi
