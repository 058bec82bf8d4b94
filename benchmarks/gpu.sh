#!/usr/bin/env bash
# The GPU figures of the performance issue, in one call of a lent GPU machine that has JAX
# (CUDA) and PyTorch but no TensorFlow and no network:
#   1. the paper preset's epoch time with glandseg.train.train on JAX (benchmarks/epoch_time.py),
#      three settings: float32 as the preset is, float32 with 8 loader threads, bfloat16 + 8 threads;
#   2. bench.py on the GPU: glandseg (JAX) against smp's Linknet (torch), and the input pipeline.
# Needs the wheels of ../shared/wheels-device plus segmentation-models-pytorch in .whl (carried).
# Writes to $OUT (default /tmp/glandseg-gpu): epoch.json, bench.json, their logs, nvidia-smi.csv.
set -u
OUT=${OUT:-/tmp/glandseg-gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/mpl TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT/nvidia-smi.csv" 2>&1
python3 -c "import jax, keras; print(jax.devices(), keras.__version__)" || exit 1
timeout "${EPOCH_TIMEOUT:-330}" python3 benchmarks/epoch_time.py --preset paper --epochs 3 --synthetic \
    --settings float32:1 float32:8 mixed_bfloat16:8 --out "$OUT/epoch.json" >"$OUT/epoch.log" 2>&1
echo "epoch_time exit $?"; grep -E "^\[|epochs|FAILED|record" "$OUT/epoch.log"
timeout "${BENCH_TIMEOUT:-170}" python3 benchmarks/bench.py --device cuda --only jax smp pipeline \
    --repeats 5 --warmup 3 --calls 5 --out "$OUT/bench.json" >"$OUT/bench.log" 2>&1
echo "bench exit $?"; tail -n 12 "$OUT/bench.log"
