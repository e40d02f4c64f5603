#!/usr/bin/env bash
# Create (or refresh) the project's Python venv at <repo>/.venv.
#
# Idempotent and non-interactive: pip runs only when tests/requirements.txt
# (or the interpreter) changed since the last successful install; the hash
# of both is kept in .venv/.requirements.sha256. A broken venv is rebuilt.
# Concurrent runs serialise on a lock of the requirements file.
#
# Environment: PYTHON  interpreter to build the venv from (default python3)
#              GTOKEN_VENV_FORCE=1  reinstall even if the stamp matches
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/tests/requirements.txt"
stamp="$venv/.requirements.sha256"
py="${PYTHON:-python3}"

if ! command -v "$py" >/dev/null 2>&1; then
  echo "setup-python: interpreter '$py' not found" >&2
  exit 1
fi
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "setup-python: need Python >= 3.10, got $("$py" --version 2>&1)" >&2
  exit 1
fi

# Serialise concurrent runs (e.g. parallel CI steps) on the requirements file.
if command -v flock >/dev/null 2>&1; then
  exec 9<"$req"
  flock 9
fi

want="$({ cat "$req"; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -e "$venv" ]]; then
  base_version="$("$py" -c 'import sys; print(sys.version)')"
  venv_version="$("$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null || true)"
  if [[ "$venv_version" != "$base_version" ]]; then
    echo "setup-python: $venv is broken or built from another interpreter, rebuilding" >&2
    rm -rf "$venv"
  fi
fi

if [[ "${GTOKEN_VENV_FORCE:-0}" != 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
  echo "setup-python: $venv is up to date"
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup-python: creating $venv"
  "$py" -m venv "$venv"
fi

echo "setup-python: installing $req"
rm -f "$stamp"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$venv/bin/python" -m pip install --quiet --requirement "$req"
"$venv/bin/python" -m pip check

printf '%s\n' "$want" >"$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"
echo "setup-python: done"
