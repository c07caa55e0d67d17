"""``APTTrainer``: OpenRLHF's ``DPOTrainer`` with APT's hybrid loss, row weights, SFT-only rows, per-source logs and
a chosen log-probability collapse guard. Checkpointing, evaluation scheduling and loggers are the parent's."""

from __future__ import annotations

import json
import logging
import os

import torch
from openrlhf.trainer.dpo_trainer import DPOTrainer
from openrlhf.utils.distributed_sampler import DistributedSampler
from tqdm import tqdm

from openrlhf_weakness.apt.collapse_guard import ChosenLogpGuard
from openrlhf_weakness.apt.config import APTTrainConfig
from openrlhf_weakness.apt.hybrid_loss import hybrid_loss
from openrlhf_weakness.io import write_json

log = logging.getLogger(__name__)

# metric name -> which rows it averages over ("all" rows, or only "pairs" with a rejected answer)
ROW_METRICS = {
    "loss": "pairs",
    "sft_loss": "all",
    "acc": "pairs",
    "chosen_logp": "all",
    "rejected_logp": "pairs",
    "margin": "pairs",
    "chosen_reward": "pairs",
    "reject_reward": "pairs",
}


class APTTrainer(DPOTrainer):
    """DPO + alpha * SFT on weakness pairs; ``apt`` holds the ``--apt.*`` flags."""

    def __init__(self, *args, apt: APTTrainConfig | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.apt = apt or APTTrainConfig()
        self.guard = ChosenLogpGuard(self.apt.chosen_logp_drop_max, self.apt.guard_window)
        self.sources = list(getattr(self.train_dataloader.dataset, "sources", []))
        out_dir = self.args.ckpt.output_dir
        self.metrics_path = self.apt.metrics_file or os.path.join(out_dir, "apt_metrics.jsonl")
        self.stop_reason: str | None = None
        self.history: list[dict] = []

    # ---- one batch -------------------------------------------------------------------------------------------
    def _row_logps(self, model, chosen_ids, c_mask, reject_ids, r_mask, prompt_lens):
        """Summed and per-token-mean response log-probabilities per row, for chosen and rejected, in one forward."""
        input_ids, att_masks, both_prompt_lens = self.concatenated_inputs(
            chosen_ids, c_mask, reject_ids, r_mask, prompt_lens
        )
        log_probs, output = model(
            input_ids,
            attention_mask=att_masks,
            return_output=True,
            return_logprobs=True,
            ring_attn_group=self.strategy.ring_attn_group,
        )
        sums, means = self._get_batch_logps(log_probs, att_masks, both_prompt_lens)
        n = chosen_ids.shape[0]
        aux = output.aux_loss if "aux_loss" in output else 0
        return sums[:n], sums[n:], means[:n], means[n:], aux

    def batch_loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
        """Loss to back-propagate, per-row statistics (detached) and the batch's APT meta."""
        chosen_ids, c_mask, reject_ids, r_mask, prompt_lens, meta = batch
        device = next(self.model.parameters()).device
        chosen_ids, c_mask = chosen_ids.squeeze(1).to(device), c_mask.squeeze(1).to(device)
        reject_ids, r_mask = reject_ids.squeeze(1).to(device), r_mask.squeeze(1).to(device)
        has_rejected, weights = meta["has_rejected"].to(device), meta["weight"].to(device)

        c_sum, r_sum, c_mean, r_mean, aux = self._row_logps(
            self.model, chosen_ids, c_mask, reject_ids, r_mask, prompt_lens
        )
        with torch.no_grad():
            ref_c_sum, ref_r_sum, _, _, _ = self._row_logps(
                self.ref_model, chosen_ids, c_mask, reject_ids, r_mask, prompt_lens
            )
        chosen_nll = -c_mean if self.apt.sft_norm == "token" else -c_sum
        out = hybrid_loss(
            c_sum,
            r_sum,
            ref_c_sum,
            ref_r_sum,
            chosen_nll,
            has_rejected,
            weights,
            beta=self.beta,
            sft_coef=self.apt.sft_coef,
            label_smoothing=self.args.model.label_smoothing,
            ipo=self.args.model.ipo_enable,
        )
        loss = out.loss
        if self.aux_loss:
            loss = loss + aux * self.args.model.aux_loss_coef
        if self.nll_loss:  # OpenRLHF's own NLL flag keeps its meaning: unweighted token-mean NLL of chosen
            loss = loss - c_mean.mean() * self.args.model.nll_loss_coef
        rows = {
            "loss": out.per_row_preference.detach(),
            "sft_loss": chosen_nll.detach(),
            "acc": (out.chosen_reward > out.rejected_reward).float(),
            "chosen_logp": c_mean.detach(),
            "rejected_logp": r_mean.detach(),
            "margin": out.chosen_reward - out.rejected_reward,
            "chosen_reward": out.chosen_reward,
            "reject_reward": out.rejected_reward,
        }
        return loss, rows, {"has_rejected": has_rejected, "source": meta["source"]}

    def _accumulate(self, totals: torch.Tensor | None, rows: dict, meta: dict) -> torch.Tensor:
        """Add this batch's per-row values to a [2, groups, metrics] tensor of (sums, counts); groups are all rows
        and then each source. One tensor, so no host sync per metric."""
        pairs = meta["has_rejected"].float()
        values = torch.stack([rows[name].float() for name in ROW_METRICS])
        pair_only = torch.tensor([over == "pairs" for over in ROW_METRICS.values()], device=pairs.device)
        row_masks = torch.where(pair_only[:, None], pairs[None, :], torch.ones_like(values))
        groups = [torch.ones_like(pairs)] + [
            torch.tensor([float(x == s) for x in meta["source"]], device=pairs.device) for s in self.sources
        ]
        masks = torch.stack(groups)[:, None, :] * row_masks[None]
        batch = torch.stack([(masks * values[None]).sum(-1), masks.sum(-1)])
        return batch if totals is None else totals + batch

    def _reduce(self, totals: torch.Tensor) -> dict:
        """Sum over ranks, then divide: every rank gets the same means; a metric with no rows is left out."""
        sums, counts = self.strategy.all_reduce(totals, op="sum").tolist()
        logs = {}
        for g, prefix in enumerate([""] + [f"{s}/" for s in self.sources]):
            for m, name in enumerate(ROW_METRICS):
                if counts[g][m] > 0:
                    logs[prefix + name] = sums[g][m] / counts[g][m]
        return logs

    # ---- training loop ---------------------------------------------------------------------------------------
    def fit(self, args, consumed_samples=0, num_update_steps_per_epoch=None):
        steps_per_epoch = num_update_steps_per_epoch or len(self.train_dataloader)
        if steps_per_epoch <= 0:
            raise ValueError("APT training set is smaller than one global batch (--train.batch_size)")
        if args.eval.steps == -1:
            args.eval.steps = steps_per_epoch
        if args.ckpt.save_steps == -1:
            args.ckpt.save_steps = float("inf")
        accum = self.strategy.accumulated_gradient
        global_step = consumed_samples // args.train.batch_size
        start_epoch = global_step // steps_per_epoch
        skip_in_epoch = consumed_samples % (steps_per_epoch * args.train.batch_size)
        if self.strategy.is_rank_0() and consumed_samples == 0 and os.path.exists(self.metrics_path):
            os.remove(self.metrics_path)

        micro_step = global_step * accum
        totals = None
        epoch_bar = tqdm(range(start_epoch, self.epochs), desc="APT epoch", disable=not self.strategy.is_rank_0())
        for epoch in range(start_epoch, self.epochs):
            if isinstance(self.train_dataloader.sampler, DistributedSampler):
                self.train_dataloader.sampler.set_epoch(
                    epoch, consumed_samples=skip_in_epoch if epoch == start_epoch else 0
                )
            step_bar = tqdm(
                range(len(self.train_dataloader)),
                desc=f"APT step of epoch {epoch}",
                disable=not self.strategy.is_rank_0(),
            )
            self.model.train()
            self.ref_model.eval()
            for batch in self.train_dataloader:
                loss, rows, meta = self.batch_loss(batch)
                self.strategy.backward(loss, self.model, self.optimizer)
                self.strategy.optimizer_step(self.optimizer, self.model, self.scheduler)
                totals = self._accumulate(totals, rows, meta)
                micro_step += 1
                step_bar.update()
                if micro_step % accum:
                    continue
                global_step = micro_step // accum
                logs = self._reduce(totals)
                totals = None
                logs["lr"] = self.scheduler.get_last_lr()[0]
                logs["grad_norm"] = self.strategy.get_grad_norm(self.model)
                self._after_global_step(epoch, global_step, logs)
                step_bar.set_postfix({k: float(f"{v:.4g}") for k, v in logs.items() if "/" not in k})
                client_states = {"consumed_samples": global_step * args.train.batch_size}
                self.save_logs_and_checkpoints(args, global_step, step_bar, logs, client_states)
                if self.stop_reason:
                    break
            epoch_bar.update()
            if self.stop_reason:
                break
        self._write_summary()
        if self._wandb is not None and self.strategy.is_rank_0():
            self._wandb.finish()
        if self._tensorboard is not None and self.strategy.is_rank_0():
            self._tensorboard.close()

    def _after_global_step(self, epoch: int, global_step: int, logs: dict) -> None:
        """Collapse guard and the per-step metrics file."""
        if "chosen_logp" in logs:
            drop = self.guard.update(global_step, logs["chosen_logp"])
            logs["chosen_logp_drop"] = self.guard.drop()
            if drop is not None and self.strategy.is_rank_0():
                log.warning(
                    "\n" + "!" * 100 + f"\n[APT] WARNING: mean chosen log-probability fell by {drop:.3f} nats/token "
                    f"(limit --apt.chosen_logp_drop_max {self.apt.chosen_logp_drop_max}) at global step {global_step}.\n"
                    "This is APT's collapse signature: lower the learning rate, raise --apt.sft_coef, or check the "
                    "pairs.\n" + "!" * 100
                )
            if drop is not None and self.apt.stop_on_collapse_enable:
                self.stop_reason = f"chosen log-probability fell by {drop:.3f} nats/token at step {global_step}"
                if self.strategy.is_rank_0():
                    log.warning(f"[APT] stopping: {self.stop_reason} (--apt.stop_on_collapse_enable)")
        record = {"global_step": global_step, "epoch": epoch, **logs}
        self.history.append(record)
        if self.strategy.is_rank_0():
            os.makedirs(os.path.dirname(os.path.abspath(self.metrics_path)), exist_ok=True)
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def _write_summary(self) -> None:
        if not self.strategy.is_rank_0():
            return
        summary = {
            "steps": len(self.history),
            "first": self.history[0] if self.history else None,
            "last": self.history[-1] if self.history else None,
            "guard": {"max_drop": self.guard.max_drop, "drop": self.guard.drop(), "tripped_at": self.guard.tripped_at},
            "stopped_early": self.stop_reason,
            "config": vars(self.apt),
        }
        path = os.path.join(os.path.dirname(os.path.abspath(self.metrics_path)), "apt_summary.json")
        write_json(path, summary)

    # ---- evaluation ------------------------------------------------------------------------------------------
    def evaluate(self, eval_dataloader, steps=0):
        self.model.eval()
        totals = None
        bar = tqdm(eval_dataloader, desc=f"APT eval at step {steps}", disable=not self.strategy.is_rank_0())
        with torch.no_grad():
            for batch in bar:
                _, rows, meta = self.batch_loss(batch)
                totals = self._accumulate(totals, rows, meta)
        logs = {f"eval_{k}": v for k, v in self._reduce(totals).items()} if totals is not None else {}
        if self.strategy.is_rank_0():
            log.info(
                f"[APT] eval at step {steps}: " + ", ".join(f"{k}={v:.4f}" for k, v in logs.items() if "/" not in k)
            )
            if self._wandb is not None:
                self._wandb.log({f"eval/{k}": v for k, v in {**logs, "global_step": steps}.items()})
            elif self._tensorboard is not None:
                for k, v in logs.items():
                    self._tensorboard.add_scalar(f"eval/{k}", v, steps)
        self.model.train()
        return logs
