import os

# The suite runs with development defaults (no SECRET_KEY/SALT_KEY needed) unless told otherwise.
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SANDBOX_ENABLED", "1")
