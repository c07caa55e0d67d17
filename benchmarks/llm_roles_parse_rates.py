"""Parse rates of every LLM role (judge, teacher labels and missing skills, tagger) with a real model behind a real
OpenAI-compatible server (``transformers serve``, SmolLM2-135M-Instruct on CPU: a stand-in that exercises the path,
not a recommended judge), and the judge's throughput at 1 and 4 requests in flight against the bound that latency
sets (in flight / latency at 1).

    .venv/bin/python benchmarks/llm_roles_parse_rates.py [--items 16 --max_new_tokens 96 --parse_retries 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=16, help="requests per role")
    parser.add_argument("--max_new_tokens", type=int, default=96)
    parser.add_argument("--parse_retries", type=int, default=2)
    parser.add_argument("--out", type=str, default="benchmarks/results/llm_roles_parse_rates.json")
    opts = parser.parse_args()

    from openrlhf_weakness.assess.base import Item
    from openrlhf_weakness.assess.judge import REMINDER, RUBRICS, JudgeAssessor, parse_judgement
    from openrlhf_weakness.backends.config import SamplingParams
    from openrlhf_weakness.backends.openai_compat import OpenAIBackend
    from openrlhf_weakness.backends.parsed import generate_parsed
    from openrlhf_weakness.demo.student import student_model
    from openrlhf_weakness.retrieve.tags import llm_tags
    from openrlhf_weakness.stat.skills import SkillList
    from openrlhf_weakness.stat.teacher import LABEL_PROMPT, MISSING_PROMPT, parse_labels, parse_missing
    from openrlhf_weakness.testing.transformers_server import TransformersServer

    work = Path(tempfile.mkdtemp(prefix="parse-rates-"))
    pairs = [(3 + i, 5 + 2 * i) for i in range(opts.items)]
    questions = [f"What is {a} plus {b}?" for a, b in pairs]
    params = SamplingParams(max_new_tokens=opts.max_new_tokens)
    skills = SkillList(["addition", "subtraction", "multiplication", "carrying"])
    listing = "\n".join(skills.names)
    result = {
        "model": "SmolLM2-135M-Instruct (transformers serve, CPU, float32)",
        "items": opts.items,
        "max_new_tokens": opts.max_new_tokens,
        "parse_retries": opts.parse_retries,
    }
    with TransformersServer(student_model(work), work / "serve.log") as server:

        def backend(in_flight: int) -> OpenAIBackend:
            return OpenAIBackend(server.base_url, server.model, max_in_flight=in_flight, timeout=300)

        items = [
            Item(q, f"{a} + {b} = {a + b + (i % 2)}.", str(a + b))
            for i, (q, (a, b)) in enumerate(zip(questions, pairs))
        ]
        judge = JudgeAssessor(backend(4), params, RUBRICS["math"], None, opts.parse_retries)
        scores = judge.assess_batch(items)
        result["judge"] = judge.report.as_dict()
        result["judge"]["score_counts"] = {str(k): sum(s.score == k for s in scores) for k in (1, 2, 3, 4, 5, None)}
        print(judge.report.line(), flush=True)

        label_prompts = [LABEL_PROMPT.format(skills=listing, question=q, max_skills=3) for q in questions]
        _, _, report = generate_parsed(
            backend(4),
            label_prompts,
            params,
            lambda t: parse_labels(t, skills) or None,
            opts.parse_retries,
            "Name the skills from the list inside <skill>...</skill>.",
            "teacher labels",
        )
        result["teacher_labels"] = report.as_dict()
        print(report.line(), flush=True)

        missing_prompts = [
            MISSING_PROMPT.format(skills=listing, question=it.prompt, answer=it.response, reference=it.reference)
            for it in items
        ]

        def missing(text: str):
            verdict, names = parse_missing(text, skills)
            return (verdict, names) if verdict != "unknown" or names else None

        _, _, report = generate_parsed(
            backend(4),
            missing_prompts,
            params,
            missing,
            opts.parse_retries,
            "Reply with <judge>correct</judge> or <judge>incorrect</judge>, then " "<skill>...</skill>.",
            "teacher missing",
        )
        result["teacher_missing"] = report.as_dict()
        print(report.line(), flush=True)

        _, report = llm_tags(questions, backend(4), params, None, opts.parse_retries)
        result["tagger"] = report.as_dict()
        print(report.line(), flush=True)

        from openrlhf_weakness.assess.judge import judge_messages

        throughput = {}
        prompts = [judge_messages(it, RUBRICS["math"]) for it in items[:8]]
        for in_flight in (1, 4):
            start = time.perf_counter()
            generate_parsed(
                backend(in_flight),
                prompts,
                SamplingParams(max_new_tokens=32, seed=in_flight),
                lambda t: parse_judgement(t).score,
                0,
                REMINDER,
                f"judge x{in_flight}",
            )
            throughput[in_flight] = len(prompts) / (time.perf_counter() - start)
        latency = 1 / throughput[1]
        result["judge_throughput"] = {
            "requests_per_s_in_flight_1": throughput[1],
            "requests_per_s_in_flight_4": throughput[4],
            "latency_s_in_flight_1": latency,
            "bound_in_flight_4": 4 / latency,
            "fraction_of_bound": throughput[4] * latency / 4,
            "max_new_tokens": 32,
        }
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    t = result["judge_throughput"]
    print(
        f"judge throughput: {t['requests_per_s_in_flight_1']:.2f} req/s at 1 in flight (latency {latency:.2f} s), "
        f"{t['requests_per_s_in_flight_4']:.2f} at 4 (bound {t['bound_in_flight_4']:.2f}: "
        f"{t['fraction_of_bound']:.0%} of it)"
    )
    print(f"wrote {opts.out}")


if __name__ == "__main__":
    main()
