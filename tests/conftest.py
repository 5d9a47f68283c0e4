"""Shared fixtures: real Celery worker and Daphne processes on the test database."""

from __future__ import annotations

import os
import time

import pytest

from tests import services


@pytest.fixture(scope="session")
def test_db_name(django_db_setup, django_db_blocker) -> str:
    from django.db import connection

    return connection.settings_dict["NAME"]


@pytest.fixture(scope="session", autouse=True)
def flush_survives_a_deadlock():
    """A transactional test's teardown TRUNCATEs every table; a task of the session's Celery
    worker still finishing (its row locks) can deadlock with it, and PostgreSQL then aborts the
    TRUNCATE, leaving the rows to the next test. Flush again once that transaction is over."""
    from django.core.management.base import CommandError
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def fixture_teardown(self):
        for attempt in range(5):
            try:
                return original(self)
            except CommandError as exc:
                if attempt == 4 or "deadlock detected" not in str(exc.__cause__):
                    raise
                time.sleep(0.5 * (attempt + 1))

    TransactionTestCase._fixture_teardown = fixture_teardown
    try:
        yield
    finally:
        TransactionTestCase._fixture_teardown = original


@pytest.fixture(scope="session")
def celery_worker(test_db_name):
    """A real Celery worker process consuming every queue from the configured Redis."""
    from deepchain_web.celery import app

    app.control.purge()
    proc = services.start_celery_worker(services.child_env(test_db_name), "test-worker")
    try:
        result = app.send_task("deepchain_web.ping", args=["ready"])
        assert result.get(timeout=120) == "ready", "Celery worker did not answer"
        yield proc
    finally:
        services.stop(proc)


@pytest.fixture(scope="session")
def live_server_url(test_db_name):
    """A real Daphne server (HTTP + websockets) on the test database."""
    port = services.free_port()
    proc = services.start_daphne(services.child_env(test_db_name), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        services.stop(proc)


@pytest.fixture
def require_real_services() -> bool:
    return os.environ.get("DEEPCHAIN_REQUIRE_REAL_SERVICES") == "1"


@pytest.fixture(params=["ifma", "gmpy2"])
def modexp_backend(request, monkeypatch) -> str:
    """Run the test once with the native modexp kernel and once with DEEPCHAIN_NATIVE=0
    (gmpy2); the kernel's run is skipped only on a CPU without AVX-512 IFMA (a missing build
    on a CPU that has it fails tests/unit/test_crypto_modexp.py)."""
    from deepchain.crypto import modexp

    if request.param == "ifma":
        if not modexp.native_available():
            pytest.skip("native modexp kernel unavailable (no AVX-512 IFMA or not built)")
        monkeypatch.setenv("DEEPCHAIN_NATIVE", "1")
    else:
        monkeypatch.setenv("DEEPCHAIN_NATIVE", "0")
    assert modexp.backend() == request.param
    return request.param
