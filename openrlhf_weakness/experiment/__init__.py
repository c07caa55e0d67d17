"""The quality experiment: a controlled domain, the arms, and the statistics that say whether a method helped."""
