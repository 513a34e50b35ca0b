#!/usr/bin/env bash
# Download, here, the wheels that the lent GPU machine lacks (its image has torch, onnxruntime,
# opencv-python-headless, typer, rich, pyyaml, pyarrow, matplotlib, scikit-image and scikit-learn, but
# not Ultralytics), into .whl/ (git-ignored), for benchmarks/device_check.sh to install there.
# Polars is left out on purpose: Ultralytics imports it only for plots and benchmarks, never to predict,
# and its 54 MB runtime would not fit the 64 MiB a device call may carry.
set -euo pipefail
cd "$(dirname "$0")/.."
ULTRALYTICS="$("${PYTHON:-$HOME/.cache/yolo-probs-venv/bin/python}" -c 'import ultralytics; print(ultralytics.__version__)')"
mkdir -p .whl
for spec in "ultralytics==$ULTRALYTICS" ultralytics-thop ultralytics-platform onnxslim; do
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$spec"
done
ls -1 .whl
