"""vLLM stand-in: communicators."""
