"""digitlab.bench.stats.latency_summary: the one percentile summary of every benchmark, and its users."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digitlab.bench.loadgen import LoadResult
from digitlab.bench.stats import latency_summary

ROOT = Path(__file__).resolve().parents[1]


def test_percentiles_interpolate_linearly_between_the_nearest_samples():
    seconds = [ms / 1e3 for ms in range(100, 0, -1)]  # 1..100 ms, in any order
    doc = latency_summary(seconds, (0, 50, 90, 99, 100))
    assert list(doc) == ["min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
    # rank (n - 1) * q / 100 between the sorted samples: 49.5 -> 50.5 ms, 89.1 -> 90.1 ms, 98.01 -> 99.01 ms
    assert doc == pytest.approx({"min_ms": 1.0, "p50_ms": 50.5, "p90_ms": 90.1, "p99_ms": 99.01, "max_ms": 100.0})


def test_units_rounding_and_no_samples():
    assert latency_summary([0.0012345, 0.0012345], (50,), unit="us", digits=1) == {"p50_us": 1234.5}
    assert latency_summary([1.23456, 2.0], (0, 50), unit="s", digits=3) == {"min_s": 1.235, "p50_s": 1.617}
    assert latency_summary([], (50, 99.9, 100)) == {"p50_ms": None, "p99.9_ms": None, "max_ms": None}
    with pytest.raises(ValueError, match="unit"):
        latency_summary([1.0], unit="minutes")
    with pytest.raises(ValueError, match="percentiles"):
        latency_summary([1.0], (50, 101))


def test_the_load_generators_summary_counts_errors_and_summarises_successes_only():
    result = LoadResult(concurrency=4, seconds=2.0, latencies=[0.010, 0.020, 0.030, 0.040],
                        statuses={200: 4, 503: 2}, connection_errors=1, wrong=1)
    row = result.summary()
    assert row["ok"] == 4 and row["errors"] == 3 and row["requests"] == 7 and row["status_5xx"] == 2
    assert row["req_per_s"] == 2.0 and row["statuses"] == {"200": 4, "503": 2} and row["wrong_digits"] == 1
    assert (row["p50_ms"], row["p90_ms"], row["p99_ms"], row["max_ms"]) == (25.0, 37.0, 39.7, 40.0)
    assert LoadResult(1, 1.0).summary()["p99_ms"] is None  # nothing answered: no latency, not a crash


def test_no_benchmark_computes_its_own_percentiles():
    """Timing code calls latency_summary; np.percentile/np.quantile appear only in bench/stats.py."""
    src = ROOT / "src" / "digitlab"
    files = [p for d in ("bench", "cli", "serve", "export") for p in sorted((src / d).rglob("*.py"))]
    files += sorted((ROOT / "benchmarks").rglob("*.py"))
    own = [f"{p.relative_to(ROOT)}" for p in files
           if p.name != "stats.py" and re.search(r"\b(np|numpy|statistics)\.(percentile|quantile|quantiles)\(",
                                                  p.read_text())]
    assert not own, own
