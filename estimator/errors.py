"""Exception hierarchy: every error a user can act on is an ``EstimatorError``."""

from __future__ import annotations

__all__ = [
    "CRSMismatchError",
    "EstimatorError",
    "InputDataError",
    "ParameterError",
]


class EstimatorError(Exception):
    """Base class of every error demine raises on purpose."""


class InputDataError(EstimatorError, ValueError):
    """An input file (vector, raster) is missing, unreadable or invalid."""


class CRSMismatchError(InputDataError):
    """Coordinate reference systems are missing or cannot be reconciled."""


class ParameterError(EstimatorError, ValueError):
    """The parameter file is malformed or holds an invalid value."""
