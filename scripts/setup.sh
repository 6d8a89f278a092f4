#!/usr/bin/env bash
# Set up GridAtlas on this machine: a virtual environment with the project installed.
#   scripts/setup.sh          the app (for the demo)
#   scripts/setup.sh --test   the app, the test tools, and the system packages the tests use
#                             (PostGIS for the server store, Debian's Chromium for the map tests)
# Both install the map's npm packages (map_ui/package-lock.json, `npm ci`): node and npm are needed;
# as root on Debian they are installed with apt-get, otherwise the script stops and says so.
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

# node and npm: the map's browser packages that have no XStatic package (Leaflet.heat) are
# installed with `npm ci` from the committed lock file (no build step: the files are served as
# they are). Needed by the demo and the tests alike, so missing ones are installed or fatal.
node_missing=()
command -v node >/dev/null 2>&1 || node_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || node_missing+=(npm)
if (( ${#node_missing[@]} )); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing system packages: ${node_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${node_missing[@]}" >/dev/null
  else
    echo "GridAtlas needs node and npm to install the map's browser packages (missing: ${node_missing[*]})." >&2
    echo "Install them (Debian: apt-get install nodejs npm) and run scripts/setup.sh again." >&2
    exit 1
  fi
fi
lock_digest=$(sha256sum map_ui/package-lock.json | cut -d' ' -f1)
npm_stamp="map_ui/node_modules/.gridatlas-installed"
if [[ ! -f "$npm_stamp" || "$(cat "$npm_stamp")" != "$lock_digest" ]]; then
  echo "==> installing the map's npm packages (npm ci in map_ui/)"
  (cd map_ui && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_digest" > "$npm_stamp"
fi

if [[ $want_test == 1 ]]; then
  # System packages the test suite needs: Debian's Chromium (map tests, driven by
  # Playwright) and PostGIS for the PostgreSQL the machine runs (server-store tests);
  # node runs the map modules' unit tests (`node --test map_ui/tests/`), installed above.
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
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
