#!/usr/bin/env bash
# STAT-Sel on one GPU node: a teacher (any OpenAI-compatible server, e.g. `vllm serve`) builds the skill map and the
# Missing-Skill-Profile of the student; SFT then draws training examples toward the missing skills
# (paper: QLoRA r16, 3 epochs, cosine, 3% warm-up, effective batch 8).
set -x

STUDENT=${STUDENT:-meta-llama/Llama-3.2-3B-Instruct}
TEACHER_URL=${TEACHER_URL:-http://127.0.0.1:8000/v1}
TEACHER=${TEACHER:-Qwen/Qwen2.5-72B-Instruct}
TRAIN=${TRAIN:-./data/math_train.jsonl}   # {"input": question, "output": solution}
DEV=${DEV:-./data/math_val.jsonl}         # {"input": question, "reference": answer}; never the reported test set
RUN=${RUN:-./runs/stat}
OUT=${OUT:-./checkpoint/llama3.2-3b-stat-sel}

read -r -d '' stat_commands <<EOF
openrlhf_weakness.cli.stat \
   --stat.run_dir $RUN \
   --data.train $TRAIN \
   --data.dev $DEV \
   --gen.backend vllm \
   --gen.model $STUDENT \
   --gen.temperature 0.1 \
   --gen.max_new_tokens 1024 \
   --gen.chat_template_enable \
   --teacher.backend openai \
   --teacher.base_url $TEACHER_URL \
   --teacher.model $TEACHER \
   --teacher.max_new_tokens 1024 \
   --assess.assessor math \
   --stat.k 5
EOF

read -r -d '' training_commands <<EOF
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
   --ckpt.output_dir $OUT \
   --ds.zero_stage 2 \
   --ds.param_dtype bf16 \
   --ds.load_in_4bit \
   --ds.lora.rank 16 \
   --ds.lora.alpha 16 \
   --adam.lr 2e-4 \
   --lr_warmup_ratio 0.03 \
   --model.gradient_checkpointing_enable \
   --ds.attn_implementation flash_attention_2
EOF

if [[ ${1} != "slurm" ]]; then
    python3 -m $stat_commands
    deepspeed --module $training_commands
fi
