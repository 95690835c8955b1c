"""Reproducible benchmarks; `python -m benchmarks` (make bench) runs them all."""
