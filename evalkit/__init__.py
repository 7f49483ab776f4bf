"""evalkit: evaluate gateway prompt templates on code-generation benchmarks."""

__version__ = "0.1.0"
