"""Exception hierarchy: every error a user can act on is an ``EstimatorError``.

The CLI turns ``InputDataError`` and ``ParameterError`` into a one-line message and exit code 2,
any other ``EstimatorError`` into a one-line message and exit code 1.
"""

from __future__ import annotations

__all__ = [
    "AccountingError",
    "CRSMismatchError",
    "EstimatorError",
    "InputDataError",
    "ParameterError",
]


class EstimatorError(Exception):
    """Base class of every error demine raises on purpose."""


class InputDataError(EstimatorError, ValueError):
    """An input or output file (vector, raster, report) is missing, unreadable or invalid."""


class CRSMismatchError(InputDataError):
    """Coordinate reference systems are missing or cannot be reconciled."""


class ParameterError(EstimatorError, ValueError):
    """The parameter file is malformed or holds an invalid value."""


class AccountingError(EstimatorError):
    """Results do not account for every input: a row or an area went missing.

    Never caused by bad input (bad input gives an ``invalid`` row or an ``InputDataError``);
    it means a bug, and stops the run rather than report figures that do not add up.
    """
