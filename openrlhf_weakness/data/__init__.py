"""The data core shared by APT, STAT and the reward hook: row labels and training-row validation. ``apt/`` and ``stat/``
sit side by side over it."""
