#!/usr/bin/env bash
# GPU check of prefgame.llm (issue 10).  Run from the repository root on a machine with NVIDIA
# GPU(s) and the project's venv:   bash benchmarks/gpu_check.sh   (OUT=dir PY=python to change)
#   1. the ~100M-parameter (85M) online IPO step in bf16 on one GPU: seconds/step, sampling
#      tokens/s, peak memory (benchmarks/online_step.py, prefgame workers only);
#   2. the same step under DDP on every GPU (torchrun, one process per GPU): seconds/step,
#      tokens/s over all ranks, peak memory, and whether the ranks' weights are identical;
#   3. the 2-process CPU (gloo) test of the test suite.
# Record the printed numbers, with the card name, in benchmarks/RESULTS.md.
set -euo pipefail
OUT=${OUT:-gpu_check}
PY=${PY:-python}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpus.csv"
NGPU=$(nvidia-smi -L | wc -l)
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

echo "== 1. one GPU, ~100M policy, bf16, batch 32, 64-token prompts, <= 64 new tokens"
$PY benchmarks/online_step.py --device cuda --model-size 100m --batch 32 --prompt-len 64 \
    --new-tokens 64 --precision bf16 --rounds 1 --warmup 2 --steps 5 \
    --out "$OUT/online_step_100m_bf16.json" | tee "$OUT/online_step_100m_bf16.txt"

echo "== 2. DDP on $NGPU GPU(s), online IPO and IPO-MD, batch 16 per rank"
for method in online_ipo ipo_md; do
  $PY -m torch.distributed.run --nproc_per_node "$NGPU" benchmarks/ddp_step.py \
      --method "$method" --model-size 100m --batch 16 --prompt-len 64 --new-tokens 64 \
      --precision bf16 --warmup 2 --steps 5 --out "$OUT/ddp_${method}.json" \
      | grep RESULT | tee "$OUT/ddp_${method}.txt"
done

echo "== 3. the 2-process CPU test"
$PY -m pytest -q tests/llm/test_distributed.py | tail -3 | tee "$OUT/test_distributed.txt"
