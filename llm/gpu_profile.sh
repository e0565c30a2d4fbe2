#!/usr/bin/env bash
# The summarisation experiment's GPU profile: one command on a machine with one CUDA GPU.
#   bash llm/gpu_profile.sh            -> llm/results/gpu/ (summary.json, RESULTS.md, frontier.png)
# Records the card, the wall time and the peak GPU memory next to the results.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-llm/results/gpu}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/card.csv"
start=$(date +%s)
python - <<'PY' &
import subprocess, time
peak = 0
with open("llm/results/gpu/memory.log", "w") as f:
    while True:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True).stdout.split()
        if out:
            peak = max(peak, int(out[0])); f.write(f"{time.time():.0f} {out[0]}\n"); f.flush()
        time.sleep(2)
PY
MON=$!
trap 'kill $MON 2>/dev/null || true' EXIT
python llm/reproduce.py --config llm/configs/factsum_gpu.json --out "$OUT" --work runs/factsum-gpu
echo "wall_s=$(( $(date +%s) - start ))" | tee "$OUT/time.txt"
echo "peak_mib=$(sort -k2 -n "$OUT/memory.log" | tail -1 | cut -d' ' -f2)" | tee -a "$OUT/time.txt"
