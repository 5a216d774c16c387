"""bench/bench_storm.py at a tiny size with a mild storm, as its own process: it still runs on a fresh checkout, prints
one object per pair with the figures docs/RELIABILITY.md reports, and the storm leaves no duplicate and nothing
stuck. Never a timing, and not the 95 % target: that is the full storm's, run by hand."""

import json

from tests.bench.test_benches import run_bench

KEYS = {"pair", "storm", "faults", "seed", "eligible", "eligible_by_type", "through_after_run", "percent_through",
        "through_after_clean_run", "crashed_runs", "crashes", "deferred_runs", "runs", "duplicates", "stuck",
        "failed_by_cause", "follow_ups_not_done"}


def test_a_mild_storm_on_bill_and_avidxchange_pairs():
    """A BILL demo, the AvidXchange demo, and a pair the bench puts together (no demo of its own)."""
    names = ["acumatica-bill", "infor-avidxchange", "syspro-avidxchange"]
    out = run_bench("bench_storm.py", "--pairs", *names, "--scale", "small", "--storm", "mild", "--runs", "2",
                    "--seed", "7")
    pairs = [json.loads(line) for line in out.splitlines()]
    assert [p["pair"] for p in pairs] == names
    for pair in pairs:
        assert KEYS <= set(pair), pair["pair"]
        assert pair["faults"]["error_rate"] > 0 and pair["seed"] == 7
        assert pair["eligible"] > 0 and pair["eligible_by_type"]["bill"] > 0
        assert len(pair["through_after_run"]) == 2 and len(pair["runs"]) == 3  # two storm runs, then the clean one
        assert all(0 <= n <= pair["eligible"] for n in pair["through_after_run"])
        assert pair["duplicates"]["total"] == 0, (pair["pair"], pair["duplicates"])
        assert pair["stuck"] == {"runs_running": 0, "records_pending": 0}, (pair["pair"], pair["stuck"])
    assert "ap_attachments" in pairs[1]["duplicates"] and "erp_payments" in pairs[0]["duplicates"]
