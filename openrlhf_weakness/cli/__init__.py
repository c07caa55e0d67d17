"""Thin entry points, one per user action. Each applies the CPU patches before touching OpenRLHF."""
