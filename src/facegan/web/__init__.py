"""Which Face Is Real: the web game, the lesson on the six tells, a fresh face per visit, the latent
explorer and the statistics of how often players are fooled."""
