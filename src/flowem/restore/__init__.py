"""EM restoration with a flow prior: operators, samplers, stitching, axial SR, baselines."""
