#!/usr/bin/env bash
# GRPO after APT on two GPU nodes (8 GPUs each) through OpenRLHF's Ray + vLLM engine, with this project's math verifier
# as the reward (a Python file run inside the vLLM actors; failures go to the weakness ledger for the next APT round).
# Before: `ray start --head` on this node and `ray start --address=<head>:6379` on the other; the model, data and
# ledger paths must be the same on both nodes.
set -x

POLICY=${POLICY:-/shared/runs/apt_two_nodes/iter_2/model}   # APT's best model (final.json names it)
PROMPTS=${PROMPTS:-/shared/data/gsm8k_train_prompts.jsonl}   # {"input": question, "label": {"answer": ..., "datasource": ...}}
EVAL_PROMPTS=${EVAL_PROMPTS:-/shared/data/gsm8k_test_prompts.jsonl}   # same shape; a top-level "datasource" per row gives eval_<datasource>_pass1
WEAK_SKILL=${WEAK_SKILL:-gsm8k}   # the checkpoint kept is the best on this skill
GRPO_OUT=${GRPO_OUT:-/shared/checkpoint/apt-grpo-two-nodes}
LEDGER=${LEDGER:-/shared/runs/ledger.jsonl}
HOOK=$(python3 -m openrlhf_weakness.cli.reward_hook_path)

read -r -d '' grpo_commands <<EOF
openrlhf.cli.train_ppo_ray \
   --ref.num_nodes 2 \
   --ref.num_gpus_per_node 8 \
   --actor.num_nodes 2 \
   --actor.num_gpus_per_node 8 \
   --vllm.num_engines 16 \
   --vllm.tensor_parallel_size 1 \
   --train.colocate_all \
   --vllm.gpu_memory_utilization 0.6 \
   --vllm.enable_sleep \
   --ds.enable_sleep \
   --actor.model_name_or_path $POLICY \
   --reward.remote_url $HOOK \
   --ckpt.output_dir $GRPO_OUT \
   --ckpt.save_hf \
   --train.micro_batch_size 4 \
   --train.batch_size 256 \
   --rollout.micro_batch_size 8 \
   --rollout.batch_size 256 \
   --rollout.n_samples_per_prompt 4 \
   --algo.advantage.estimator group_norm \
   --algo.kl.init_coef 0 \
   --actor.adam.lr 5e-7 \
   --train.max_epochs 1 \
   --data.max_len 2048 \
   --rollout.max_new_tokens 1024 \
   --ds.zero_stage 3 \
   --ds.param_dtype bf16 \
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
    ray job submit --address="http://127.0.0.1:8265" \
        --runtime-env-json="{\"env_vars\": {\"ORW_REWARD_ASSESSOR\": \"math\", \"ORW_REWARD_LEDGER\": \"$LEDGER\"}}" \
        -- python3 -m $grpo_commands
fi
