"""The comparison servers of `python -m benchmarks`: ceiling, floor and the old design."""
