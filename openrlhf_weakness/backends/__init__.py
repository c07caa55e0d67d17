"""Text generation for both methods: ``hf`` (transformers), ``vllm`` (engines on Ray), ``openai`` (any
OpenAI-compatible server), all behind one call with an on-disk response cache (:mod:`.driver`)."""
