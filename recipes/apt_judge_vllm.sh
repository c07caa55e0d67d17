#!/usr/bin/env bash
# APT as published: an LLM judge (Prometheus-2 absolute grading with the math rubric) scores the student's answers.
# The judge runs as its own OpenAI-compatible server (`vllm serve`) on GPU 7 of the node; the student's vLLM engines
# and the training use GPUs 0-6. Any instruct model can stand in for Prometheus-7B-v2.0 (JUDGE=...).
set -x

MODEL=${MODEL:-meta-llama/Llama-2-7b-hf}
JUDGE=${JUDGE:-prometheus-eval/prometheus-7b-v2.0}
DATA=${DATA:-./data}   # gsm8k_train/dev/test.jsonl {"prompt", "reference"}, pool.jsonl, general.jsonl (the guard)
RUN=${RUN:-./runs/apt_judge_llama2_gsm8k}
JUDGE_PORT=${JUDGE_PORT:-8001}

read -r -d '' judge_commands <<EOF
vllm serve $JUDGE \
   --host 127.0.0.1 \
   --port $JUDGE_PORT \
   --served-model-name prometheus-7b-v2.0 \
   --dtype bfloat16 \
   --max-model-len 4096 \
   --gpu-memory-utilization 0.85 \
   --tensor-parallel-size 1
EOF

read -r -d '' loop_commands <<EOF
openrlhf_weakness.cli.apt \
   --loop.model $MODEL \
   --loop.run_dir $RUN \
   --loop.iterations 3 \
   --loop.ref_policy previous \
   --data.train $DATA/gsm8k_train.jsonl \
   --data.dev $DATA/gsm8k_dev.jsonl \
   --data.test $DATA/gsm8k_test.jsonl \
   --data.guard $DATA/general.jsonl \
   --data.pool $DATA/pool.jsonl \
   --gen.backend vllm \
   --gen.num_engines 7 \
   --gen.max_new_tokens 512 \
   --gen.chat_template_enable \
   --assess.assessor judge \
   --assess.judge_rubric math \
   --assess.bad_below 4 \
   --assess.num_workers 32 \
   --judge.backend openai \
   --judge.base_url http://127.0.0.1:$JUDGE_PORT/v1 \
   --judge.model prometheus-7b-v2.0 \
   --judge.max_new_tokens 512 \
   --judge.max_in_flight 64 \
   --judge.parse_retries 2 \
   --retrieve.tagger kmeans \
   --retrieve.num_clusters 64 \
   -- \
   --train.batch_size 32 \
   --train.micro_batch_size 2 \
   --train.max_epochs 5 \
   --adam.lr 1e-6 \
   --model.beta 0.1 \
   --apt.sft_coef 0.5 \
   --ds.zero_stage 2 \
   --ds.attn_implementation flash_attention_2 \
   --model.gradient_checkpointing_enable
EOF

if [[ ${1} != "slurm" ]]; then
    CUDA_VISIBLE_DEVICES=7 $judge_commands > judge_server.log 2>&1 &
    JUDGE_PID=$!
    trap 'kill $JUDGE_PID' EXIT
    until curl -sf http://127.0.0.1:$JUDGE_PORT/health > /dev/null; do sleep 5; done   # the judge is up
    CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 python3 -m $loop_commands
fi
