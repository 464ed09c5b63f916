"""Performance rows: active latency probe and Prometheus SLOs.

The performance faults send their own traffic and wait for Prometheus to scrape it, and clean
the SLO window on inject and revert, so no settle time is needed here.
"""

from tests.matrix import Row

ROWS = [
    Row(fault="slow_endpoint",
        catches={"PRF-001": "p95 latency", "PRF-003": "p95 latency"}),
    Row(fault="error_burst_5xx",
        catches={"PRF-001": "error rate", "PRF-002": "5xx ratio"}),
    # With the backend's series gone every SLO query is empty: all three report no data.
    Row(fault="backend_scrape_broken",
        catches={"PRF-004": "returned no data"},
        # the job's only target now fails every scrape: its availability drops too
        tolerates=("PRF-002", "PRF-003", "PRF-005")),
]
