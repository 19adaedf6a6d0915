"""The one place the version is written: the package metadata is built from it (pyproject's
[tool.hatch.version]); reading it back through importlib.metadata would cost a third of the
command line's cold start."""

__version__ = "0.1.0"
