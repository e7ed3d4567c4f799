"""ffrflow benchmark harness: ``python -m benchmarks <name>``; results go to ``benchmarks/results/``."""
