#!/usr/bin/env bash
# APT on a laptop: the same trainer on a tiny offline Llama, one CPU process, no deepspeed launcher (about 20 s).
# Run from the repository root after `make install`.
set -euo pipefail
WORK=${WORK:-./runs/train_apt_cpu}
PY=${PY:-.venv/bin/python}

$PY -m openrlhf_weakness.cli.make_toy "$WORK"

export RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29517}
read -r -d '' training_commands <<EOF || true
openrlhf_weakness.cli.train_apt \
   --ckpt.output_dir $WORK/out \
   --train.batch_size 8 \
   --train.micro_batch_size 4 \
   --model.model_name_or_path $WORK/tiny-llama \
   --train.max_epochs 2 \
   --data.max_len 64 \
   --ds.zero_stage 2 \
   --adam.lr 1e-3 \
   --model.beta 0.1 \
   --data.dataset $WORK/apt_pairs.jsonl \
   --data.prompt_key prompt \
   --ds.attn_implementation eager \
   --apt.sft_coef 0.5 \
   --apt.weight_key weight
EOF

$PY -m $training_commands
echo "metrics: $WORK/out/apt_metrics.jsonl  summary: $WORK/out/apt_summary.json"
