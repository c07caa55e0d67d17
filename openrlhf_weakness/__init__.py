"""openrlhf-weakness: make a specialist model better where it is weak (APT and STAT) on OpenRLHF's engines.

Importing the package stays light: no torch, deepspeed, vllm, ray or faiss until a function needs them.
"""

__version__ = "0.1.0"

SUPPORTED_OPENRLHF = ("0.11.2",)
