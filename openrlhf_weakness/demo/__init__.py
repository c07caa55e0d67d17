"""The embedded demo: SmolLM2-135M-Instruct (offline GGUF) made better at reasoning-gym arithmetic by APT, on CPU."""
