"""Loaded as a pytest plugin (-p testenv, see pyproject.toml) so it runs before Django reads its settings."""

import os

# The suite runs with development defaults (no SECRET_KEY/SALT_KEY needed) unless told otherwise.
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SANDBOX_ENABLED", "1")
# Backoff in the connectors' HTTP client is real sleeping; keep it short under test.
os.environ.setdefault("CONNECTOR_BACKOFF_BASE", "0.005")
os.environ.setdefault("CONNECTOR_BACKOFF_MAX", "0.05")
os.environ.setdefault("CONNECTOR_MAX_ATTEMPTS", "6")
