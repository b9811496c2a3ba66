"""demine: land-release area, cost, time and risk before mineral extraction in mined land."""

__version__ = "0.1.0"
