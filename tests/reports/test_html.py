"""The HTML report: self-contained, with a timeline plot whose parts can be counted."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from harness.reports.html import FAIL_FILL, OK_FILL, render_html, render_svg
from tests.reports.drill_results import FAILING, PROBES, failed_drill, passed_journal

SVG = "{http://www.w3.org/2000/svg}"


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)


def _classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def _with_class(root: ET.Element, *names: str) -> list[ET.Element]:
    return [e for e in root.iter() if set(names) <= _classes(e)]


def test_html_plot_has_one_row_per_probe_when_probes_sampled() -> None:
    root = _svg(render_svg(failed_drill()))
    rows = _with_class(root, "probe-row")
    assert [r.get("data-probe") for r in rows] == sorted(PROBES)
    for row in rows:
        failing = row.get("data-probe") in FAILING
        fails = _with_class(row, "seg", "fail")
        oks = _with_class(row, "seg", "ok")
        assert len(fails) == (1 if failing else 0)
        assert len(oks) == (2 if failing else 1)
        assert all(r.get("fill") == FAIL_FILL for r in fails)
        assert all(r.get("fill") == OK_FILL for r in oks)


def test_html_plot_has_four_phase_markers_when_drill_recovered() -> None:
    root = _svg(render_svg(failed_drill()))
    markers = _with_class(root, "marker")
    kinds = sorted((_classes(m) - {"marker"}).pop() for m in markers)
    assert kinds == ["detected", "inject", "recovered", "response-start"]
    inject = _with_class(root, "marker", "inject")[0]
    recovered = _with_class(root, "marker", "recovered")[0]
    assert float(inject.get("x1", "0")) < float(recovered.get("x1", "0"))


def test_html_plot_leaves_out_recovered_marker_when_not_recovered() -> None:
    result = failed_drill().model_copy(update={"rto_s": None})
    root = _svg(render_svg(result))
    assert _with_class(root, "marker", "recovered") == []
    assert len(_with_class(root, "marker")) == 3


def test_html_plot_draws_budget_line_when_budget_ends_inside_axis() -> None:
    result = failed_drill().model_copy(update={"budget_s": 60.0})
    root = _svg(render_svg(result))
    budget = [e for e in root.iter() if e.get("id") == "budget"]
    assert len(budget) == 1
    assert budget[0].tag == f"{SVG}line"
    assert "offaxis" not in _classes(budget[0])


def test_html_plot_points_at_budget_when_budget_ends_after_axis() -> None:
    root = _svg(render_svg(failed_drill()))  # t0 + 120 s is past the 100 s drawn
    budget = [e for e in root.iter() if e.get("id") == "budget"]
    assert len(budget) == 1
    assert _classes(budget[0]) == {"budget", "offaxis"}
    texts = " ".join(t.text or "" for t in budget[0].iter(f"{SVG}text"))
    assert "t0+2 min 0 s" in texts


def test_html_plot_bins_workload_success_rate_per_second_when_workload_ran() -> None:
    root = _svg(render_svg(failed_drill()))
    points = _with_class(root, "wl-point")
    # Samples every 0.25 s from 0.25 s to 99.75 s fall into 100 one-second bins.
    assert len(points) == 100
    line = [e for e in root.iter() if e.get("id") == "success-rate"]
    assert len(line) == 1
    assert len(line[0].get("points", "").split()) == 100
    reds = [p for p in points if p.get("fill") == FAIL_FILL]
    assert 85 <= len(reds) <= 93  # the bins inside the outage from 3 s to 95 s


def test_html_report_is_self_contained_when_rendered() -> None:
    page = render_html(passed_journal())
    urls = re.findall(r"(?:https?:)?//[\w.-]+", page)
    assert urls == ["http://www.w3.org"]  # only the SVG namespace name
    assert "<script src" not in page and "<link" not in page
    assert page.count('<svg id="timeline"') == 1


def test_html_report_escapes_step_output_in_details_when_output_has_markup() -> None:
    page = render_html(failed_drill())
    assert "<pre>postgresql restarted\n&lt;ok&gt; &amp; done\n</pre>" in page
    assert page.count('<tr class="step">') == 2
    assert '<td class="bad">exit 1</td>' in page
    assert "<details><summary>output" in page


def test_html_report_shows_outcome_reasons_and_data_checks_when_drill_failed() -> None:
    page = render_html(failed_drill())
    assert '<span id="outcome" class="outcome FAILED">FAILED</span>' in page
    assert "<li>recovery step &#x27;validate&#x27; failed (exited 1)</li>" in page
    assert '<tr class="data-check"><td>acknowledged writes preserved</td>' in page
    assert "FAILED</td><td>40 acknowledged, 2 lost" in page
