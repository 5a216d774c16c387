"""Settings come from the environment; production settings refuse to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-key-that-is-long-enough-and-random-1234567890abcdef",
    "SALT_KEY": "production-salt",
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "sqlite:///" + str(ROOT / "var" / "deploy-check.sqlite3"),
}


def run_manage(args, env):
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "SALT_KEY", "SANDBOX_ENABLED"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def test_missing_secret_key_is_a_clear_startup_error():
    env = {**PRODUCTION_ENV}
    del env["SECRET_KEY"]
    result = run_manage(["check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_missing_salt_key_is_a_clear_startup_error():
    env = {**PRODUCTION_ENV}
    del env["SALT_KEY"]
    result = run_manage(["check"], env)
    assert result.returncode != 0
    assert "SALT_KEY is not set" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_sandbox_is_off_in_production():
    result = run_manage(["shell", "-c", "from django.conf import settings; print(settings.SANDBOX_ENABLED)"],
                        PRODUCTION_ENV)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_task_queue_is_configured_safely(settings):
    q = settings.Q_CLUSTER
    assert q["retry"] > q["timeout"], "a running task would be handed out again"
    assert q["catch_up"] is False
    assert 0 < q["save_limit"] <= 10_000
    assert q["max_attempts"] == 1
    assert "LocMemCache" not in settings.CACHES[q["cache"]]["BACKEND"], "qinfo needs a cache shared by processes"
