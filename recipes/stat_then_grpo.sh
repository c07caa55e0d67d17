#!/usr/bin/env bash
# STAT-Sel SFT (recipes/stat_sel.sh's run directory), then GRPO on OpenRLHF's Ray + vLLM engine with this project's
# math verifier as the reward: group-normalised advantage, 4 rollouts per prompt, no KL, lr 5e-7 (the STAT paper).
# Failures go to the weakness ledger for the next round (cli.apt --data.ledger, cli.retrieve --data.bad).
set -x

STUDENT=${STUDENT:-meta-llama/Llama-3.2-3B-Instruct}
RUN=${RUN:-./runs/stat}
SFT_OUT=${SFT_OUT:-./checkpoint/llama3.2-3b-stat-sel}
GRPO_OUT=${GRPO_OUT:-./checkpoint/llama3.2-3b-stat-grpo}
PROMPTS=${PROMPTS:-./data/math_train_prompts.jsonl}   # {"input": question, "label": {"answer": ..., "skill": ...}}
EVAL_PROMPTS=${EVAL_PROMPTS:-./data/math_test_prompts.jsonl}   # same shape; a top-level "datasource" per row gives eval_<datasource>_pass1
WEAK_SKILL=${WEAK_SKILL:-algebra}   # the checkpoint kept is the best on this skill
LEDGER=${LEDGER:-$(pwd)/runs/ledger.jsonl}
HOOK=$(python3 -m openrlhf_weakness.cli.reward_hook_path)

read -r -d '' sft_commands <<EOF
openrlhf_weakness.cli.train_stat_sft \
   --data.dataset $RUN/stat_sel.jsonl \
   --stat.weight_key stat_weight \
   --data.input_key input \
   --data.output_key output \
   --data.apply_chat_template \
   --data.max_len 2048 \
   --train.batch_size 8 \
   --train.micro_batch_size 2 \
   --train.max_epochs 3 \
   --model.model_name_or_path $STUDENT \
   --ckpt.output_dir $SFT_OUT \
   --ds.zero_stage 2 \
   --ds.param_dtype bf16 \
   --adam.lr 1e-5 \
   --ds.attn_implementation flash_attention_2
EOF

read -r -d '' grpo_commands <<EOF
openrlhf.cli.train_ppo_ray \
   --ref.num_nodes 1 \
   --ref.num_gpus_per_node 8 \
   --actor.num_nodes 1 \
   --actor.num_gpus_per_node 8 \
   --vllm.num_engines 8 \
   --vllm.tensor_parallel_size 1 \
   --train.colocate_all \
   --vllm.gpu_memory_utilization 0.6 \
   --vllm.enable_sleep \
   --ds.enable_sleep \
   --actor.model_name_or_path $SFT_OUT \
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
    deepspeed --module $sft_commands
    ray job submit --address="http://127.0.0.1:8265" \
        --runtime-env-json="{\"env_vars\": {\"ORW_REWARD_ASSESSOR\": \"math\", \"ORW_REWARD_LEDGER\": \"$LEDGER\"}}" \
        -- python3 -m $grpo_commands
fi
