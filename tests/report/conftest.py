"""One synthetic results tree per test session (its figures take a few seconds to draw)."""

from __future__ import annotations

import pytest
from tests.report.results_tree import make_results


@pytest.fixture(scope="session")
def tree(tmp_path_factory):
    return make_results(tmp_path_factory.mktemp("run"))
