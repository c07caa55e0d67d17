"""APTTrainer against OpenRLHF's stock DPOTrainer on the same batch, with OpenRLHF's real args, model wrapper,
datasets (blending_datasets, RewardDataset) and dataloader. No DeepSpeed engine is needed to compare a loss and its
gradients, so the Actor runs as a plain module here; the CLI tests run the full DeepSpeed path."""

from __future__ import annotations

import os

import pytest
import torch

from openrlhf_weakness.io import write_jsonl
from openrlhf_weakness.launch import single_process_env

ROWS = [
    {
        "prompt": "What is 1 plus 2?",
        "chosen": "The answer is 3.",
        "rejected": "The answer is 6.",
        "source": "bad",
        "w": 1.0,
    },
    {"prompt": "What is 4 plus 4?", "chosen": "It is 8.", "rejected": "It is 11, I think.", "source": "bad", "w": 2.0},
    {"prompt": "What is 2 plus 2?", "chosen": "The answer is 4.", "source": "similar", "w": 0.5},
    {"prompt": "What is 5 plus 1?", "chosen": "Six.", "rejected": "Nine.", "source": "similar", "w": 1.0},
]


@pytest.fixture(scope="module")
def engine(tiny_model, tmp_path_factory):
    from openrlhf_weakness import openrlhf_cli, patches

    patches.apply()
    from openrlhf.datasets.utils import blending_datasets
    from openrlhf.models import Actor
    from openrlhf.utils import get_strategy, get_tokenizer

    work = tmp_path_factory.mktemp("apt-trainer")
    mixed = str(work / "mixed.jsonl")
    write_jsonl(mixed, ROWS)
    pairs = [{k: v for k, v in r.items() if k in ("prompt", "chosen", "rejected")} for r in ROWS if "rejected" in r]
    write_jsonl(work / "pairs.jsonl", pairs)
    argv = [
        "--model.model_name_or_path",
        str(tiny_model),
        "--data.dataset",
        mixed,
        "--data.prompt_key",
        "prompt",
        "--ckpt.output_dir",
        str(work / "out"),
        "--ds.attn_implementation",
        "eager",
        "--data.max_len",
        "64",
    ]
    args = openrlhf_cli.parse_args("openrlhf.cli.train_dpo", argv)
    saved_env = dict(os.environ)
    os.environ.update(single_process_env())
    strategy = get_strategy(args)
    strategy.setup_distributed()  # gloo, one process: all_reduce and the DistributedSampler are the real ones
    model = Actor(str(tiny_model), attn_implementation="eager", param_dtype="bf16")
    ref = Actor(str(tiny_model), attn_implementation="eager", param_dtype="bf16")
    tokenizer = get_tokenizer(str(tiny_model), model.model, "right", strategy)
    yield {
        "args": args,
        "strategy": strategy,
        "model": model,
        "ref": ref,
        "tokenizer": tokenizer,
        "mixed": blending_datasets(mixed, None, strategy),
        "pairs": blending_datasets(str(work / "pairs.jsonl"), None, strategy),
    }
    torch.distributed.destroy_process_group()
    os.environ.clear()
    os.environ.update(saved_env)


def _loader(engine, dataset):
    return engine["strategy"].setup_dataloader(dataset, 8, False, False, dataset.collate_fn, drop_last=False)


def _trainers(engine, apt_cfg, loader):
    from openrlhf.trainer.dpo_trainer import DPOTrainer

    from openrlhf_weakness.apt.trainer import APTTrainer

    common = dict(
        model=engine["model"],
        ref_model=engine["ref"],
        strategy=engine["strategy"],
        tokenizer=engine["tokenizer"],
        optim=None,
        train_dataloader=loader,
        eval_dataloader=None,
        scheduler=None,
        beta=0.1,
    )
    return DPOTrainer(**common), APTTrainer(**common, apt=apt_cfg)


def _stock_loss(trainer, batch, nll_coef):
    """The loss DPOTrainer.fit back-propagates, computed with DPOTrainer's own methods."""
    chosen_ids, c_mask, reject_ids, r_mask, prompt_lens = batch[:5]
    c, r, _, nll = trainer.concatenated_forward(trainer.model, chosen_ids, c_mask, reject_ids, r_mask, prompt_lens)
    with torch.no_grad():
        rc, rr, _, _ = trainer.concatenated_forward(
            trainer.ref_model, chosen_ids, c_mask, reject_ids, r_mask, prompt_lens
        )
    pref, _, _ = trainer.loss_fn(c, r, rc, rr)
    return pref + nll * nll_coef if nll_coef else pref


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    return grads


def _pairs_batch(engine, apt_cfg):
    from openrlhf_weakness.apt.dataset import APTRewardDataset

    ds = APTRewardDataset(engine["pairs"], engine["tokenizer"], 64, engine["strategy"], apt=apt_cfg)
    loader = _loader(engine, ds)
    return loader, next(iter(loader))


@pytest.mark.parametrize("nll_coef", [0.0, 0.3])
def test_alpha_zero_without_weights_matches_stock_dpo_loss_and_gradients(engine, nll_coef):
    from openrlhf_weakness.apt.config import APTTrainConfig

    engine["args"].model.nll_loss_coef = nll_coef
    cfg = APTTrainConfig(sft_coef=0.0)
    loader, batch = _pairs_batch(engine, cfg)
    stock, apt = _trainers(engine, cfg, loader)
    stock_loss = _stock_loss(stock, batch, nll_coef)
    apt_loss, _, _ = apt.batch_loss(batch)
    assert apt_loss.item() == pytest.approx(stock_loss.item(), rel=1e-6, abs=1e-7)
    g_stock, g_apt = _grads(engine["model"], stock_loss), _grads(engine["model"], apt_loss)
    assert len(g_stock) == len(g_apt) > 0
    for a, b in zip(g_stock, g_apt):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    engine["args"].model.nll_loss_coef = 0.0


def test_token_normalised_sft_term_equals_openrlhf_nll_and_sequence_sums(engine):
    from openrlhf_weakness.apt.config import APTTrainConfig

    cfg = APTTrainConfig(sft_coef=0.5, sft_norm="token")
    loader, batch = _pairs_batch(engine, cfg)
    stock, apt = _trainers(engine, cfg, loader)
    engine["args"].model.nll_loss_coef = 0.5
    stock_with_nll = _stock_loss(stock, batch, 0.5)  # OpenRLHF's --model.nll_loss_coef 0.5
    engine["args"].model.nll_loss_coef = 0.0
    token_loss, rows, _ = apt.batch_loss(batch)
    assert token_loss.item() == pytest.approx(stock_with_nll.item(), rel=1e-6)

    apt.apt = APTTrainConfig(sft_coef=0.5, sft_norm="sequence")
    seq_loss, seq_rows, _ = apt.batch_loss(batch)
    chosen_ids, c_mask, _, _, prompt_lens, _ = batch
    n_tokens = torch.tensor([int(m.sum()) - p for m, p in zip(c_mask.squeeze(1), prompt_lens)], dtype=torch.float32)
    # summed NLL = token-mean NLL * number of response tokens, row by row
    torch.testing.assert_close(seq_rows["sft_loss"], rows["sft_loss"] * n_tokens, rtol=1e-4, atol=1e-4)
    expected = seq_rows["loss"].sum() / 3 + 0.5 * seq_rows["sft_loss"].mean()
    assert seq_loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_sft_only_rows_weights_and_sources_survive_openrlhf_data_loading(engine):
    from openrlhf_weakness.apt.config import APTTrainConfig
    from openrlhf_weakness.apt.dataset import APTRewardDataset

    cfg = APTTrainConfig(sft_coef=0.5, weight_key="w")
    ds = APTRewardDataset(engine["mixed"], engine["tokenizer"], 64, engine["strategy"], apt=cfg)
    assert len(ds) == 4 and ds.sources == ["bad", "similar"]
    batch = next(iter(_loader(engine, ds)))
    meta = batch[5]
    assert meta["has_rejected"].tolist() == [True, True, False, True]
    assert meta["weight"].tolist() == [1.0, 2.0, 0.5, 1.0]
    assert meta["source"] == ["bad", "bad", "similar", "similar"]
    chosen_tokens, rejected_tokens = batch[0][2][batch[1][2].bool()], batch[2][2][batch[3][2].bool()]
    assert torch.equal(chosen_tokens, rejected_tokens)  # SFT-only row: placeholder rejected = chosen

    _, apt = _trainers(engine, cfg, _loader(engine, ds))
    loss, rows, _ = apt.batch_loss(batch)
    assert rows["loss"][2].item() == 0.0
    w = meta["weight"]
    expected = (rows["loss"] * w).sum() / 3 + 0.5 * (rows["sft_loss"] * w).sum() / 4
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    logs = apt._reduce(apt._accumulate(None, rows, {"has_rejected": meta["has_rejected"], "source": meta["source"]}))
    assert logs["similar/loss"] == pytest.approx(rows["loss"][3].item(), rel=1e-5)  # only the similar pair row
    assert logs["similar/chosen_logp"] == pytest.approx(rows["chosen_logp"][2:].mean().item(), rel=1e-5)
