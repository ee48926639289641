"""Character-level fast-weight language models of Tiny Shakespeare."""

__version__ = "0.1.0"
