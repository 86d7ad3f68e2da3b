"""The HTML report opened in headless Chromium: the timeline plot renders."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from harness.reports.html import FAIL_FILL, OK_FILL, render_html
from tests.reports.drill_results import failed_drill

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no `chromium` binary on PATH (Debian: apt-get install -y chromium)",
    ),
    pytest.mark.timeout(120),
]
CHROMIUM_TIMEOUT_S = 90.0


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=False,
    )


def _page(tmp_path: Path) -> Path:
    page = tmp_path / "report.html"
    page.write_text(render_html(failed_drill()), encoding="utf-8")
    return page


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _pixels(png: bytes) -> set[tuple[int, int, int]]:
    """Every distinct RGB colour of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0) and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(data)
    stride = width * bpp
    prev = bytearray(stride)
    colours: set[tuple[int, int, int]] = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            pred = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind]
            line[i] = (line[i] + pred) & 0xFF
        colours.update(
            (line[i], line[i + 1], line[i + 2]) for i in range(0, stride, bpp)
        )
        prev = line
    return colours


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def test_chromium_dom_holds_timeline_plot_when_report_opened(tmp_path: Path) -> None:
    page = _page(tmp_path)
    done = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert '<svg id="timeline"' in dom
    assert dom.count('class="probe-row"') == 3
    assert dom.count('class="marker ') == 4
    assert 'id="budget"' in dom
    assert dom.count('class="wl-point"') == 100


def test_chromium_screenshot_shows_green_and_red_when_plot_rendered(
    tmp_path: Path,
) -> None:
    page = _page(tmp_path)
    shot = tmp_path / "report.png"
    done = _chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.exists(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    size = shot.stat().st_size
    assert size > 20_000, f"screenshot is {size} bytes: the page looks blank"
    colours = _pixels(shot.read_bytes())
    assert _rgb(OK_FILL) in colours, "no healthy (green) segment drawn"
    assert _rgb(FAIL_FILL) in colours, "no failing (red) segment drawn"
