"""Participant-facing pages: local assets only, no inline scripts, onboarding and public views."""

from __future__ import annotations

import re

import pytest

FOREIGN = re.compile(r"""(?:src|href)=["']?(?:https?:)?//""")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/", "/"])
def test_the_page_references_no_other_host_and_no_inline_script(client, path):
    html = client.get(path).content.decode()
    assert not FOREIGN.search(html), FOREIGN.search(html).group(0)
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)


@pytest.mark.django_db
def test_the_redoc_bundle_points_its_logo_at_this_host(client):
    r = client.get("/docs-assets/redoc/bundles/redoc.standalone.js")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/javascript")
    body = r.content.decode()
    assert "cdn.redoc.ly" not in body
    assert "/static/frontend/redoc-logo-mini.svg" in body


@pytest.mark.django_db
def test_the_swagger_init_script_is_a_same_origin_request(client):
    r = client.get("/api/docs/?script=")
    assert r.status_code == 200 and "javascript" in r["Content-Type"]
    assert "validatorUrl" in r.content.decode()


@pytest.mark.django_db
def test_favicon_is_served(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 301
    assert client.get(r["Location"]).status_code == 200
