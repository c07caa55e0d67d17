#!/usr/bin/env bash
# APT -> GRPO -> the next APT round's pairs, on a laptop: recipes/apt_then_grpo.sh's chain on a tiny offline Llama, every
# stage real (APT's hybrid DPO + SFT on OpenRLHF's engine, OpenRLHF's train_ppo_ray with rollouts on the vLLM STAND-IN,
# which generates with transformers). A few minutes on 2 cores. Run from the repository root after `make install`.
set -euo pipefail
WORK=${WORK:-./runs/apt_then_grpo_cpu}
PY=${PY:-.venv/bin/python}
LEDGER=$WORK/ledger.jsonl
HOOK=$($PY -m openrlhf_weakness.cli.reward_hook_path)
rm -f "$LEDGER"

$PY -m openrlhf_weakness.cli.make_toy "$WORK"   # also writes grpo_prompts.jsonl (OpenRLHF's RL shape, datasource)

read -r -d '' apt_commands <<EOF || true
openrlhf_weakness.cli.train_apt \
   --ckpt.output_dir $WORK/apt \
   --train.batch_size 8 \
   --train.micro_batch_size 4 \
   --model.model_name_or_path $WORK/tiny-llama \
   --train.max_epochs 1 \
   --data.max_len 64 \
   --ds.zero_stage 2 \
   --ds.param_dtype fp32 \
   --adam.lr 1e-3 \
   --model.beta 0.1 \
   --data.dataset $WORK/apt_pairs.jsonl \
   --data.prompt_key prompt \
   --ds.attn_implementation eager \
   --apt.sft_coef 0.5 \
   --apt.weight_key weight
EOF

read -r -d '' grpo_commands <<EOF || true
openrlhf_weakness.cli.train_grpo \
   --actor.model_name_or_path $WORK/apt \
   --reward.remote_url $HOOK \
   --data.prompt_dataset $WORK/grpo_prompts.jsonl \
   --data.input_key input \
   --data.label_key label \
   --data.apply_chat_template \
   --eval.dataset $WORK/grpo_prompts.jsonl \
   --eval.steps 2 \
   --ckpt.best_metric_key eval_sub_pass1 \
   --actor.num_gpus_per_node 1 \
   --rollout.batch_size 4 \
   --rollout.micro_batch_size 8 \
   --rollout.n_samples_per_prompt 2 \
   --rollout.max_new_tokens 8 \
   --data.max_len 64 \
   --data.max_samples 8 \
   --train.batch_size 8 \
   --train.micro_batch_size 4 \
   --algo.advantage.estimator group_norm \
   --algo.kl.init_coef 0 \
   --actor.adam.lr 1e-4 \
   --ds.zero_stage 2 \
   --ds.param_dtype fp32 \
   --ckpt.output_dir $WORK/grpo \
   --ckpt.path $WORK/grpo_ckpt
EOF

RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29519} $PY -m $apt_commands
ORW_REWARD_ASSESSOR=math ORW_REWARD_LEDGER=$LEDGER ORW_REWARD_NUM_WORKERS=1 $PY -m $grpo_commands
# the next round: GRPO's failures become bad cases, paired with their reference answers
$PY -m openrlhf_weakness.cli.build_pairs --data.bad "$LEDGER" --data.reference_key label --data.output "$WORK/next_pairs.jsonl"
echo "ledger: $LEDGER ($(wc -l < "$LEDGER") failures)  next round's pairs: $WORK/next_pairs.jsonl"
