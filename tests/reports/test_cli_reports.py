"""`drill report JOURNAL`: every report rendered again from the journal alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer

from harness.cli_reports import _ReportGroup, report_app
from harness.errors import UsageError
from tests.reports.drill_results import FIXTURES

ALL = ["notification.txt", "report.html", "report.md", "status_update.txt"]


def _drill(*args: str) -> None:
    app = typer.Typer()
    app.add_typer(report_app, name="report")

    @app.command()
    def other() -> None:
        """A second command, so that `report` is a subcommand as in `drill`."""

    app(args=list(args), standalone_mode=False)


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    run_dir = tmp_path / "INC_20261203_163945_database_failure"
    run_dir.mkdir()
    path = run_dir / "journal.json"
    shutil.copy(FIXTURES / "database_failure.journal.json", path)
    return path


def test_report_writes_every_report_next_to_journal_when_no_out(
    journal: Path,
) -> None:
    _drill("report", str(journal), "--quiet")
    assert sorted(p.name for p in journal.parent.iterdir()) == sorted(
        [*ALL, "journal.json"]
    )
    text = (journal.parent / "report.md").read_text()
    assert text.startswith("# Incident Report: INC_20261203_163945_database_failure")


def test_report_accepts_journal_directory_and_out_when_given(
    journal: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _drill("report", str(journal.parent), "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == ALL


def test_report_writes_only_html_when_format_is_html(
    journal: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    _drill("report", "--format", "html", str(journal), "--out", str(out), "-q")
    assert [p.name for p in out.iterdir()] == ["report.html"]


def test_report_raises_usage_error_when_path_is_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        _drill("report", str(tmp_path / "nope.json"))
    assert caught.value.exit_code == 2
    assert "no journal at" in caught.value.line()
    assert "\n" not in caught.value.line()


def test_report_raises_usage_error_when_file_is_not_a_journal(tmp_path: Path) -> None:
    bad = tmp_path / "journal.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(UsageError) as caught:
        _drill("report", str(bad))
    assert caught.value.exit_code == 2
    assert "is not a drill journal" in caught.value.line()
    assert "\n" not in caught.value.line()


def test_report_group_runs_subcommand_when_name_matches_one(tmp_path: Path) -> None:
    seen: list[str] = []
    group = typer.Typer(cls=_ReportGroup)

    @group.command("render", hidden=True)
    def render(journal: str) -> None:
        seen.append(f"render {journal}")

    @group.command("monthly")
    def monthly(month: str = "") -> None:
        seen.append(f"monthly {month}")

    group(args=["monthly", "--month", "2026-12"], standalone_mode=False)
    group(args=["some/journal.json"], standalone_mode=False)
    assert seen == ["monthly 2026-12", "render some/journal.json"]
