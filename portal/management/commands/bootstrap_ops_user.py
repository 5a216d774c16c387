"""The first ops superuser, and the box in which every password made on a first start is shown.

`manage.py serve` (what `make run` starts) makes the superuser itself and shows its password, with the demo users',
last, once the portal is up; this command is the same step on its own, for a deployment without `serve`.
"""

import secrets

import environ
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


def ensure_ops_user():
    """Create the first ops superuser if there is no superuser yet. Returns a row for `password_box` when one was
    made, else None."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    env = environ.Env()
    username = env.str("OPS_USERNAME", default="ops")
    chosen = env.str("OPS_PASSWORD", default="")
    password = chosen or secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email=env.str("OPS_EMAIL", default=""), password=password)
    # A password the operator chose is theirs already: it is named, never printed.
    return (username, "superuser", "from OPS_PASSWORD" if chosen else password)


def password_box(rows, portal=""):
    """The logins made now, framed so that they stand out in a terminal: [(user name, role, password)]; `portal`,
    the portal's address, to say where to log in."""
    lines = ["Logins made on this first start. Their passwords are shown only now:", ""]
    names, roles = (max(len(row[n]) for row in rows) for n in (0, 1))
    lines += [f"  {username:<{names}}  {role:<{roles}}  {password}" for username, role, password in rows]
    lines.append("")
    if portal:
        lines.append(f"Log in at {portal}/admin/ (ops) or {portal}/login/ (finance).")
    lines.append("Change them in the admin (Users), or set OPS_PASSWORD and DEMO_PASSWORD before the first start.")
    inner = max(len(line) for line in lines)
    rule = "+" + "-" * (inner + 2) + "+"
    return "\n".join([rule, *(f"| {line:<{inner}} |" for line in lines), rule])


class Command(BaseCommand):
    help = ("Create the first ops superuser if there is no superuser yet: OPS_USERNAME / OPS_PASSWORD / "
            "OPS_EMAIL from the environment, or a generated password printed once.")

    def handle(self, *args, **options):
        row = ensure_ops_user()
        if row is not None:
            self.stdout.write(self.style.WARNING(password_box([row])))
