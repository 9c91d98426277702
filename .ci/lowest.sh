#!/usr/bin/env bash
# The lowest versions pyproject allows: install every direct dependency at its floor
# (uv's --resolution lowest-direct) into a venv of its own and run the fast tiers against them.
# A floor that is too low (an API the code calls is newer) fails here, not on a user's machine.
# Usage: .ci/lowest.sh [pytest arguments] (default: tests/workflows tests/adapters)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
venv=${LOWEST_VENV:-${TMPDIR:-/tmp}/firebell-lowest}
tools=${LOWEST_TOOLS:-${TMPDIR:-/tmp}/firebell-tools}

test -x "$tools/bin/uv" || { "$PY" -m venv "$tools" && "$tools/bin/pip" install -q uv; }
rm -rf "$venv"
"$tools/bin/uv" venv -q --python "$PY" "$venv"
# The floors apply to direct dependencies; what they need in turn is resolved as usual.
"$tools/bin/uv" pip install -q --python "$venv/bin/python" --resolution lowest-direct -e '.[dev]'
"$tools/bin/uv" pip freeze --python "$venv/bin/python" --exclude-editable > "$venv/installed.txt"
echo "lowest: installed $(wc -l < "$venv/installed.txt") distributions ($venv/installed.txt)"
if [ $# -eq 0 ]; then set -- tests/workflows tests/adapters; fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
