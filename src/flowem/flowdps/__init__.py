"""The FlowDPS stage: phase retrieval of particle images with the flow prior and baselines.

Commands: ``flowdps`` (posterior sampling, one shard of particles), ``gather-flowdps``,
``baseline`` (one classical method), ``tune-retrieval`` (hyperparameters on the validation
particles), ``evaluate-flowdps`` (metrics, win rates and figures).
"""
