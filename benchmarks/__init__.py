"""Side-by-side benchmarks of nxport artifacts: export stages, latency, INT8, closeness to peak.

    .venv/bin/python benchmarks/run.py --quick --output-dir build/benchmarks

Medians and ratios measured in one run on one machine; never a timed test.
"""
