"""STAND-IN for vLLM, from openrlhf-weakness: transformers generation behind the names OpenRLHF 0.11.x imports.

Not vLLM. On ``sys.path`` only where the real vLLM cannot be imported (``openrlhf_weakness.cli.train_grpo``).
"""

from openrlhf_weakness.rollout import STANDIN_VERSION as __version__  # noqa: F401
from openrlhf_weakness.rollout.hf_engine import AsyncEngineArgs  # noqa: F401
from openrlhf_weakness.rollout.hf_engine import HFRolloutEngine as AsyncLLMEngine  # noqa: F401
from openrlhf_weakness.rollout.sampling import RequestOutput, SamplingParams  # noqa: F401

IS_STANDIN = True
