"""Per-file outcomes, counts, the JSON report and the exit code."""
import json
from pathlib import Path

from srkd.serve.report import EXIT_FAILED, EXIT_OK, BatchReport, FileResult, Outcome


def result(name: str, outcome: Outcome, message: str = "") -> FileResult:
    return FileResult(src=Path(f"in/{name}"), dst=Path(f"out/{name}"), outcome=outcome, message=message)


def test_counts_summary_and_exit_code(tmp_path):
    report = BatchReport(model="m.safetensors", runner="torch:fp32", scale=2)
    report.add(result("a.png", Outcome.OK))
    report.add(result("b.png", Outcome.SKIPPED, "output exists"))
    assert report.exit_code == EXIT_OK == 0
    report.add(result("c.png", Outcome.FAILED, "not a readable image"))
    assert report.counts == {"ok": 1, "skipped": 1, "failed": 1}
    assert report.exit_code == EXIT_FAILED == 3
    assert [r.src.name for r in report.failed] == ["c.png"]
    line = report.summary()
    assert "1 upscaled" in line and "1 skipped" in line and "1 failed" in line and "x2" in line

    path = report.write(tmp_path / "report.json")
    data = json.loads(path.read_text())
    assert data["counts"] == report.counts and data["exit_code"] == 3
    assert [f["outcome"] for f in data["files"]] == ["ok", "skipped", "failed"]
    assert data["files"][2]["message"] == "not a readable image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temp file left


def test_empty_report_is_ok():
    report = BatchReport(model="m", runner="torch:fp32", scale=4)
    assert report.exit_code == 0 and report.counts == {"ok": 0, "skipped": 0, "failed": 0}
