#!/usr/bin/env bash
# STAT-Sel -> SFT -> GRPO -> the next STAT round, on a laptop: recipes/stat_then_grpo.sh's chain on a tiny offline Llama
# and toy sums/differences, every stage real (OpenRLHF's SFT and train_ppo_ray; rollouts on the vLLM STAND-IN, which
# generates with transformers). A few minutes on 2 cores. Run from the repository root after `make install`.
set -euo pipefail
WORK=${WORK:-./runs/stat_then_grpo_cpu}
PY=${PY:-.venv/bin/python}
LEDGER=$WORK/ledger.jsonl
HOOK=$($PY -m openrlhf_weakness.cli.reward_hook_path)
rm -rf "$WORK/round2" "$LEDGER"

$PY -m openrlhf_weakness.cli.make_toy "$WORK"

read -r -d '' stat_commands <<EOF || true
openrlhf_weakness.cli.stat \
   --stat.run_dir $WORK/stat \
   --data.train $WORK/stat_train.jsonl \
   --data.dev $WORK/stat_dev.jsonl \
   --gen.model $WORK/tiny-llama \
   --gen.max_new_tokens 8 \
   --assess.assessor math \
   --stat.skill_key skill \
   --stat.k 2
EOF

read -r -d '' sft_commands <<EOF || true
openrlhf_weakness.cli.train_stat_sft \
   --data.dataset $WORK/stat/stat_sel.jsonl \
   --stat.weight_key stat_weight \
   --data.input_key input \
   --data.output_key output \
   --data.max_len 64 \
   --train.batch_size 8 \
   --train.micro_batch_size 4 \
   --train.max_epochs 1 \
   --model.model_name_or_path $WORK/tiny-llama \
   --ckpt.output_dir $WORK/sft \
   --ds.zero_stage 2 \
   --ds.param_dtype fp32 \
   --ds.attn_implementation eager \
   --adam.lr 1e-3
EOF

read -r -d '' grpo_commands <<EOF || true
openrlhf_weakness.cli.train_grpo \
   --actor.model_name_or_path $WORK/sft \
   --reward.remote_url $HOOK \
   --data.prompt_dataset $WORK/stat/grpo_prompts.jsonl \
   --data.input_key input \
   --data.label_key label \
   --data.apply_chat_template \
   --eval.dataset $WORK/stat/grpo_prompts.jsonl \
   --eval.steps 2 \
   --ckpt.best_metric_key eval_add_pass1 \
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

$PY -m $stat_commands                    # profile, STAT-Sel weights, grpo_prompts.jsonl (the draw, with datasource)
RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29518} \
  $PY -m $sft_commands                   # SFT with the STAT-Sel weighted sampler (one process, no launcher)
ORW_REWARD_ASSESSOR=math ORW_REWARD_LEDGER=$LEDGER ORW_REWARD_NUM_WORKERS=1 $PY -m $grpo_commands
# the next round: GRPO's failures join the difficult questions, and the profile counts their skills
$PY -m $stat_commands --data.ledger "$LEDGER" --stat.run_dir "$WORK/round2"
echo "ledger: $LEDGER ($(wc -l < "$LEDGER") failures)  round 2 profile: $WORK/round2/profile.json"
