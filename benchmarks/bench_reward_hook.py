"""The reward hook's own cost per sample with the math verifier, against calling math-verify directly, on two sets:
plain integer answers (decided in the hook's process, bounded work) and fractions (a round trip to a killable worker
process); and the worst-case latency of a call whose sample hangs (its worker process is killed at --timeout).

.venv/bin/python benchmarks/bench_reward_hook.py [--samples 400] [--timeout 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PROMPT = "<|im_start|>user\nWhat is {a} plus {b}?<|im_end|>\n<|im_start|>assistant\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--timeout", type=float, default=2.0, help="per-sample deadline for the hanging-sample calls")
    parser.add_argument("--workers", type=int, default=2, help="the hook's worker processes")
    parser.add_argument("--out", default="benchmarks/results/reward_hook.json")
    opts = parser.parse_args()
    from openrlhf_weakness.assess.math_answer import answers_match
    from openrlhf_weakness.hooks.rewarder import Rewarder, RewardHookConfig

    rewarder = Rewarder(
        RewardHookConfig.from_flat(assessor="math", datasources="add", timeout=opts.timeout, num_workers=opts.workers)
    )
    result = {"samples": opts.samples, "timeout_s": opts.timeout}
    for name, shape in (("integers", "{a}+{b}"), ("fractions", "\\frac{{{a}}}{{{b}}}")):
        cases = []
        for i in range(opts.samples):
            a, b = i % 97 + 1, (7 * i) % 89 + 1
            reference = str(a + b) if name == "integers" else f"{a}/{b}"
            answer = shape.format(a=a + (i % 3 == 0), b=b) if name == "fractions" else str(a + b + (i % 3 == 0))
            prompt = PROMPT.format(a=a, b=b)
            cases.append(
                (prompt + f"The answer is \\boxed{{{answer}}}<|im_end|>", prompt, reference, f"\\boxed{{{answer}}}")
            )
        for _ in range(20):  # warm-up (imports, sympy caches; the workers warm themselves when they start)
            rewarder([cases[0][0]], [cases[0][1]], [cases[0][2]])
            answers_match(cases[0][2], cases[0][3])
        time.sleep(2)  # let every worker finish its own start-up warm-up
        start = time.perf_counter()
        direct = [answers_match(ref, response)[0] for _, _, ref, response in cases]
        direct_s = time.perf_counter() - start
        start = time.perf_counter()
        labels = [json.dumps({"answer": ref, "datasource": "add"}) for _, _, ref, _ in cases]
        hooked = [rewarder([q], [p], [label])["rewards"][0] for (q, p, _, _), label in zip(cases, labels)]
        hook_s = time.perf_counter() - start
        assert [1.0 if ok else 0.0 for ok in direct] == hooked
        result[name] = {
            "direct_ms_per_sample": direct_s / opts.samples * 1000,
            "hook_ms_per_sample": hook_s / opts.samples * 1000,
            "overhead_ratio": hook_s / direct_s,
        }
    hang_latencies = []
    for _ in range(
        3
    ):  # a hanging sample next to a right one: the call returns at the deadline, the right one rewarded
        start = time.perf_counter()
        out = rewarder(["9^9^9^9", cases[1][0]], ["", cases[1][1]], ["4", cases[1][2]])
        hang_latencies.append(time.perf_counter() - start)
        assert out["rewards"][0] == 0.0 and out["extra_logs"]["hook_timeouts"] == 1.0
    rewarder.close()
    result["hanging_call_worst_s"] = max(hang_latencies)
    Path(opts.out).parent.mkdir(parents=True, exist_ok=True)
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{opts.samples} samples per set, one per call (as OpenRLHF calls the hook)")
    for name in ("integers", "fractions"):
        r = result[name]
        print(
            f"  {name:9s}: math-verify directly {r['direct_ms_per_sample']:.2f} ms/sample, through the hook "
            f"{r['hook_ms_per_sample']:.2f} ms/sample; overhead ratio {r['overhead_ratio']:.2f}"
        )
    print(f"  a call with a hanging sample (timeout {opts.timeout:g} s): worst {result['hanging_call_worst_s']:.2f} s")


if __name__ == "__main__":
    main()
