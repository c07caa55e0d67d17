"""Rewards for OpenRLHF's GRPO from this project's assessors, and the weakness ledger that keeps GRPO's failures."""
