"""The A/B experiment as a library: arms that each train a model from the same student and the same training plan,
scoring through the answer-and-assess stage, paired statistics, and the report (``cli.compare``, ``cli.evaluate``)."""
