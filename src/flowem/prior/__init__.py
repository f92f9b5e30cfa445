"""Flow-matching prior: velocity network, linear CFM path, training, ODE sampling, quality.

The prior is data-agnostic: it learns a distribution of single-channel images from MRC stacks
and knows nothing of microscopes. Time convention (SPEC section 1): t = 0 is noise, t = 1 is data.
"""
