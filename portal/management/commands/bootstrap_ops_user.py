import secrets

import environ
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Create the first ops superuser if there is no superuser yet: OPS_USERNAME / OPS_PASSWORD / "
            "OPS_EMAIL from the environment, or a generated password printed once.")

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        env = environ.Env()
        username = env.str("OPS_USERNAME", default="ops")
        password = env.str("OPS_PASSWORD", default="")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=env.str("OPS_EMAIL", default=""), password=password)
        if generated:
            self.stdout.write(self.style.WARNING(
                f"Created ops superuser '{username}' with password: {password}\n"
                "This is shown once. Change it in the admin, or set OPS_PASSWORD before the first start."))
        else:
            self.stdout.write(f"Created ops superuser '{username}' (password from OPS_PASSWORD).")
