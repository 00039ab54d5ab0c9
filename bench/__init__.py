"""Benchmarks: scripts that print figures (never timed tests). See bench/README.md."""
