"""Secrets never reach the log, not even inside a logged traceback."""

import io
import logging

import pytest

from portal.redaction import MASK, register_secret


@pytest.fixture
def console_log():
    """What the configured console handler writes, captured."""
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def test_a_secret_inside_an_exception_message_is_masked_in_the_logged_traceback(console_log):
    register_secret("hunter2-live-password")
    try:
        raise RuntimeError("sign-in refused for password=plain-text-pw and hunter2-live-password")
    except RuntimeError:
        logging.getLogger("connectors.test").exception("Signing in failed")

    written = console_log.getvalue()
    assert "Traceback (most recent call last)" in written
    assert "RuntimeError: sign-in refused" in written
    assert "hunter2-live-password" not in written
    assert "plain-text-pw" not in written
    assert written.count(MASK) >= 2


def test_a_secret_in_a_log_argument_is_masked(console_log):
    logging.getLogger("connectors.test").warning("Sent %s", '{"devKey": "dk-0123456789"}')
    assert "dk-0123456789" not in console_log.getvalue()
    assert MASK in console_log.getvalue()
