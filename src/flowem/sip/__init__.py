"""SIP: cryo-EM as a stochastic inverse problem, solved by particle Wasserstein gradient flows.

Forward maps with random omega (``forward_1d``, ``nanocluster``, ``protein``), sample-set losses
(``losses``), the particle flow (``flow``), the discretise-then-optimise baseline (``baseline``),
the experiments of SPEC §7 (``experiments``, ``settings``) and the ``sip-fit`` command (``fit``).
"""
