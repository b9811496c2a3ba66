"""Run the ``demine`` command as ``python -m estimator``."""

from .cli import app

if __name__ == "__main__":
    app(prog_name="demine")
