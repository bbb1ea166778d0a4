"""Benchmarks and measurement scripts: run from the repository root (``python -m benchmarks.<name>``); they
print JSON and their tables go to ``docs/results/``. Not part of the installed packages."""
