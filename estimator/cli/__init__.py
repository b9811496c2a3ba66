"""The ``demine`` command: parse options, call the library, print. The only place that exits.

One module per command; ``_common`` defines the app, shared options and error translation.
"""

from . import hazard, map, params, regions, report, schedule  # noqa: F401  (registers the commands)
from ._common import app

__all__ = ["app"]
