#!/usr/bin/env bash
# The APT loop on two GPU nodes (8 GPUs each): vLLM engines on the Ray cluster answer (16 engines, one per GPU, spread
# over both nodes), cli.train_apt trains each iteration on both nodes under deepspeed's multi-node launcher.
# Before: `ray start --head` on this node and `ray start --address=<head>:6379` on the other (the loop's generation
# joins that cluster), passwordless ssh between the nodes and the same paths on both (deepspeed --hostfile needs both).
# The hostfile lists the nodes, e.g. "node-a slots=8" and "node-b slots=8", one per line.
set -x

MODEL=${MODEL:-meta-llama/Llama-2-7b-hf}
DATA=${DATA:-/shared/data}   # gsm8k_train/dev/test.jsonl {"prompt", "reference"}, pool.jsonl, general.jsonl (the guard)
RUN=${RUN:-/shared/runs/apt_two_nodes}
HOSTFILE=${HOSTFILE:-/shared/hostfile}

read -r -d '' loop_commands <<EOF
openrlhf_weakness.cli.apt \
   --loop.model $MODEL \
   --loop.run_dir $RUN \
   --loop.iterations 3 \
   --loop.hostfile $HOSTFILE \
   --data.train $DATA/gsm8k_train.jsonl \
   --data.dev $DATA/gsm8k_dev.jsonl \
   --data.test $DATA/gsm8k_test.jsonl \
   --data.guard $DATA/general.jsonl \
   --data.pool $DATA/pool.jsonl \
   --gen.backend vllm \
   --gen.num_engines 16 \
   --gen.tensor_parallel_size 1 \
   --gen.max_new_tokens 512 \
   --gen.chat_template_enable \
   --assess.assessor math \
   --retrieve.tagger kmeans \
   --retrieve.num_clusters 64 \
   --pairs.similar_rejected self \
   -- \
   --train.batch_size 64 \
   --train.micro_batch_size 2 \
   --train.max_epochs 5 \
   --adam.lr 1e-6 \
   --model.beta 0.1 \
   --apt.sft_coef 0.5 \
   --ds.zero_stage 3 \
   --ds.param_dtype bf16 \
   --ds.attn_implementation flash_attention_2 \
   --model.gradient_checkpointing_enable
EOF

if [[ ${1} != "slurm" ]]; then
    python3 -m $loop_commands  # everything after -- is a cli.train_apt flag
fi
