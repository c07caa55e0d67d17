#!/usr/bin/env bash
# STAT-Syn: the teacher writes new questions for each (difficult question, missing skill), solves each 3 times and
# keeps only agreeing solutions; SFT on the training data plus the synthesised rows.
set -x

STUDENT=${STUDENT:-meta-llama/Llama-3.2-3B-Instruct}
TEACHER_URL=${TEACHER_URL:-http://127.0.0.1:8000/v1}
TEACHER=${TEACHER:-Qwen/Qwen2.5-72B-Instruct}
TRAIN=${TRAIN:-./data/math_train.jsonl}
DEV=${DEV:-./data/math_val.jsonl}
RUN=${RUN:-./runs/stat}
OUT=${OUT:-./checkpoint/llama3.2-3b-stat-syn}

read -r -d '' stat_commands <<EOF
openrlhf_weakness.cli.stat \
   --stat.run_dir $RUN \
   --data.train $TRAIN \
   --data.dev $DEV \
   --gen.backend vllm \
   --gen.model $STUDENT \
   --gen.temperature 0.1 \
   --gen.chat_template_enable \
   --teacher.backend openai \
   --teacher.base_url $TEACHER_URL \
   --teacher.model $TEACHER \
   --teacher.max_new_tokens 2048 \
   --assess.assessor math \
   --stat.syn_enable \
   --stat.syn_per_pair 2 \
   --stat.syn_solutions 3
EOF

read -r -d '' training_commands <<EOF
openrlhf.cli.train_sft \
   --data.dataset $TRAIN,$RUN/stat_syn.jsonl \
   --data.input_key input \
   --data.output_key output \
   --data.apply_chat_template \
   --data.max_len 2048 \
   --train.batch_size 8 \
   --train.micro_batch_size 2 \
   --train.max_epochs 3 \
   --model.model_name_or_path $STUDENT \
   --ckpt.output_dir $OUT \
   --ds.zero_stage 2 \
   --ds.param_dtype bf16 \
   --ds.load_in_4bit \
   --ds.lora.rank 16 \
   --adam.lr 2e-4 \
   --ds.attn_implementation flash_attention_2
EOF

if [[ ${1} != "slurm" ]]; then
    python3 -m $stat_commands
    deepspeed --module $training_commands
fi
