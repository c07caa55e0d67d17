"""Print what this machine offers to openrlhf-weakness, then prove the stack with a short DPO run through OpenRLHF.

Usage: ``python -m openrlhf_weakness.cli.doctor [--skip_dpo] [--work_dir DIR] [--gpu_enable [--gpu.* ...]]``
With ``--gpu_enable`` it also proves each GPU component (training, generation, embedder, faiss, vLLM, Ray) with a
short real run and a timing, skipping what the host lacks with the reason, and exits 1 if one fails.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from openrlhf_weakness.cli import CliError, cli_entry
from openrlhf_weakness.config import add_flags, from_namespace, nested
from openrlhf_weakness.doctor.gpu import GPUDoctorConfig, selected_checks
from openrlhf_weakness.errors import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openrlhf_weakness.cli.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--skip_dpo", action="store_true", help="Only print the machine report")
    parser.add_argument("--skip_grpo", action="store_true", help="Skip the short GRPO run (train_ppo_ray, 2 steps)")
    parser.add_argument("--work_dir", type=str, default=None, help="Where the tiny model and DPO output go")
    parser.add_argument("--gpu_enable", action="store_true", help="Also prove every GPU component (see --gpu.*)")
    add_flags(parser, GPUDoctorConfig, "gpu")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gpu_cfg = from_namespace(GPUDoctorConfig, nested(args).gpu)
    try:
        selected_checks(gpu_cfg)  # a typo is refused before minutes of imports and training
    except SettingsError as err:
        raise CliError("doctor", err) from None

    from openrlhf_weakness.doctor.stack import report, run_short_dpo, run_short_grpo

    rows, problems = report()
    print("openrlhf-weakness doctor")
    for label, value in rows:
        print(f"  {label:<12} {value}")
    if problems:
        print("\nProblems:")
        for p in problems:
            print(f"  - {p}")
        return 1
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="orw-doctor-"))
    work.mkdir(parents=True, exist_ok=True)
    failed = gpu_doctor(gpu_cfg, work) if args.gpu_enable else 0
    if args.skip_dpo:
        return 1 if failed else 0
    print(f"\nShort DPO through openrlhf.cli.train_dpo on a tiny Llama (work dir {work}) ...", flush=True)
    result = run_short_dpo(work)
    print(f"  finished in {result['seconds']:.1f} s; checkpoint {result['checkpoint']}")
    print(f"  reloaded with transformers and generated {result['new_tokens']} tokens; log {result['log']}")
    if not args.skip_grpo:
        print("\nShort GRPO through openrlhf.cli.train_ppo_ray with the reward hook (cli.train_grpo) ...", flush=True)
        try:
            grpo = run_short_grpo(work)
        except RuntimeError as err:
            print(f"  FAILED: {err}")
            return 1
        engine = "the vLLM stand-in (transformers)" if grpo["standin"] else "vLLM"
        steps = ", ".join(f"{s:.2f}" for s in grpo["step_seconds"])
        print(
            f"  finished in {grpo['seconds']:.1f} s with rollouts on {engine}: {grpo['steps']} steps ({steps} s "
            f"each, the rest is start-up); {grpo['ledger_rows']} failures in the ledger; log {grpo['log']}"
        )
    if failed:
        print(f"\nThe CPU stack works; {failed} GPU check(s) failed (above).")
        return 1
    print("\nThe stack works.")
    return 0


def gpu_doctor(cfg: GPUDoctorConfig, work: Path) -> int:
    """Run the GPU checks, print one line each and return how many failed."""
    from openrlhf_weakness.demo.student import student_model
    from openrlhf_weakness.doctor.gpu import device_label, run_gpu_checks

    where = device_label(cfg.device)
    print(f"\nGPU checks on {where} (work dir {work}):", flush=True)

    def show(r) -> None:
        timing = f"{r.seconds:6.1f} s" if r.status != "skipped" else " " * 8
        print(f"  {r.name:<14}{r.status:<8}{timing}  {r.detail}", flush=True)

    results = run_gpu_checks(cfg, work, lambda: student_model(work / "models"), on_result=show)
    return sum(r.status == "failed" for r in results)


if __name__ == "__main__":
    raise SystemExit(main())
