"""Stage parameters: defaults merged with ``--params`` (unknown keys refused), and checks.

Both are written once, in :mod:`flowem.settings`; the data stages import them from here.
"""

from __future__ import annotations

from flowem.settings import check_positive as require_positive
from flowem.settings import resolve_params

__all__ = ["require_positive", "resolve_params"]
