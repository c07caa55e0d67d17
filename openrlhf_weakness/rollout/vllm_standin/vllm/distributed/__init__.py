"""vLLM stand-in: the weight-sync names OpenRLHF imports."""
