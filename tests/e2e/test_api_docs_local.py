"""The API documentation pages render from this platform alone: Swagger UI and ReDoc are served
from its own static files (drf-spectacular-sidecar), with no font, script or validator from a
third-party host. Every request the browser makes is recorded; one to any other host fails the
test (and is aborted, so a page that depends on it would also stay blank)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium"),
]


@pytest.fixture
def page_on_platform(live_server_url):
    """A page whose every request is recorded; requests to another host are aborted."""
    from playwright.sync_api import sync_playwright

    own = urlsplit(live_server_url).netloc
    foreign: list[str] = []
    seen: list[str] = []

    def gate(route) -> None:
        url = route.request.url
        seen.append(url)
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == own:
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            ctx = b.new_context(viewport={"width": 1366, "height": 900})
            ctx.set_default_timeout(60_000)
            ctx.route("**/*", gate)
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, foreign, seen, errors
        finally:
            b.close()


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_with_every_request_to_the_platform(live_server_url, page_on_platform):
    page, foreign, seen, errors = page_on_platform
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{live_server_url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "DeepChain API" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag")  # the operations came from /api/schema/
    assert page.locator(".opblock").count() > 10
    page.screenshot(path=str(ARTIFACTS / "api-docs-swagger.png"))
    assert foreign == [], f"requests to other hosts: {foreign}"
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in u for u in seen), seen
    assert any("/api/schema/" in u for u in seen), seen
    assert errors == [], errors


@pytest.mark.django_db(transaction=True)
def test_redoc_renders_with_every_request_to_the_platform(live_server_url, page_on_platform):
    page, foreign, seen, errors = page_on_platform
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{live_server_url}/api/redoc/")
    page.wait_for_selector("redoc h1, .api-content h1")
    assert "DeepChain API" in page.inner_text(".api-content h1")
    page.wait_for_selector("[data-section-id^='operation/'], [id^='operation/']", state="attached")
    page.screenshot(path=str(ARTIFACTS / "api-docs-redoc.png"))
    assert foreign == [], f"requests to other hosts: {foreign}"
    assert any("/docs-assets/redoc/bundles/redoc.standalone.js" in u for u in seen), seen
    assert any("/api/schema/" in u for u in seen), seen
    assert errors == [], errors
