"""The page reuses the captions of Snakemake's report: the same text beside the same output."""

from __future__ import annotations

from pathlib import Path

from flowem.report.build import build_report, output_captions
from flowem.report.captions import caption_for, read_captions

WORKFLOW = Path(__file__).resolve().parents[2] / "workflow"


def test_every_flagged_output_has_its_caption():
    captions = read_captions(WORKFLOW)
    assert len(captions) >= 10
    samples = caption_for("prior/em/samples.png", captions)
    assert samples.startswith("Samples of the em prior")  # {{ snakemake.wildcards.kind }}
    dose = caption_for("flowdps/dose/metrics.json", captions)
    test = caption_for("flowdps/test/metrics.json", captions)
    assert dose and test and dose != test  # the specific pattern wins over flowdps/{pset}
    page = caption_for("report/index.html", captions, {"scale": "paper"})
    assert "at scale paper." in page and "{{" not in page and "``" not in page
    assert caption_for("flowdps/test/particles.csv", captions) == ""
    assert read_captions(None) == [] and read_captions(WORKFLOW / "absent") == []


def test_the_page_shows_the_captions(tree):
    page = build_report(tree["results"], tree["page"], {"captions": str(WORKFLOW)}, None)
    text = page.read_text()
    assert "Samples of the phase prior" in text
    assert "FlowDPS single-shot phase retrieval on one particle set" in text
    assert output_captions(tree["results"], None, None) == {}  # captions: null
