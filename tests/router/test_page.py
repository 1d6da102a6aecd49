"""GET /: the demo page and its static files, their Content-Security-Policy, and MOTIVNET_DEMO=false."""

from __future__ import annotations

import re

import pytest

from motivnet_serve.router.routes.page import STATIC
from tests.router.conftest import serving, tiny_settings

pytestmark = pytest.mark.anyio
STATIC_FILES = sorted(str(path.relative_to(STATIC)) for path in STATIC.rglob("*.*") if path.name != "index.html")


async def test_page_and_its_files_are_served_under_a_strict_policy():
    async with serving(tiny_settings()) as client:
        page = await client.get("/")
        files = {path: await client.get(f"/static/{path}") for path in STATIC_FILES}
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"].split("; ")
    assert {"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'"} <= set(policy)
    assert not [directive for directive in policy if "unsafe" in directive or "*" in directive]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert {path: response.status_code for path, response in files.items()} == dict.fromkeys(STATIC_FILES, 200)
    assert all(files[path].text == (STATIC / path).read_text() for path in STATIC_FILES)
    assert all("javascript" in files[path].headers["content-type"] for path in STATIC_FILES if path.endswith(".js"))
    assert files["app.css"].headers["content-type"].startswith("text/css")


def test_page_has_no_inline_code_that_the_policy_would_block():
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), "inline style or event handler"
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the page loads nothing from elsewhere"


async def test_demo_false_leaves_only_the_api():
    async with serving(tiny_settings(demo=False)) as client:
        page = await client.get("/")
        script = await client.get("/static/js/main.js")
        ready = await client.get("/health/ready")
    assert page.status_code == 404
    assert page.json()["error"]["code"] == "not_found"
    assert script.status_code == 404
    assert ready.status_code == 200
