"""The run's answers: each finding is a small function from metrics documents (parsed JSON)
to a :class:`Finding` — a sentence computed from the numbers, a verdict on the claim at this
run's scale, a table, a chart to draw and the stage figures to show beside it.

Verdicts test the targets of the project's issues: FlowDPS beats every baseline with the
paired 95% interval of the PSNR difference above 0; the 90% posterior intervals cover 85-95%
of pixels; the best flow restoration is within 0.3 dB of the supervised network and ahead of
every classical baseline on every task; flow restoration is at least 10x faster than
diffusion DPS at no more than 0.5 dB loss; SIP ends closer to the true law than it starts
(and within the noise floor where one is given; 1D W1 under the paper's 0.2); the phase
prior's ``energy_distance_ratio`` is at most 3. A finding whose inputs are absent or in a
shape it does not know is kept, with verdict ``unknown`` and a note saying why.

``base``: :class:`Finding`, :class:`Panel` and the readers of numbers and intervals;
``flowdps``, ``restore`` and ``distributions`` (SIP and the priors): the findings;
:func:`gather`: every finding of a results folder, the FlowDPS headline first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowem.errors import InputFileError
from flowem.io import read_json, read_table
from flowem.report.findings.base import (  # noqa: F401 (the package's names)
    HELD,
    NOT_HELD,
    UNKNOWN,
    Finding,
    Panel,
    interval,
)
from flowem.report.findings.distributions import (  # noqa: F401
    PRIOR_RATIO_TARGET,
    SIP_PAPER,
    SIP_PAPER_SOURCE,
    prior_quality,
    sip,
    sip_rows,
)
from flowem.report.findings.flowdps import (  # noqa: F401
    COVERAGE_90_RANGE,
    flowdps_calibration,
    flowdps_dose,
    flowdps_headline,
    flowdps_mismatch,
    real_particles,
)
from flowem.report.findings.restore import (  # noqa: F401
    PSNR_MARGIN_SUPERVISED_DB,
    SPEEDUP_TARGET,
    method_kind,
    restoration,
    restoration_speed,
)


def _document(path: Path) -> Any:
    """A JSON or CSV document of the run, or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        if path.suffix == ".csv":
            return read_table(path).to_dict(orient="records")
        return read_json(path)
    except (InputFileError, ValueError, OSError):
        return None


def _pngs(folder: Path, *patterns: str) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns or ("*.png",):
        found += [p for p in sorted(folder.glob(pattern)) if p not in found]
    return found


def gather(results: str | Path) -> list[Finding]:
    """Every finding of the run under ``results``, the FlowDPS headline first."""
    results = Path(results)
    flowdps = results / "flowdps"
    test = _document(flowdps / "test" / "metrics.json")
    real_name, real = "", None
    for path in sorted(flowdps.glob("*/metrics.json")) if flowdps.is_dir() else []:
        doc = _document(path)
        if isinstance(doc, Mapping) and str(doc.get("reference", "")).startswith("none"):
            real_name, real = path.parent.name, doc
            break
    sip_dir = results / "sip"
    experiments = {
        p.parent.name: d
        for p in (sorted(sip_dir.glob("*/metrics.json")) if sip_dir.is_dir() else [])
        if isinstance(d := _document(p), Mapping)
    }
    summary = _document(sip_dir / "summary.json") or _document(sip_dir / "summary.csv")
    priors = {k: _document(results / "prior" / k / "metrics.json") for k in ("phase", "em")}
    restore = _document(results / "restore" / "metrics.json")
    return [
        flowdps_headline(
            test, _pngs(flowdps / "test", "reconstructions.png", "comparison.png", "frc.png")
        ),
        flowdps_calibration(
            test, _pngs(flowdps / "test", "*reliab*.png", "*calibration*.png", "*coverage*.png")
        ),
        flowdps_dose(_document(flowdps / "dose" / "metrics.json"), _pngs(flowdps / "dose")),
        flowdps_mismatch(
            test,
            _document(flowdps / "mismatch" / "metrics.json"),
            _pngs(flowdps / "mismatch", "reconstructions.png", "comparison.png"),
        ),
        restoration(restore, _pngs(results / "restore" / "figures")),
        restoration_speed(restore, _pngs(results / "restore", "*speed*.png")),
        sip(experiments, summary, [p for e in experiments for p in _pngs(sip_dir / e)]),
        prior_quality(
            priors, [p for k in priors for p in _pngs(results / "prior" / k, "samples.png")]
        ),
        real_particles(
            real, real_name, _pngs(flowdps / real_name, "reconstructions.png") if real_name else []
        ),
    ]
