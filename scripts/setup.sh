#!/usr/bin/env bash
# Create/refresh the project virtualenv at .venv and install the embedding model.
#
# Idempotent and fast on re-run:
#   * .venv is created with python3.11 only when missing;
#   * torch==2.13.0 is installed FIRST and pinned (the machine has a local CPU
#     wheel; an unpinned torch would pull a multi-GB CUDA build);
#   * `pip install -e '.[dev]'` is skipped when .venv/.piu-setup-stamp holds the
#     current hash of pyproject.toml (+ python version);
#   * `piu model install` is always called (it is idempotent itself).
#
# Env: PYTHON (default python3.11), PIU_SETUP_FORCE=1 to ignore the stamp,
#      PIU_SKIP_MODEL=1 to skip the model step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -z "${PYTHON:-}" ]]; then
    if command -v python3.11 >/dev/null; then
        PYTHON=python3.11
    else
        PYTHON=python3 # must be 3.11/3.12 (pyproject: requires-python)
    fi
fi
VENV=.venv
STAMP="$VENV/.piu-setup-stamp"
TORCH_PIN="torch==2.13.0"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

t0=$SECONDS

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup: creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

want="$( { sha256sum pyproject.toml; "$VENV/bin/python" -V; echo "$TORCH_PIN"; } | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

if [[ "${PIU_SETUP_FORCE:-0}" != 1 && "$want" == "$have" ]]; then
    echo "setup: dependencies up to date (stamp matches), skipping pip"
else
    rm -f "$STAMP"
    echo "setup: installing $TORCH_PIN (CPU wheel) first"
    "$VENV/bin/python" -m pip install -q "$TORCH_PIN"
    echo "setup: installing project (editable, [dev])"
    # The pin is repeated so that no resolver step can swap torch for a CUDA build.
    "$VENV/bin/python" -m pip install -q -e '.[dev]' "$TORCH_PIN"
    echo "$want" >"$STAMP"
fi

if [[ "${PIU_SKIP_MODEL:-0}" != 1 ]]; then
    echo "setup: piu model install"
    "$VENV/bin/piu" model install
fi

echo "setup: done in $((SECONDS - t0))s"
