"""The doctor's checks in one place: :mod:`.stack` (the machine and the CPU stack, short DPO and GRPO runs) and
:mod:`.gpu` (each GPU component proved by a short real run). ``cli.doctor`` only parses flags and prints."""
