#!/usr/bin/env bash
# End to end with the official LangSmith SDKs, unmodified: builds the proxy, installs the pinned
# SDKs (tests/e2e/versions.env) into a cache directory, and runs tests/e2e/runner.py.
#   bash tests/e2e/run.sh                          # everything
#   E2E_SKIP_FAILURE_PATH=1 bash tests/e2e/run.sh  # without the 401/403 diagnosis checks
#   E2E_CACHE_DIR=/some/dir                        # where the venv and node_modules live (target/e2e)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/e2e
mkdir -p "${E2E_CACHE_DIR:-target/e2e}"
cache="$(cd "${E2E_CACHE_DIR:-target/e2e}" && pwd)"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the checkout

set -a
# shellcheck source=versions.env
source "$here/versions.env"
set +a

need() { command -v "$1" >/dev/null 2>&1 || { echo "e2e: '$1' is required ($2)" >&2; exit 2; }; }
need python3 "Python 3.10 or newer, with the venv module"
need node "Node.js 18 or newer"
need npm "npm, to install the JS SDK"

# Reinstall when the pins or the interpreters change.
stamp="$(cat "$here/versions.env"; python3 --version; node --version)"
if [[ ! -f "$cache/stamp" || "$(cat "$cache/stamp")" != "$stamp" ]]; then
  echo "== e2e: installing the pinned SDKs into $cache"
  rm -rf "$cache/venv" "$cache/js" "$cache/stamp"
  mkdir -p "$cache/js"
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --disable-pip-version-check \
    "langsmith==$LANGSMITH_PY_VERSION" "zstandard==$ZSTANDARD_VERSION"
  echo '{"name": "langsmith-proxy-e2e", "private": true}' >"$cache/js/package.json"
  npm install --prefix "$cache/js" --no-audit --no-fund --loglevel=error \
    "langsmith@$LANGSMITH_JS_VERSION"
  echo "$stamp" >"$cache/stamp"
fi

py_versions="$("$cache/venv/bin/python" -c \
  'from importlib.metadata import version as v; print(v("langsmith"), v("zstandard"))')"
js_version="$(node -p "require('$cache/js/node_modules/langsmith/package.json').version")"
echo "== e2e: Python langsmith ${py_versions% *} (zstandard ${py_versions#* }), JS langsmith $js_version," \
  "$("$cache/venv/bin/python" --version), node $(node --version)"
if [[ "$py_versions" != "$LANGSMITH_PY_VERSION $ZSTANDARD_VERSION" || "$js_version" != "$LANGSMITH_JS_VERSION" ]]; then
  echo "e2e: installed versions differ from $here/versions.env; remove $cache and run again" >&2
  exit 2
fi

echo "== e2e: cargo build --release --locked"
cargo build --release --locked

"$cache/venv/bin/python" -u "$here/runner.py" target/release/langsmith-proxy "$cache/js/node_modules"
