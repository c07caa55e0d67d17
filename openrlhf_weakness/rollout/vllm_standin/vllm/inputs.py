"""vLLM stand-in: the token prompt OpenRLHF hands to ``generate``."""


class TokensPrompt(dict):
    """A dict with ``prompt_token_ids`` (and optionally ``multi_modal_data``, which the stand-in does not read)."""
