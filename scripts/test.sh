#!/usr/bin/env bash
# Command 2: set up and run the whole test suite (embedded SQLite + Redis unless
# DATABASE_URL / REDIS_URL point at real servers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
export DJANGO_SETTINGS_MODULE=deepchain_web.settings.test
exec .venv/bin/python -m pytest "$@"
