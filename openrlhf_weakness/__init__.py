"""openrlhf-weakness: make a specialist model better where it is weak (APT and STAT) on OpenRLHF's engines.

Importing the package stays light: no torch, deepspeed, vllm, ray or faiss until a function needs them.
"""

__version__ = "0.1.0"

# the OpenRLHF releases this package is tested with (openrlhf_weakness.compat checks them at every entry point)
SUPPORTED_OPENRLHF = ("0.11.0", "0.11.1", "0.11.2")
