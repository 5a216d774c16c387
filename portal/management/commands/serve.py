"""`manage.py serve`, what `make run` starts: the portal (gunicorn) and its task cluster in the foreground, the
first ops user, and the demo loaded into the simulators when SANDBOX_ENABLED. The passwords made on this start
are printed last, in a box, once everything is up; the simulators' own traffic is kept out of the terminal so
that the box stays in sight."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from gunicorn import glogging

from portal.management.commands.bootstrap_ops_user import ensure_ops_user, password_box

# The access log keeps each request's path, never its query string or referrer: SYSPRO e.net takes its operator
# and company passwords, and then its session, in the query string (the simulator answers them under /sandbox/).
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
# The simulators are mounted here (portal/urls.py). The demo's runs call them hundreds of times a minute.
SANDBOX_PATH = "/sandbox/"
# Where the web server writes the simulators' access lines, given by `serve` to its gunicorn (AccessLog).
SANDBOX_LOG_VARIABLE = "MLC_SANDBOX_ACCESS_LOG"


def sandbox_log_path():
    return os.path.join(settings.BASE_DIR, "var", "log", "sandbox-access.log")


class AccessLog(glogging.Logger):
    """gunicorn's logger, with the access lines of calls to the simulators written to their own file (named by
    SANDBOX_LOG_VARIABLE) instead of the terminal; without it they stay in the access log."""

    def setup(self, cfg):
        super().setup(cfg)
        self.sandbox_log = logging.getLogger("gunicorn.access.sandbox")
        self.sandbox_log.propagate = False
        self.sandbox_log.setLevel(logging.INFO)
        for handler in list(self.sandbox_log.handlers):  # a configuration reload runs setup again
            self.sandbox_log.removeHandler(handler)
            handler.close()
        path = os.environ.get(SANDBOX_LOG_VARIABLE)
        if path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handler = logging.FileHandler(path)
            handler.setFormatter(logging.Formatter(self.access_fmt))
            self.sandbox_log.addHandler(handler)

    def access(self, resp, req, environ, request_time):
        if self.sandbox_log.handlers and environ.get("PATH_INFO", "").startswith(SANDBOX_PATH):
            atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
            self.sandbox_log.info(self.cfg.access_log_format, atoms)
        else:
            super().access(resp, req, environ, request_time)


def web_command(python, host, port):
    """gunicorn serving the portal: one process with threads, so the simulators under /sandbox/ keep their state
    in it. No control socket: its default path is one per user, so a second checkout served at the same time (or
    the tests' own server) would take it over, and nothing here uses gunicornc."""
    return [python, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"{host}:{port}", "--workers", "1",
            "--threads", "16", "--timeout", "120", "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
            "--logger-class", f"{__name__}.AccessLog", "--no-control-socket"]


def task_environment():
    """The task cluster's environment: warnings and errors only, unless LOG_LEVEL says otherwise. At INFO it
    prints four lines for every task, and the demo's integrations run every minute."""
    return {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL") or "WARNING"}


class Command(BaseCommand):
    help = ("Serve the portal (gunicorn) together with the task cluster (qcluster) in the foreground, creating the "
            "first ops user and loading the demo into the simulators when SANDBOX_ENABLED; the passwords made are "
            "printed last. Ctrl-C stops both. Listens on PORT (default 8000).")

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def wait_for(self, url, process, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            try:
                requests.get(url, timeout=2)
                return True
            except requests.RequestException:
                time.sleep(0.3)
        return False

    def handle(self, *args, host, port, **options):
        # Another server on the port would answer our readiness check and receive the demo.
        with socket.socket() as probe:
            if probe.connect_ex((host, int(port))) == 0:
                raise CommandError(f"Something already listens on {host}:{port}. Stop it, or start with another "
                                   "port: PORT=8001 make run")
        ops = ensure_ops_user()
        passwords = [ops] if ops else []
        python = sys.executable
        web_environment = {**os.environ, SANDBOX_LOG_VARIABLE: sandbox_log_path()}
        children = [subprocess.Popen(web_command(python, host, port), env=web_environment)]
        try:
            if self.wait_for(f"http://{host}:{port}/login/", children[0]) and settings.SANDBOX_ENABLED:
                # The simulators live in the web process, so the demo is loaded once it answers.
                try:
                    call_command("seed_demo", sandbox_url=f"http://{host}:{port}/sandbox", passwords=passwords,
                                 stdout=self.stdout)
                except CommandError as exc:
                    self.stderr.write(f"Demo not loaded: {exc}")
                self.stdout.write(f"The simulators' access lines go to {sandbox_log_path()}.")
            children.append(subprocess.Popen([python, "manage.py", "qcluster"], env=task_environment()))
            self.stdout.write(f"Portal on http://{host}:{port}/admin/ with its task cluster. Ctrl-C stops both.")
        except BaseException:
            shut_down(children)
            raise
        finally:
            # Last, so that nothing pushes it out of sight; and even when a step above failed, since a password
            # made and not shown would be lost.
            if passwords:
                self.stdout.write(self.style.WARNING(password_box(passwords, f"http://{host}:{port}")))
        supervise(children)


def supervise(children):
    """Wait until Ctrl-C, SIGTERM or a child's exit; then stop them all."""
    previous = signal.signal(signal.SIGTERM, lambda *_: terminate(children))
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        shut_down(children)
        signal.signal(signal.SIGTERM, previous)
    if any(child.returncode not in (0, -signal.SIGTERM, None) for child in children):
        raise SystemExit(1)


def terminate(children):
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)


def shut_down(children):
    """Ask each child to stop, and kill those still running after 15 seconds."""
    terminate(children)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
