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


class Connector:
    """One connection's gateway to its system. Built by Connection.connector()."""

    def __init__(self, connection):
        self.connection = connection

    def check(self):
        """Make a real authenticated call; return a short description of what answered.
        Raise AuthError/ConfigurationError/TransientError with a message a person can act on."""
        raise NotImplementedError

    def forget_token(self):
        """Drop the cached session or token (the credentials changed). Systems that can revoke do so."""
        from connectors.tokens import TokenStore

        TokenStore(self.connection).clear()

    @property
    def calls(self):
        """HTTP calls made so far (for audit counters and benchmarks)."""
        return self.http.calls

    def gl_accounts(self):
        """Every GL account (records.GlAccount) of the system."""
        raise NotImplementedError

    def dimensions(self):
        """Departments, locations and classes (records.Dimension)."""
        return []


class ErpConnector(Connector):
    def suppliers(self, since=None):
        """Suppliers (records.Supplier) changed since the cursor value `since` (all when None)."""
        raise NotImplementedError

    def approved_invoices(self, since=None):
        """Supplier invoices approved for payment (records.Invoice), changed since `since`."""
        raise NotImplementedError

    def post_payment(self, invoice_reference, payment):
        """Record a payment (records.Payment) against the invoice identified by `invoice_reference`
        (the dict the invoice carried); return the ERP's reference for what it recorded."""
        raise NotImplementedError


class ApConnector(Connector):
    def vendor_payload(self, supplier):
        """What would be sent for this supplier (for dry runs and the audit trail)."""
        raise NotImplementedError

    def bill_payload(self, vendor_id, invoice, coding):
        """What would be sent for this invoice (for dry runs and the audit trail)."""
        raise NotImplementedError

    def find_vendor(self, supplier):
        """The id of the vendor already made for this supplier, found by what identifies it, or None."""
        raise NotImplementedError

    def create_vendor(self, supplier):
        raise NotImplementedError

    def update_vendor(self, vendor_id, supplier):
        raise NotImplementedError

    def find_bill(self, vendor_id, invoice):
        """The id of the bill already made for this invoice, or None."""
        raise NotImplementedError

    def create_bill(self, vendor_id, invoice, coding):
        """Create the bill; `coding` maps each line index to its target ids (gl account, dimensions)."""
        raise NotImplementedError

    def payments(self, since=None):
        """Payments (records.Payment) changed since `since` (an ISO timestamp)."""
        raise NotImplementedError
