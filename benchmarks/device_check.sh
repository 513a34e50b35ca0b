#!/usr/bin/env bash
# Every figure of issue 23 in one run on a lent GPU machine (one H100 or H200, 16 cores), in a few
# minutes: GPU throughput against Ultralytics at batch 1/8/32/128 in float32 (and float16 at 32) with
# top-1 agreement and max |dp| against the CPU torch path, the CUDA tests, then the CPU engines' scaling
# from 2 to 16 cores with the GPU hidden. Output goes to $OUT (the device tool brings back at most 8 files; this writes five) or runs/device.
#
# Here, once:   bash scripts/device_wheels.sh          (Ultralytics and friends, into .whl/, ~2 MB)
# There:        run(command="bash benchmarks/device_check.sh", carry=[".whl"], timeout_s=540)
# A CPU-only smoke check of the same script, here: QUICK=1 bash benchmarks/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/device}"
mkdir -p "$OUT"
PY="${PY:-python3}"
export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 YOLO_VERBOSE=False PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ] && ! "$PY" -c 'import ultralytics' 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
if [ "${QUICK:-0}" = 1 ]; then  # the same steps, tiny, on the CPU
  N=32; ROUNDS=1; DEVICE=cpu; BATCHES="1 8"; CORES="1 2"; SCALE_N=32
else
  N=2048; ROUNDS=3; DEVICE=0; BATCHES="1 8 32 128"; CORES="2 4 8 16"; SCALE_N=400
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c 'import torch, ultralytics; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "ultralytics", ultralytics.__version__)'
  nproc
} 2>&1 | tee "$OUT/env.txt"
# yolo26n-cls at imgsz 224, as in the CPU figures: built from its YAML (no download) and saved once.
MODEL="$(mktemp -d)/yolo26n-cls.pt"
"$PY" -c "from ultralytics import YOLO; YOLO('yolo26n-cls.yaml', verbose=False).save('$MODEL')" || exit 1
timeout 240 "$PY" benchmarks/bench_device.py --model "$MODEL" --imgsz 224 --device "$DEVICE" --n "$N" --rounds "$ROUNDS" \
  --batch $BATCHES --cpu-reference 2>&1 | tee "$OUT/gpu_f32.txt"
if [ "$DEVICE" != cpu ]; then
  timeout 90 "$PY" benchmarks/bench_device.py --model "$MODEL" --imgsz 224 --device "$DEVICE" --n "$N" --rounds "$ROUNDS" \
    --batch 32 --half --cpu-reference 2>&1 | tee "$OUT/gpu_f16.txt"
fi
timeout 60 "$PY" -m pytest -q -p no:cacheprovider tests/backends/test_device_preprocess.py 2>&1 | tail -5 | tee "$OUT/cuda_tests.txt"
CUDA_VISIBLE_DEVICES= timeout 240 "$PY" benchmarks/bench_scaling.py --model "$MODEL" --imgsz 224 --cores $CORES --n "$SCALE_N" \
  --rounds "$ROUNDS" --engines torch onnxruntime auto 2>&1 | tee "$OUT/scaling.txt"
