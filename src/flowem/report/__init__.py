"""The run report: ``results/report/index.html`` with every stage's tables and figures, the
scale of the run and its provenance (:mod:`flowem.report.build`, the ``report`` command),
shared matplotlib figures (:mod:`flowem.report.figures`) and a headless-browser check of the
page (:mod:`flowem.report.browser`)."""
