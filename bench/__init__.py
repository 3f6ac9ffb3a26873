"""`make bench`: Lifeline's throughput and latency, with ratios against references measured in
the same run on the same machine. ``bench/run.py`` orchestrates; one module per part."""
