#!/usr/bin/env bash
# Set up yolo-probs on a fresh machine: a virtual environment outside the clone (reused on later
# runs, so repeated set-ups take seconds), the package with its test, dev, docs and serve extras (pytest, ruff,
# mypy, lint-imports and mkdocs land in $VENV/bin), and the optional system packages for the live-window and
# terminal tests (Xvfb, xdotool, tmux). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${YOLO_PROBS_VENV:-$HOME/.cache/yolo-probs-venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# torch and torchvision come from the registry as plain dependencies (never pin torch==2.13.0:
# no torchvision on the registry loads against that CPU-only build).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test,dev,docs,serve]"
if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null || ! command -v tmux >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xdotool tmux >/dev/null) \
      || echo "setup: xvfb/xdotool/tmux not installed; the live-window and terminal tests will be skipped" >&2
  else
    echo "setup: install xvfb, xdotool and tmux to run the live-window and terminal tests (skipped without them)" >&2
  fi
fi
echo "setup: ready ($VENV)" >&2
