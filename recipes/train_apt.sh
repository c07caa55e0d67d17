#!/usr/bin/env bash
# APT hybrid DPO + SFT on one GPU node: OpenRLHF's train_dpo recipe with the module swapped and --apt.* flags added.
# Pairs come from `cli.build_pairs` (prompt/chosen/rejected, plus source and weight); rows without `rejected`
# train the SFT term only. Hyper-parameters follow APT's released code (beta 0.1, alpha 0.5, LoRA r64, lr 1e-6).
set -x

MODEL=${MODEL:-meta-llama/Llama-2-7b-hf}
PAIRS=${PAIRS:-./runs/apt/iter0/pairs.jsonl}
OUT=${OUT:-./checkpoint/llama2-7b-apt-iter0}

read -r -d '' training_commands <<EOF
openrlhf_weakness.cli.train_apt \
   --ckpt.output_dir $OUT \
   --ckpt.save_steps -1 \
   --logger.logging_steps 1 \
   --eval.steps -1 \
   --train.batch_size 32 \
   --train.micro_batch_size 2 \
   --model.model_name_or_path $MODEL \
   --ds.param_dtype bf16 \
   --train.max_epochs 5 \
   --data.max_len 2048 \
   --ds.zero_stage 3 \
   --adam.lr 1e-6 \
   --model.beta 0.1 \
   --data.dataset $PAIRS \
   --data.prompt_key prompt \
   --data.chosen_key chosen \
   --data.rejected_key rejected \
   --data.apply_chat_template \
   --ds.attn_implementation flash_attention_2 \
   --ds.lora.rank 64 \
   --ds.lora.alpha 16 \
   --ds.lora.dropout 0.1 \
   --model.gradient_checkpointing_enable \
   --apt.sft_coef 0.5 \
   --apt.sft_norm token \
   --apt.weight_key weight \
   --apt.source_key source \
   --apt.chosen_logp_drop_max 0.5
EOF
    # --logger.wandb.key [WANDB_TOKENS]

if [[ ${1} != "slurm" ]]; then
    deepspeed --module $training_commands
fi
