#!/usr/bin/env bash
# The data-parallel checks (Distributed/, over MPI), as CI runs them:
#   1. a GRU with lengths and padding: 2 ranks against one process, 20 Adam steps;
#   2. the char-LM: `mpirun -np 2 … --data-parallel --batch 32` against one process on the same
#      global batch, and a second 2-rank run that must end with identical parameters;
#   3. ranks started with different options stop together with one message;
#   4. a rank killed mid-run ends the run within 30 s, and the last checkpoint loads;
#   5. --data-parallel without mpirun trains in one process.
# Installs Open MPI when missing (tools/ensure-mpi.sh). Steps: bash tools/dp_check.sh [steps].
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/ensure-openblas.sh
source tools/ensure-mpi.sh
steps="${1:-20}"
swift build -c release --package-path Distributed
bin="$(swift build -c release --package-path Distributed --show-bin-path)"
launcher=(mpirun --oversubscribe)
if [ "$(id -u)" -eq 0 ]; then launcher=(mpirun --allow-run-as-root --oversubscribe); fi
mpirun=("${launcher[@]}" -np 2)
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
corpus=(--corpus tools --max-bytes 200000)
lm=("${corpus[@]}" --batch 32 --seed 5 --steps "$steps" --dropout 0 --quiet --sample 0 --val-windows 8)

echo "== 1. GRU with lengths and padding: 2 ranks vs one process"
"${mpirun[@]}" "$bin/tensorlstm-dp-check" gru --steps "$steps"

echo "== 2. char-LM: 2 ranks vs one process on the global batch of 32"
"${mpirun[@]}" "$bin/tensorlstm-charlm" --data-parallel "${lm[@]}" --checkpoint "$scratch/a.safetensors"
"$bin/tensorlstm-charlm" "${lm[@]}" --checkpoint "$scratch/b.safetensors"
"$bin/tensorlstm-dp-check" compare "$scratch/a.safetensors" "$scratch/b.safetensors"
"${mpirun[@]}" "$bin/tensorlstm-charlm" --data-parallel "${lm[@]}" --checkpoint "$scratch/c.safetensors"
"$bin/tensorlstm-dp-check" compare "$scratch/a.safetensors" "$scratch/c.safetensors" --tolerance 0

echo "== 3. ranks started differently stop with one message"
small=("${corpus[@]}" --batch 4 --seq 16 --hidden 16 --steps 2 --quiet --sample 0)
if "${launcher[@]}" -np 1 "$bin/tensorlstm-charlm" --data-parallel "${small[@]}" --seed 5 \
  : -np 1 "$bin/tensorlstm-charlm" --data-parallel "${small[@]}" --seed 6 2> "$scratch/err"; then
  echo "expected the mismatched ranks to fail" >&2
  exit 1
fi
grep "the ranks were started differently: rank(s) \[0\]: seed 5; rank(s) \[1\]: seed 6" "$scratch/err"

echo "== 4. a rank killed mid-run ends the run; the last checkpoint loads"
"${mpirun[@]}" "$bin/tensorlstm-charlm" --data-parallel "${corpus[@]}" --batch 8 --seq 32 \
  --hidden 64 --steps 100000 --eval-every 2 --val-windows 2 --quiet --sample 0 \
  --checkpoint "$scratch/k.safetensors" > "$scratch/kill.log" 2>&1 &
run=$!
for _ in $(seq 300); do [ -f "$scratch/k.safetensors.optimizer" ] && break; sleep 0.1; done
victim="$(pgrep -f -n "^[^ ]*tensorlstm-charlm --data-parallel.*k.safetensors")"
kill -9 "$victim"
killed=$(date +%s)
for _ in $(seq 300); do kill -0 "$run" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$run" 2>/dev/null; then
  echo "the run was still going 30 s after a rank was killed" >&2
  exit 1
fi
wait "$run" && { echo "expected a non-zero status after a killed rank" >&2; exit 1; }
echo "the run ended $(( $(date +%s) - killed )) s after process $victim (a rank) was killed:"
grep -m1 "exited on signal 9" "$scratch/kill.log"
saved=$(python3 -c 'import json, struct, sys
f = open(sys.argv[1], "rb")
print(json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]["step"])' "$scratch/k.safetensors")
"$bin/tensorlstm-charlm" "${corpus[@]}" --batch 8 --seq 32 --hidden 64 --val-windows 2 --quiet \
  --sample 0 --resume "$scratch/k.safetensors" --steps $((saved + 2)) | grep -E "resumed|trained"

echo "== 5. --data-parallel without mpirun"
"$bin/tensorlstm-charlm" --data-parallel "${small[@]}" > "$scratch/alone.log"
grep -- "--data-parallel: not started by mpirun, training in one process" "$scratch/alone.log"
