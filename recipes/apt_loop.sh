#!/usr/bin/env bash
# The whole APT loop on one GPU node: vLLM answers (Ray engines), the math verifier assesses, similar cases come from
# a large pool, cli.train_apt trains each iteration under the deepspeed launcher (APT's released hyper-parameters,
# the training flags after --).
set -x

MODEL=${MODEL:-meta-llama/Llama-2-7b-hf}
DATA=${DATA:-./data}   # gsm8k_train/dev/test.jsonl {"prompt", "reference"}, pool.jsonl, general.jsonl (the guard)
RUN=${RUN:-./runs/apt_llama2_gsm8k}

read -r -d '' loop_commands <<EOF
openrlhf_weakness.cli.apt \
   --loop.model $MODEL \
   --loop.run_dir $RUN \
   --loop.iterations 3 \
   --loop.ref_policy previous \
   --loop.patience 1 \
   --loop.guard_max_drop 0.02 \
   --data.train $DATA/gsm8k_train.jsonl \
   --data.dev $DATA/gsm8k_dev.jsonl \
   --data.test $DATA/gsm8k_test.jsonl \
   --data.guard $DATA/general.jsonl \
   --data.pool $DATA/pool.jsonl \
   --gen.backend vllm \
   --gen.num_engines 8 \
   --gen.max_new_tokens 512 \
   --gen.chat_template_enable \
   --assess.assessor math \
   --assess.bad_below 4 \
   --retrieve.tagger kmeans \
   --retrieve.num_clusters 64 \
   --retrieve.scale 1.0 \
   --pairs.similar_rejected self \
   -- \
   --train.batch_size 32 \
   --train.micro_batch_size 2 \
   --train.max_epochs 5 \
   --adam.lr 1e-6 \
   --model.beta 0.1 \
   --apt.sft_coef 0.5 \
   --ds.zero_stage 2 \
   --ds.lora.rank 64 \
   --ds.lora.alpha 16 \
   --ds.lora.dropout 0.1 \
   --ds.attn_implementation flash_attention_2 \
   --model.gradient_checkpointing_enable
EOF

if [[ ${1} != "slurm" ]]; then
    python3 -m $loop_commands  # everything after -- is a cli.train_apt flag
fi
