"""The package's layering (README "Architecture"): each layer imports only those it may."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "flowem"
BASE = {"errors", "io", "runtime", "settings", "config", "command"}
STAGES = {"data", "flowdps", "restore", "sip", "report", "fetch"}

#: layer -> the flowem modules it may import (besides itself)
ALLOWED = {
    "physics": {"errors"},
    "prior": BASE | {"metrics"},
    "metrics": BASE | {"fetch"},
    "posterior": {"errors", "settings", "physics", "prior"},
    "retrieval": {"errors", "settings", "physics", "posterior"},
}


def imported_layers(layer: str) -> set[str]:
    found = set()
    for path in (PACKAGE / layer).rglob("*.py"):
        found |= set(re.findall(r"^\s*(?:from|import) flowem\.(\w+)", path.read_text(), re.M))
    return found - {layer}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer):
    assert imported_layers(layer) <= ALLOWED[layer], imported_layers(layer) - ALLOWED[layer]


def test_posterior_knows_no_network_and_stages_stay_apart():
    """Samplers see a velocity callable, never the network; no stage imports another stage
    (``data``, ``fetch`` and the shared figure helper ``report.figures`` excepted)."""
    for path in (PACKAGE / "posterior").rglob("*.py"):
        assert not re.search(r"flowem\.prior\.(network|train|checkpoint)", path.read_text()), path
    for stage in STAGES - {"report", "fetch"}:
        text = "".join(p.read_text() for p in (PACKAGE / stage).rglob("*.py"))
        modules = set(re.findall(r"^\s*(?:from|import) (flowem\.\w+(?:\.\w+)?)", text, re.M))
        others = {
            m
            for m in modules
            if m.split(".")[1] in STAGES - {"data", "fetch", stage} and m != "flowem.report.figures"
        }
        assert not others, f"{stage} imports {others}"
