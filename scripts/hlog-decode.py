#!/usr/bin/env python3
"""Decodes an HdrHistogram interval log (.hlog) with the PyPI `hdrhistogram` package and prints one
JSON object per interval: tag, start (s, relative to the log's StartTime), count, min, max and the
values at the 50th, 90th, 95th, 99th, 99.9th and 99.99th percentiles. Used by the .hlog test
(Tests/PlotsTests/IntervalLogTests.swift) to check orbit-bench's encoder against an independent decoder.

    scripts/hlog-decode.py interval-memory-get.hlog
"""
import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader


def main(path):
    reader = HistogramLogReader(path, HdrHistogram(1, 3_600_000_000_000, 3))
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        print(json.dumps({
            "tag": h.get_tag(),
            "start_s": h.get_start_time_stamp() / 1000.0 - reader.get_start_time_sec(),
            "count": h.get_total_count(),
            "min": h.get_min_value(),
            "max": h.get_max_value(),
            "percentiles": {str(p): h.get_value_at_percentile(p) for p in (50, 90, 95, 99, 99.9, 99.99)},
        }))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: hlog-decode.py FILE.hlog")
    main(sys.argv[1])
