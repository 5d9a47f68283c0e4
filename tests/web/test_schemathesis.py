"""Property-based run of every documented operation (schemathesis): no 5xx for any input.

Bounded: a few examples per operation, as a token-authenticated party with a wallet, against
the WSGI app in-process (the test database; each operation's examples roll back after it).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from deepchain_web.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def keep_connection():
    """Like Django's test client: keep the test's database connection (and its transaction)
    open across in-process WSGI requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(make_user, keep_connection) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=make_user("fuzzer")).key


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_operation_answers_with_a_server_error(case, token):
    response = case.call(headers={"Authorization": f"Token {token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):  # JSON errors carry a human-readable message
            assert "message" in body, (case.method, case.formatted_path, body)
