"""The summary page: every stage's tables and figures, the scale, provenance, no network."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from flowem.errors import ConfigError
from flowem.report.build import build_report, main


def build(tree, **params):
    return build_report(tree["results"], tree["page"], params, tree["resources"]).read_text()


def test_every_stage_appears_in_pipeline_order(tree):
    page = build(tree)
    order = ["data/structure", "prior/phase", "flowdps/test", "restore", "sip/1d", "provenance"]
    positions = [page.index(f'<h2 id="{re.sub("[^a-z0-9]+", "-", s)}">') for s in order]
    assert positions == sorted(positions)
    assert "Scale of this run: <strong>test</strong>" in page
    assert "not part of the report" not in page and "logs" not in re.findall(r"<h2[^>]*>", page)


def test_tables_carry_values_and_units(tree):
    page = build(tree)
    assert "<th>extent_x_a (Å)</th>" in page
    assert "<th>psnr_db (dB)</th>" in page and '<td class="num">24.1</td>' in page
    assert "<th>ssim (1)</th>" in page  # explicit unit mapping wins
    assert '<td>train_seconds</td><td class="num">12</td><td>s</td>' in page
    assert '<td>iterations</td><td class="num">25000</td>' in page  # not 2.5e+04
    assert "[100 values]" in page  # a curve is not dumped into a table
    assert "0.5671" in page  # the win-rate records
    assert "check_structure" in page and "<th>max_rss (MB)</th>" in page  # run cost


def test_figures_are_embedded_and_nothing_is_fetched(tree):
    page = build(tree)
    sources = re.findall(r'<img src="([^"]+)"', page)
    results = tree["results"]
    skipped = {"logs", "report"}  # a broken PNG in logs/, the page's own screenshot
    pngs = [p for p in results.rglob("*.png") if p.relative_to(results).parts[0] not in skipped]
    assert len(sources) == len(pngs) == 4
    for src in sources:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n"
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(link.startswith(("data:", "#")) for link in links), links
    assert "<script" not in page


def test_relative_image_links_resolve(tree):
    page = build(tree, embed_images=False)
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 4
    assert all((tree["page"].parent / s).resolve().is_file() for s in sources)


def test_provenance_lists_checksums_versions_and_config(tree):
    page = build(tree, config={"scale": "test", "seed": 0})
    toy = hashlib.sha256(b"END\n").hexdigest()
    assert toy in page and "pdb/toy.pdb" in page and "not in registry" in page
    assert "DIFFERS from registry" in page  # pdb/3j9i.pdb is not the registry's file
    assert "<td>numpy</td>" in page and "abc123" in page
    assert "&quot;seed&quot;: 0" in page


def test_an_empty_run_still_gives_a_page(tmp_path):
    (tmp_path / "results").mkdir()
    out = tmp_path / "results" / "report" / "index.html"
    page = build_report(tmp_path / "results", out, {"scale": "default"}, None).read_text()
    assert "No tables or figures" in page and "<strong>default</strong>" in page


def test_unknown_parameters_are_refused(tree):
    with pytest.raises(ConfigError, match="tittle"):
        build(tree, tittle="x")


def test_command_writes_page_and_config(tree, capsys):
    argv = ["--results", str(tree["results"]), "--out", str(tree["page"])]
    argv += ["--resources", str(tree["resources"]), "--params", '{"check_page": false}']
    assert main(argv) == 0
    assert tree["page"].is_file()
    config = json.loads((tree["page"].parent / "config.json").read_text())
    assert config["config"]["check_page"] is False and "provenance" in config
    assert main(["--results", str(tree["results"] / "absent"), "--out", str(tree["page"])]) == 1
    assert "results folder does not exist" in capsys.readouterr().err
