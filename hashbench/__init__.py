"""hashbench: a benchmark for the adversarial robustness of deep-hashing retrieval."""

__version__ = "0.1.0"
