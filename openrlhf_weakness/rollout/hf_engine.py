"""The stand-in for vLLM's ``AsyncLLMEngine``: transformers generation behind the calls OpenRLHF makes on an engine.

Requests that arrive together (OpenRLHF fires every sample of a batch at once) are batched into one left-padded
``generate`` call per set of sampling settings, run in a thread so the actor's event loop keeps taking requests,
the reward hook's calls among them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass

from openrlhf_weakness.rollout import set_policy_step
from openrlhf_weakness.rollout.sampling import CompletionOutput, Logprob, RequestOutput, SamplingParams
from openrlhf_weakness.rollout.trace import Trace

logger = logging.getLogger(__name__)

DTYPE_ENV = "ORW_STANDIN_DTYPE"  # auto (float32 on a CPU, the asked dtype elsewhere), float32, bfloat16, float16
MAX_BATCH_ENV = "ORW_STANDIN_MAX_BATCH"
BATCH_WINDOW_S = 0.02  # how long the first request of a batch waits for others to join


class StandInError(RuntimeError):
    """A call the vLLM stand-in cannot answer (named, instead of failing somewhere inside OpenRLHF)."""


class AsyncEngineArgs:
    """Holds the keyword arguments OpenRLHF passes to vLLM's engine arguments."""

    def __init__(self, model: str | None = None, **kwargs):
        self.model = model
        self.kwargs = kwargs


@dataclass
class _Request:
    prompt_token_ids: list[int]
    params: SamplingParams
    request_id: str
    future: asyncio.Future


class _UnfinishedCount:
    """vLLM's ``output_processor``, as far as OpenRLHF asks it (load balancing across engines)."""

    def __init__(self):
        self.count = 0

    def get_num_unfinished_requests(self) -> int:
        return self.count


class HFRolloutEngine:
    """vLLM stand-in (transformers generation): the async engine OpenRLHF's ``RolloutRayActor`` drives."""

    @classmethod
    def from_engine_args(cls, engine_args: AsyncEngineArgs) -> "HFRolloutEngine":
        return cls(engine_args.model, **engine_args.kwargs)

    def __init__(self, model: str, seed: int = 0, max_model_len: int | None = None, dtype: str = "auto", **kwargs):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tensor_parallel_size = int(kwargs.get("tensor_parallel_size") or 1)
        self.max_model_len = max_model_len
        self.dtype = _resolve_dtype(dtype)
        torch.manual_seed(seed)
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=bool(kwargs.get("trust_remote_code")))
        self.model = AutoModelForCausalLM.from_pretrained(
            model, dtype=self.dtype, trust_remote_code=bool(kwargs.get("trust_remote_code"))
        ).eval()
        self._params = dict(self.model.named_parameters())
        config_eos = self.model.generation_config.eos_token_id
        eos = config_eos if isinstance(config_eos, list) else [config_eos]
        self.eos_ids = sorted({i for i in [*eos, self.tokenizer.eos_token_id] if i is not None})
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.max_batch = int(os.environ.get(MAX_BATCH_ENV, "64"))
        self.output_processor = _UnfinishedCount()
        self._pending: list[_Request] = []
        self._batcher: asyncio.Task | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._sleep_level = 0
        self._weights_valid = True
        self._sync = None
        self._sync_round = 0
        self._received = 0
        self.trace = Trace.from_env()
        self.state_digest = self._state_digest()
        set_policy_step(1)
        logger.warning(
            "vLLM stand-in: this rollout engine generates with transformers (HF) on %s in %s, not vLLM "
            "(for CPU hosts, CI and debugging; slower than vLLM)",
            model,
            self.dtype,
        )
        self.trace.write(event="engine_start", model=model, dtype=str(self.dtype), digest=self.state_digest)

    # ----- generation -------------------------------------------------------------------------------------------
    async def generate(self, prompt, sampling_params: SamplingParams, request_id: str):
        """Yield one finished ``RequestOutput`` (vLLM streams partial ones; OpenRLHF keeps only the last)."""
        if self._sleep_level:
            raise StandInError("vLLM stand-in: generate called while the engine sleeps (wake_up first)")
        if not self._weights_valid:
            raise StandInError("vLLM stand-in: generate called after sleep(level=2) and before a weight sync")
        ids = list(prompt["prompt_token_ids"] if isinstance(prompt, dict) else prompt)
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(ids, sampling_params, request_id, future))
        self.output_processor.count += 1
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._run_batches())
        try:
            output = await future
        finally:
            self.output_processor.count -= 1
        yield output

    async def _run_batches(self) -> None:
        while self._pending:
            await asyncio.sleep(BATCH_WINDOW_S)
            await self._resumed.wait()
            taken, self._pending = self._pending, []
            groups: dict[tuple, list[_Request]] = {}
            for request in taken:
                groups.setdefault(request.params.batch_key(), []).append(request)
            for requests in groups.values():
                for start in range(0, len(requests), self.max_batch):
                    chunk = requests[start : start + self.max_batch]
                    try:
                        outputs = await asyncio.to_thread(self._generate_batch, chunk)
                    except Exception as err:  # every waiting request learns why, none hangs
                        for request in chunk:
                            if not request.future.done():
                                request.future.set_exception(err)
                        continue
                    for request, output in zip(chunk, outputs):
                        if not request.future.done():
                            request.future.set_result(output)

    def _generate_batch(self, requests: list[_Request]) -> list[RequestOutput]:
        import torch
        from transformers import GenerationConfig

        started = time.perf_counter()
        params = requests[0].params
        n = max(1, int(params.n))
        prompts = [r.prompt_token_ids for r in requests for _ in range(n)]
        width = max(len(p) for p in prompts)
        max_new = params.max_tokens if params.max_tokens is not None else 16
        if self.max_model_len and width + max_new > self.max_model_len:
            raise StandInError(
                f"vLLM stand-in: prompt of {width} tokens + {max_new} new exceeds max_model_len {self.max_model_len}"
            )
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        sampled = params.temperature > 0
        config = GenerationConfig(
            max_new_tokens=max_new,
            min_new_tokens=params.min_tokens or None,
            do_sample=sampled,
            temperature=params.temperature if sampled else None,
            top_p=params.top_p if sampled else None,
            top_k=(params.top_k if params.top_k > 0 else 0) if sampled else None,
            eos_token_id=sorted({*self.eos_ids, *(params.stop_token_ids or [])}),
            pad_token_id=self.pad_id,
            stop_strings=params.stop_strings() or None,
            output_scores=params.logprobs is not None,
            return_dict_in_generate=True,
        )
        extra = {"tokenizer": self.tokenizer} if params.stop_strings() else {}
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention, generation_config=config, **extra)
        new_tokens = out.sequences[:, width:].tolist()
        logprobs = None
        if params.logprobs is not None:
            log_dist = torch.log_softmax(torch.stack(out.scores, dim=1).float(), dim=-1)  # processed (vLLM's mode)
            chosen = out.sequences[:, width:].unsqueeze(-1)
            logprobs = log_dist.gather(-1, chosen).squeeze(-1).tolist()
        results = []
        for index, request in enumerate(requests):
            completions = [
                self._completion(k, new_tokens[index * n + k], logprobs and logprobs[index * n + k], params, max_new)
                for k in range(n)
            ]
            results.append(RequestOutput(request.request_id, request.prompt_token_ids, completions))
        self.trace.write(
            event="generate",
            requests=len(requests),
            samples=len(prompts),
            seconds=round(time.perf_counter() - started, 4),
            digest=self.state_digest,
            sync_round=self._sync_round,
        )
        return results

    def _completion(self, index, tokens, logprobs, params: SamplingParams, max_new) -> CompletionOutput:
        stops = set(self.eos_ids) | set(params.stop_token_ids or [])
        finish = "length"
        end = len(tokens)
        for position, token in enumerate(tokens):
            if token in stops:
                end, finish = position + 1, "stop"  # vLLM keeps the stop token among the ids
                break
        tokens = tokens[:end]
        text = self.tokenizer.decode(tokens, skip_special_tokens=params.skip_special_tokens)
        for stop in params.stop_strings():
            if stop in text:
                finish = "stop"
                text = text[: text.index(stop) + (len(stop) if params.include_stop_str_in_output else 0)]
        if finish == "length" and len(tokens) < max_new:
            finish = "stop"
        token_logprobs = None
        if logprobs is not None:
            token_logprobs = [{t: Logprob(lp, rank=1)} for t, lp in zip(tokens, logprobs[:end])]
        cumulative = sum(logprobs[:end]) if logprobs is not None else None
        return CompletionOutput(index, text, tokens, cumulative, token_logprobs, finish)

    # ----- weight sync ------------------------------------------------------------------------------------------
    async def collective_rpc(self, method: str, args=(), kwargs=None):
        handler = {
            "init_process_group": self._init_process_group,
            "update_weight": self._update_weight,
            "update_weight_cuda_ipc": self._update_weight_cuda_ipc,
        }.get(method)
        if handler is None:
            raise StandInError(f"vLLM stand-in: collective_rpc({method!r}) is not supported")
        return [await asyncio.to_thread(handler, *args, **(kwargs or {}))]

    def _init_process_group(self, master_address, master_port, rank_offset, world_size, group_name, backend, use_ray):
        from openrlhf_weakness.rollout.weight_sync import EngineSyncGroup

        if use_ray:
            raise StandInError(
                "vLLM stand-in: --vllm.sync_with_ray is not supported (Ray's collective reuses the default process "
                "group with gloo); leave it off"
            )
        self._sync = EngineSyncGroup(master_address, master_port, rank_offset, self.tensor_parallel_size, world_size)
        self.trace.write(event="sync_group", rank_offset=rank_offset, world_size=world_size, backend=backend)

    def _update_weight(self, name, dtype, shape, empty_cache=False):
        import torch

        from openrlhf_weakness.rollout.weight_sync import tensor_digest

        if self._sync is None:
            raise StandInError("vLLM stand-in: update_weight before init_process_group")
        tensor = self._sync.receive(shape, dtype)
        param = self._params.get(name)
        if param is None:
            raise StandInError(f"vLLM stand-in: the policy sent weight {name!r}, which this engine's model lacks")
        if tuple(param.shape) != tuple(tensor.shape):
            raise StandInError(
                f"vLLM stand-in: weight {name!r} has shape {tuple(tensor.shape)}, expected {param.shape}"
            )
        with torch.no_grad():
            param.copy_(tensor.to(param.dtype))
        self._received += 1
        if self.trace.enabled:
            self.trace.write(event="recv", name=name, digest=tensor_digest(tensor))
        if empty_cache:  # OpenRLHF marks a round's last weight so
            self._weights_valid = self._received >= len(self._params)
            self._received = 0
            self._sync_round += 1
            set_policy_step(self._sync_round + 1)
            self.state_digest = self._state_digest()
            self.trace.write(event="sync", round=self._sync_round, digest=self.state_digest)

    def _update_weight_cuda_ipc(self, *args, **kwargs):
        raise StandInError("vLLM stand-in: CUDA IPC weight sync needs GPUs; use --vllm.sync_backend gloo")

    def _state_digest(self) -> str:
        from openrlhf_weakness.rollout.weight_sync import state_digest

        return state_digest(self.model.named_parameters()) if self.trace.enabled else ""

    # ----- engine state -----------------------------------------------------------------------------------------
    async def is_sleeping(self) -> bool:
        return bool(self._sleep_level)

    async def reset_prefix_cache(self) -> bool:
        return True  # transformers keeps no cache between requests

    async def pause_generation(self, mode: str = "keep", **_ignored) -> None:
        self._resumed.clear()  # requests queue; none is dropped ("keep")

    async def resume_generation(self) -> None:
        self._resumed.set()

    async def sleep(self, level: int = 1) -> None:
        """Level 1 keeps the weights (no KV cache to free here); level 2 discards them, as vLLM does, until the next
        weight sync."""
        if level >= 2:
            self.model.to_empty(device="meta")
            self._weights_valid = False
        self._sleep_level = level
        self.trace.write(event="sleep", level=level)

    async def wake_up(self, tags: list[str] | None = None) -> None:
        if self.model.device.type == "meta" and (tags is None or "weights" in tags):
            self.model.to_empty(device="cpu")
            self._params = dict(self.model.named_parameters())
        if tags is None or "kv_cache" in tags or self._sleep_level == 1:
            self._sleep_level = 0
        self.trace.write(event="wake_up", tags=tags)


def _resolve_dtype(asked: str):
    import torch

    choice = os.environ.get(DTYPE_ENV, "auto")
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    names.update({"float16": torch.float16, "fp16": torch.float16})
    if choice == "auto":
        # OpenRLHF asks for bfloat16 whatever it trains in; a CPU emulates bf16 and generates several times slower
        return torch.float32 if not torch.cuda.is_available() else names.get(str(asked), torch.bfloat16)
    if choice not in names:
        raise StandInError(f"{DTYPE_ENV}={choice!r}: expected auto, float32, bfloat16 or float16")
    return names[choice]
