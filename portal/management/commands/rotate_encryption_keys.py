from django.apps import apps
from django.core.management.base import BaseCommand

from portal.fields import GuardedEncryptedTextField, Undecryptable


class Command(BaseCommand):
    help = ("Re-encrypt every stored secret with the first SALT_KEY (after putting a new key first in the list, "
            "or moving the old SECRET_KEY to SECRET_KEY_FALLBACKS). Values no key can decrypt are listed, not touched.")

    def handle(self, *args, **options):
        rotated, unreadable = 0, []
        for model in apps.get_models():
            fields = [f for f in model._meta.fields if isinstance(f, GuardedEncryptedTextField)]
            for field in fields:
                for obj in model._default_manager.exclude(**{f"{field.name}__isnull": True}).iterator():
                    value = getattr(obj, field.name)
                    if isinstance(value, Undecryptable):
                        unreadable.append(f"{model._meta.label} {obj.pk} ({field.name})")
                        continue
                    model._default_manager.filter(pk=obj.pk).update(**{field.name: value})
                    rotated += 1
        self.stdout.write(f"Re-encrypted {rotated} value(s).")
        for item in unreadable:
            self.stdout.write(self.style.WARNING(f"Cannot decrypt with any configured key: {item}"))
