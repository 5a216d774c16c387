"""What every external system declares (System, Field) and the contracts its connector fulfils."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string

ERP = "erp"
AP = "ap"
KINDS = [(ERP, "ERP"), (AP, "AP platform")]


@dataclass(frozen=True)
class Field:
    """One input on a connection form.

    kind: "text", "secret" (never shown back), "choice", or "document" (a whole credentials file,
    uploaded or pasted, parsed by `parse` into several stored keys).
    """

    name: str
    label: str
    kind: str = "text"
    required: bool = True
    help_text: str = ""
    choices: tuple = ()
    validators: tuple[Callable[[str], None], ...] = ()
    parse: Callable[[str], dict] | None = None
    # For a document field: the keys inside it that are secret.
    secret_keys: tuple[str, ...] = ()
    initial: str = ""

    @property
    def secret(self):
        return self.kind == "secret" or (self.kind == "document" and bool(self.secret_keys))


@dataclass(frozen=True)
class System:
    id: str
    label: str
    kind: str
    credential_fields: tuple[Field, ...]
    option_fields: tuple[Field, ...] = ()
    connector_class_path: str = ""
    base_url_help: str = ""
    base_url_required: bool = True
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_erp(self):
        return self.kind == ERP

    @property
    def is_ap(self):
        return self.kind == AP

    def secret_keys(self):
        """Names of the stored credential keys that are secret."""
        keys = set()
        for f in self.credential_fields:
            if f.kind == "secret":
                keys.add(f.name)
            keys.update(f.secret_keys)
        return keys

    def connector_class(self):
        if not self.connector_class_path:
            raise NotImplementedError(f"The {self.label} connector is not built yet.")
        return import_string(self.connector_class_path)

    def clean_field(self, f, value):
        """Validate one submitted value; return the dict of stored keys it contributes."""
        value = value.strip() if isinstance(value, str) else value
        if f.kind == "choice" and value and value not in {c[0] for c in f.choices}:
            raise ValidationError(f"{f.label}: choose one of {', '.join(c[0] for c in f.choices)}.")
        for validator in f.validators:
            validator(value)
        if f.parse:
            return f.parse(value)
        return {f.name: value}


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def https_url(value):
    """Remote systems are reached over HTTPS only. The one exception: a simulator on this machine's
    loopback while SANDBOX_ENABLED is on (the demo and the tests), which serves plain HTTP."""
    from urllib.parse import urlparse

    from django.conf import settings

    parsed = urlparse(value or "")
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS and settings.SANDBOX_ENABLED:
        return
    raise ValidationError(f"{value!r} is not an https:// URL.")
