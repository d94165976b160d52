"""Side-by-side benchmarks; see benchmarks/README.md."""
