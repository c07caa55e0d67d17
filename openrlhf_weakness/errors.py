"""The project's error for settings that cannot work (a missing model, an unknown rubric, a flag combination): a
command reports it in one line; any other exception is a bug and keeps its traceback."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting, or a file a setting names, that cannot work; the message names the flag."""
