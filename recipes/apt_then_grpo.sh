#!/usr/bin/env bash
# One APT round (hybrid DPO + SFT on weakness pairs), then GRPO on OpenRLHF's Ray + vLLM engine with this project's
# assessor as the reward. GRPO's failures are appended to the weakness ledger, the next round's bad cases
# (`cli.retrieve --data.bad $LEDGER --data.reference_key label`). Single node, 8 GPUs; start Ray first (`ray start --head`).
set -x

MODEL=${MODEL:-meta-llama/Llama-2-7b-hf}
PAIRS=${PAIRS:-./runs/apt/iter0/pairs.jsonl}
PROMPTS=${PROMPTS:-./data/gsm8k_train_prompts.jsonl}   # {"input": question, "label": {"answer": ..., "datasource": ...}}
EVAL_PROMPTS=${EVAL_PROMPTS:-./data/gsm8k_test_prompts.jsonl}   # same shape; a top-level "datasource" per row gives eval_<datasource>_pass1
WEAK_SKILL=${WEAK_SKILL:-gsm8k}   # the checkpoint kept is the best on this skill
APT_OUT=${APT_OUT:-./checkpoint/llama2-7b-apt-iter0}
GRPO_OUT=${GRPO_OUT:-./checkpoint/llama2-7b-apt-grpo}
LEDGER=${LEDGER:-$(pwd)/runs/ledger.jsonl}
HOOK=$(python3 -m openrlhf_weakness.cli.reward_hook_path)

read -r -d '' apt_commands <<EOF
openrlhf_weakness.cli.train_apt \
   --ckpt.output_dir $APT_OUT \
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
   --data.apply_chat_template \
   --ds.attn_implementation flash_attention_2 \
   --model.gradient_checkpointing_enable \
   --apt.sft_coef 0.5 \
   --apt.weight_key weight
EOF

read -r -d '' grpo_commands <<EOF
openrlhf.cli.train_ppo_ray \
   --ref.num_nodes 1 \
   --ref.num_gpus_per_node 8 \
   --actor.num_nodes 1 \
   --actor.num_gpus_per_node 8 \
   --vllm.num_engines 4 \
   --vllm.tensor_parallel_size 2 \
   --train.colocate_all \
   --vllm.gpu_memory_utilization 0.6 \
   --vllm.enable_sleep \
   --ds.enable_sleep \
   --actor.model_name_or_path $APT_OUT \
   --reward.remote_url $HOOK \
   --ckpt.output_dir $GRPO_OUT \
   --ckpt.save_hf \
   --train.micro_batch_size 4 \
   --train.batch_size 128 \
   --rollout.micro_batch_size 8 \
   --rollout.batch_size 128 \
   --rollout.n_samples_per_prompt 4 \
   --algo.advantage.estimator group_norm \
   --algo.kl.init_coef 0 \
   --train.max_epochs 1 \
   --data.max_len 2048 \
   --rollout.max_new_tokens 1024 \
   --data.max_samples 100000 \
   --ds.zero_stage 3 \
   --ds.param_dtype bf16 \
   --actor.adam.lr 5e-7 \
   --data.prompt_dataset $PROMPTS \
   --data.input_key input \
   --data.label_key label \
   --eval.dataset $EVAL_PROMPTS \
   --eval.steps 20 \
   --ckpt.best_metric_key eval_${WEAK_SKILL}_pass1 \
   --data.apply_chat_template \
   --actor.gradient_checkpointing_enable
EOF

if [[ ${1} != "slurm" ]]; then
    deepspeed --module $apt_commands
    # ORW_REWARD_* reach the vLLM actors, where OpenRLHF calls the hook.
    ray job submit --address="http://127.0.0.1:8265" \
        --runtime-env-json="{\"env_vars\": {\"ORW_REWARD_ASSESSOR\": \"math\", \"ORW_REWARD_LEDGER\": \"$LEDGER\", \"ORW_REWARD_DATASOURCES\": \"gsm8k\"}}" \
        -- python3 -m $grpo_commands
fi
