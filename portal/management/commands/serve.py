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

# The access log keeps each request's path, never its query string or referrer: SYSPRO e.net takes its operator
# and company passwords, and then its session, in the query string (the simulator answers them under /sandbox/).
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'


def web_command(python, host, port):
    """gunicorn serving the portal: one process with threads, so the simulators under /sandbox/ keep their state
    in it."""
    return [python, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"{host}:{port}", "--workers", "1",
            "--threads", "16", "--timeout", "120", "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]


class Command(BaseCommand):
    help = ("Serve the portal (gunicorn) together with the task cluster (qcluster) in the foreground, loading "
            "the demo into the simulators when SANDBOX_ENABLED. Ctrl-C stops both. Listens on PORT (default 8000).")

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
        python = sys.executable
        web = web_command(python, host, port)
        tasks = [python, "manage.py", "qcluster"]
        children = [subprocess.Popen(web)]
        if self.wait_for(f"http://{host}:{port}/login/", children[0]) and settings.SANDBOX_ENABLED:
            # The simulators live in the web process, so the demo is loaded once it answers.
            try:
                call_command("seed_demo", sandbox_url=f"http://{host}:{port}/sandbox", stdout=self.stdout)
            except CommandError as exc:
                self.stderr.write(f"Demo not loaded: {exc}")
        children.append(subprocess.Popen(tasks))
        self.stdout.write(f"Portal on http://{host}:{port}/admin/ with its task cluster. Ctrl-C stops both.")

        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop()
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        codes = [child.returncode for child in children]
        if any(code not in (0, -signal.SIGTERM, None) for code in codes):
            raise SystemExit(1)
