#!/bin/bash
# One-shot GPU check on the lent device machine (no Docker engine, no network there): does a Docker
# engine exist, and do our in-container probe/train scripts see and use a real GPU (Keras 3 on JAX and
# PyTorch, the GPU stacks present on that machine)?
set -u
exec > >(tee "$OUT/gpucheck.log") 2>&1
echo "== host"; date -u; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== docker?"; command -v docker dockerd nvidia-container-runtime nvidia-ctk || echo "no docker engine or NVIDIA container runtime on this machine"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpucheck/*.whl && export PYTHONPATH=/tmp/site || exit 1
python3 -c "import jax, torch; print('jax', jax.__version__, jax.devices()); print('torch', torch.__version__, torch.cuda.get_device_name(0))"
echo "== probe (fresh HOME, no KERAS_BACKEND)"
env -u KERAS_BACKEND PYTHONUNBUFFERED=1 python3 runner/probe/probe.py > "$OUT/probe.out" 2>&1; echo "probe exit $?"; grep -a '@@KERAS_MATRIX_RESULT@@' "$OUT/probe.out" | cut -c1-3000
for backend in jax torch; do
  echo "== train $backend"
  KERAS_BACKEND=$backend HOME=$(mktemp -d) PYTHONUNBUFFERED=1 timeout 240 python3 runner/probe/train.py .gpucheck/mnist.npz 3 > "$OUT/train-$backend.out" 2>&1
  echo "train $backend exit $?"; grep -a '@@KERAS_MATRIX_RESULT@@' "$OUT/train-$backend.out" || tail -20 "$OUT/train-$backend.out"
done
