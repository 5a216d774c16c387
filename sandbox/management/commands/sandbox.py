from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from sandbox.hub import QuietHandler, SandboxHub, ThreadingServer, wsgi_app


class Command(BaseCommand):
    help = "Serve every simulator (BILL, Infor, ...) and the /_control/ endpoints on their own port."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, host, port, **options):
        from wsgiref.simple_server import make_server

        try:
            hub = SandboxHub()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        hub.start_background()
        server = make_server(host, port, wsgi_app(hub), server_class=ThreadingServer, handler_class=QuietHandler)
        self.stdout.write(f"Simulators ({', '.join(hub.simulators)}) on http://{host}:{port}/ — Ctrl-C stops.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
