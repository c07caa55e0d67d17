"""APT: weakness-case preference training with a hybrid DPO + SFT loss on OpenRLHF's DPO engine."""
