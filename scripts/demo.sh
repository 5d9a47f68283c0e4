#!/usr/bin/env bash
# Command 1: set up and run the platform with a multi-party demo (embedded SQLite + Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-deepchain_web.settings.dev}
exec .venv/bin/python manage.py rundemo "$@"
