"""The summary page: every stage's tables and figures, the scale, provenance, no network."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil

import pytest

from flowem.errors import ConfigError
from flowem.report.build import build_report, main
from flowem.report.collect import json_tables


def build(tree, **params):
    return build_report(tree["results"], tree["page"], params, tree["resources"]).read_text()


@pytest.fixture(scope="module")
def page(tree) -> str:
    """The page with default parameters, built once (charts take seconds to draw)."""
    return build(tree)


def test_findings_come_first_then_every_stage_in_pipeline_order(tree, page):
    assert page.index('id="finding-flowdps"') < page.index('id="finding-restoration"')
    assert page.index('id="finding-sip"') < page.index('id="details"')
    assert 'id="flowdps-table"' in page and 'id="flowdps-verdict">held<' in page
    order = ["data-structure", "prior-phase", "flowdps-test", "restore", "sip-1d", "provenance"]
    positions = [
        page.index(f'id="out-{s}"' if s != "provenance" else 'id="provenance"') for s in order
    ]
    assert positions == sorted(positions)
    stages = re.findall(r'<section id="stage-([a-z-]+)">', page)
    assert stages == ["data", "prior", "flowdps", "restore", "sip"]
    assert "Scale of this run: <strong>test</strong>" in page
    assert "3 min of rule time in total" in page  # 1 + 2 min of FlowDPS shards, 1.5 s
    assert 'href="report.zip"' in page  # Snakemake's report beside the page
    assert "not part of the report" not in page and "logs" not in re.findall(r"<h[23][^>]*>", page)


def test_details_are_folded(tree, page):
    assert re.search(r'<details class="output" id="out-flowdps-test"><summary>', page)
    assert "<details><summary>resolved configuration of this output</summary>" in page
    details = page[page.index('id="details"') :]
    assert "<table" not in details.split("<details", 1)[0]  # nothing unfolded before it


def test_tables_carry_values_and_units(tree, page):
    assert "<th>extent_x_a (Å)</th>" in page
    assert "<th>PSNR (dB)</th>" in page and "<td>24.10 [23.80, 24.40]</td>" in page
    assert '<td>train_seconds</td><td class="num">12</td><td>s</td>' in page
    assert '<td>energy.iterations</td><td class="num">25000</td>' in page  # not 2.5e+04
    metrics = tree["results"] / "flowdps" / "test" / "metrics.json"
    values = json_tables(json.loads(metrics.read_text()), "m", metrics)[0].frame["value"]
    assert "[100 values]" in set(values)  # a curve is not dumped into a table
    assert re.search(r"first 30 of \d\d rows; full table: metrics.json", page)
    assert "0.5671" not in page and "15/20 [0.53, 0.89]" in page  # the win rates
    assert "flowdps/test/1-of-2" in page and "<th>max_rss (MB)</th>" in page  # run cost


def test_figures_are_embedded_linked_and_nothing_is_fetched(tree, page):
    folder = tree["page"].parent
    sources = re.findall(r'<img src="([^"]+)"', page)
    results = tree["results"]
    skipped = {"logs", "report"}  # a broken PNG in logs/, the page's own screenshots
    pngs = [p for p in results.rglob("*.png") if p.relative_to(results).parts[0] not in skipped]
    charts = list((folder / "figures").glob("finding_*.png"))
    assert len(charts) == 8  # every finding with numbers to compare; not the dose (dose.png)
    shown = len(pngs) + len(charts) + 1  # + the rule times
    # a stage figure appears once in its folder's section and again beside its finding
    assert len(sources) == shown + 5
    for src in sources:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n"
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    local = [link for link in links if not link.startswith(("data:", "#"))]
    assert set(local) - {"report.zip"} == {
        f"figures/{p.name}" for p in (folder / "figures").iterdir()
    }  # the full-resolution copies, inside the report folder
    assert all(":" not in link and not link.startswith("/") for link in local)
    assert "<script" not in page


def test_relative_image_links_resolve_in_a_copied_folder(tree, tmp_path):
    build(tree, embed_images=False)
    copy = tmp_path / "copied"
    shutil.copytree(tree["page"].parent, copy)
    page = (copy / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) > 10
    assert all((copy / s).is_file() for s in sources)


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
