"""What every external system declares: its kind, connection fields, capabilities and where it may be reached.

A declaration imports no connector: `System.connector_class` resolves the connector (and `webhook_receiver` the
webhook receiver) only when a connection is used, so the registry, the forms and the admin can list a system whose
connector does not import."""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string

from connectors.addresses import url_problem
from connectors.capabilities import AP_CAPABILITIES, CAPABILITY_PHRASES, ERP_CAPABILITIES, PAYMENTS_BY_WEBHOOK
from connectors.errors import ConfigurationError

ERP = "erp"
AP = "ap"
KINDS = [(ERP, "ERP"), (AP, "AP platform")]
CAPABILITIES_BY_KIND = {ERP: ERP_CAPABILITIES, AP: AP_CAPABILITIES}


class NotBuilt(ConfigurationError, NotImplementedError):
    """A connection to a system that ml-connector has no connector for yet.

    A ConfigurationError, so every caller that already reports connector errors in words (admin actions,
    the sync engine, which fails the run) reports this one too instead of crashing; a NotImplementedError,
    because that is what it is."""


@dataclass(frozen=True)
class Field:
    """One input on a connection form.

    kind: "text", "secret" (never shown back), "choice", or "document" (a whole credentials file,
    uploaded or pasted, parsed by `parse` into several stored keys).

    destination: the value is an address the connector signs in at or sends credentials to (like the base
    URL). Changing it makes the form ask for the stored secrets again, and it is checked like the base URL.
    A document holds its addresses under `address_keys`.
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
    destination: bool = False
    # For a destination document: the keys inside it that are addresses.
    address_keys: tuple[str, ...] = ()

    @property
    def secret(self):
        return self.kind == "secret" or (self.kind == "document" and bool(self.secret_keys))

    def addresses(self, stored):
        """{stored key: (what it is, address)} of a destination field, from the values it stored."""
        if not self.destination:
            return {}
        if self.kind == "document":
            return {key: (f"{key} of the {self.label}", stored.get(key) or "") for key in self.address_keys}
        return {self.name: (self.label, stored.get(self.name) or "")}


@dataclass(frozen=True)
class System:
    id: str
    label: str
    kind: str
    credential_fields: tuple[Field, ...]
    option_fields: tuple[Field, ...] = ()
    connector_class_path: str = ""
    # The Simulator subclass the sandbox serves under /<id>/; blank while the system has none.
    simulator_class_path: str = ""
    # The connectors.base.WebhookReceiver subclass of a system that pushes events; blank when it pushes none.
    webhook_receiver_class_path: str = ""
    # Names from connectors.capabilities: what the connector does today, or, while the system is not
    # built, what it is planned to do.
    capabilities: frozenset[str] = frozenset()
    base_url_help: str = ""
    base_url_required: bool = True
    # Where the vendor fixes the API's address: the hosts it documents. Outside the sandbox no other host
    # is accepted. Empty: any public host (the customer's own instance).
    documented_hosts: frozenset[str] = frozenset()

    def __post_init__(self):
        # A misspelt capability, or one of the other kind, would describe plans wrongly and quietly.
        allowed = CAPABILITIES_BY_KIND.get(self.kind)
        if allowed is None:
            raise ValueError(f"System {self.id!r}: kind {self.kind!r} is not one of {', '.join(CAPABILITIES_BY_KIND)}.")
        wrong = set(self.capabilities) - allowed
        if wrong:
            raise ValueError(f"System {self.id!r} declares {', '.join(sorted(wrong))}, which is not a capability of "
                             f"an {dict(KINDS)[self.kind]} (see connectors/capabilities.py).")
        if PAYMENTS_BY_WEBHOOK in self.capabilities and not self.webhook_receiver_class_path:
            raise ValueError(f"System {self.id!r} declares that payments arrive by webhook but names no webhook "
                             "receiver (webhook_receiver_class_path).")

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

    def addresses(self, base_url, credentials, options):
        """{key: (what it is, address)} of every place a connection's credentials are sent: the base URL
        and each destination field. `credentials` may be a callable returning them, read only when a
        credential field is a destination."""
        found = {"base_url": ("base URL", base_url or "")}
        for f in self.option_fields:
            found.update(f.addresses(options or {}))
        if any(f.destination for f in self.credential_fields):
            stored = credentials() if callable(credentials) else credentials
            for f in self.credential_fields:
                found.update(f.addresses(stored or {}))
        return found

    def address_problem(self, url):
        """Why this system's credentials may not be sent to `url`, in words; None when they may."""
        problem = url_problem(url)
        if problem or not self.documented_hosts or settings.SANDBOX_ENABLED:
            return problem
        host = urlsplit(url).hostname.rstrip(".")
        if host not in self.documented_hosts:
            return (f"{host} is not an address {self.label} documents for its API; use one of "
                    f"{', '.join(sorted(self.documented_hosts))}.")
        return None

    def check_addresses(self, connection):
        """Raise ConfigurationError, in words, when a connection would send credentials where they may not go
        (a connection saved before the rules, or written other than through the form)."""
        for label, url in self.addresses(connection.base_url, lambda: connection.credentials,
                                         connection.options).values():
            problem = url and self.address_problem(url)
            if problem:
                raise ConfigurationError(f"The connection's {label} cannot be used: {problem}")

    @property
    def built(self):
        """Whether connections to this system can be used: its connector class imports."""
        try:
            self.connector_class()
        except NotBuilt:
            return False
        return True

    @property
    def capability_phrases(self):
        """The declared capabilities in words, in the vocabulary's order."""
        return [phrase for name, phrase in CAPABILITY_PHRASES.items() if name in self.capabilities]

    def connector_class(self):
        try:
            return import_string(self.connector_class_path)
        except ImportError as exc:
            # The import error stays in the message: where a connector module exists, it is what tells a
            # broken import (a missing dependency) apart from a connector not written yet.
            raise NotBuilt(f"{self.label} is not built yet: ml-connector has no connector for it, so this "
                           f"connection cannot be used ({exc}).") from exc

    def webhook_receiver(self):
        """The system's WebhookReceiver, or None when it pushes no events."""
        if not self.webhook_receiver_class_path:
            return None
        return import_string(self.webhook_receiver_class_path)()

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


def https_url(value):
    """Form validator of every address credentials are sent to (connectors.addresses.url_problem says the rules)."""
    problem = url_problem(value)
    if problem:
        raise ValidationError(problem)
