"""The contracts a system fulfils: Connector, and ErpConnector or ApConnector by its kind; and, for a system that
pushes events, WebhookReceiver.

What a system declares (System, Field) is connectors/spec.py."""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from connectors.http import HttpClient
from connectors.tokens import TokenStore
from portal.fields import Undecryptable

logger = logging.getLogger("connectors")


class Connector:
    """One connection's gateway to its system. Built by Connection.connector().

    A context manager: `with connection.connector() as connector:` closes it (logs out) at the end,
    which matters where the system counts open sessions against a licence (Acumatica, SYSPRO)."""

    def __init__(self, connection):
        self.connection = connection
        connection.spec.check_addresses(connection)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        try:
            self.close()
        except Exception as error:  # failing to log out must neither fail the work nor hide its own error
            # The type only: a system's error text may quote the credentials it was sent.
            logger.warning("Closing the %s connector of connection %s failed (%s).", self.connection.system,
                           self.connection.pk, type(error).__name__)

    def close(self):
        """Log out where the system has a session; must not raise. Systems whose sessions are tokens that
        simply expire (Infor, BILL) have nothing to do here."""

    def check(self):
        """Make a real authenticated call; return a short description of what answered.
        Raise AuthError/ConfigurationError/TransientError with a message a person can act on."""
        raise NotImplementedError

    def forget_token(self):
        """Drop the cached session or token (the credentials changed). Systems that can revoke do so."""
        TokenStore(self.connection).clear()

    def http_clients(self):
        """The HttpClients this connector talks through, each once.

        Found rather than listed: every HttpClient held directly as an attribute (self.http, which each
        connector sets) is counted, so a connector that adds a second client cannot forget to declare it.
        A connector whose clients are held only deeper (inside self.client) overrides this."""
        return list({id(value): value for value in vars(self).values() if isinstance(value, HttpClient)}.values())

    @property
    def calls(self):
        """HTTP calls made so far over every client (for audit counters and benchmarks)."""
        return sum(client.calls for client in self.http_clients())

    def gl_accounts(self):
        """Every GL account (records.GlAccount) of the system."""
        raise NotImplementedError

    def dimensions(self):
        """Departments, locations and classes (records.Dimension)."""
        return []


class ErpConnector(Connector):
    # Each stream's cursor type (connectors.cursors); a stream not named here is read by change timestamp.
    cursor_types = {}

    def suppliers(self, since=None):
        """Suppliers (records.Supplier, or records.Unreadable) changed since `since`, a value of the
        stream's cursor type (all when None)."""
        raise NotImplementedError

    def approved_invoices(self, since=None, include_held=False):
        """Supplier invoices approved for payment (records.Invoice, or records.Unreadable), changed since
        `since`. REPORTS_HELD_INVOICES: with `include_held`, also those approved once and now held, cancelled or
        voided, each with its reason in `held`, read in the same calls where the ERP allows."""
        raise NotImplementedError

    def post_payment(self, invoice_reference, payment):
        """Record a payment (records.Payment) against the invoice identified by `invoice_reference`
        (the dict the invoice carried); return the ERP's reference for what it recorded. Looks the
        payment up by its id before adding it, so a repeat never records it twice. A payment with
        `paid` False and `reversed` True undoes one recorded before (voided, returned, escheated)."""
        raise NotImplementedError

    def acknowledge_invoice(self, invoice_reference):
        """ACKNOWLEDGES_TRANSFERRED_INVOICES: mark the invoice as handed to the AP platform. Idempotent;
        returns the ERP's words for what it did."""
        raise NotImplementedError

    def update_supplier(self, source_id, changes):
        """ACCEPTS_SUPPLIER_UPDATES: write contact edits made in the AP platform back to the supplier.
        `changes` is {field: (value the ERP had when we last sent it, value the AP platform has now)} for
        fields in records.CONTACT_FIELDS. A field still at its old value takes the new one; a field the
        ERP changed meanwhile keeps the ERP's value and is reported as a conflict. Returns a
        records.SupplierUpdate; raises Conflict/Locked/TransientError when it cannot write now."""
        raise NotImplementedError

    def open_invoices(self):
        """Every unpaid approved supplier invoice (records.OpenItem), for the open payables tie-out."""
        raise NotImplementedError

    def invoice_documents(self, invoice_reference):
        """SERVES_INVOICE_DOCUMENTS: the invoice's images (records.Document), streamed; [] when it has none."""
        raise NotImplementedError


class ApConnector(Connector):
    """The batch contract: lookups and creates take a list and answer per item, so a connector can use
    its platform's bulk calls and concurrency. An item refused inside a batch is answered with the
    RecordError that refused it; a failure of the whole call (TransientError) fails the batch."""

    cursor_types = {}
    # How many records the engine hands over at once.
    batch_size = 1
    # What identifies the remote account the objects live in (one BILL organization, say), so that "look
    # up, then create" is serialised per account whichever connection or integration reaches it. None:
    # the connection itself.
    lock_scope = None
    vendor_key_prefix = ""  # the integration's (Integration.vendor_key_prefix), set by the engine before a run

    def vendor_payload(self, supplier):
        """What would be sent for this supplier (for dry runs and the audit trail)."""
        raise NotImplementedError

    def bill_payload(self, vendor_id, invoice, coding):
        """What would be sent for this invoice (for dry runs and the audit trail)."""
        raise NotImplementedError

    def find_vendors(self, suppliers):
        """{supplier source id: vendor id} for the suppliers that already have a vendor."""
        raise NotImplementedError

    def create_vendors(self, suppliers):
        """{supplier source id: new vendor id, or the RecordError that refused it}."""
        raise NotImplementedError

    def update_vendor(self, vendor_id, supplier):
        raise NotImplementedError

    def find_bills(self, items):
        """{invoice source id: bill id} for the (vendor id, invoice) pairs whose bill already exists."""
        raise NotImplementedError

    def create_bills(self, items):
        """{invoice source id: new bill id, or the RecordError that refused it} for (vendor id, invoice,
        coding) triples; `coding` maps each line index to its target ids (GL account, dimensions)."""
        raise NotImplementedError

    def payments(self, since=None):
        """Payments (records.Payment, or records.Unreadable) changed since `since`, a value of the
        payments stream's cursor type."""
        raise NotImplementedError

    def payable_currencies(self):
        """The currencies the account can pay bills in, or None when it does not restrict them. A bill in
        any other currency fails with that reason: nothing is converted."""
        return None

    def open_bills(self):
        """Every unpaid bill (records.OpenItem with the bill id as source_id), for the tie-out."""
        raise NotImplementedError

    def vendor_edits(self, since=None):
        """REPORTS_VENDOR_EDITS: vendors (records.VendorEdit, or records.Unreadable) changed since `since`,
        a value of the "vendor_edits" stream's cursor type. Our own updates come back too; the engine
        tells them apart by what it last sent."""
        raise NotImplementedError

    def publish_codes(self, codes):
        """ACCEPTS_REFERENCE_DATA: create or update the ERP's GL accounts and dimensions (records.GlAccount
        and records.Dimension; active False deactivates) as code lists. Returns {code key: the platform's
        id, or the RecordError that refused it}, the key being "gl_account:<code>" or "<kind>:<code>"."""
        raise NotImplementedError

    def attach_document(self, bill_id, document):
        """ACCEPTS_INVOICE_DOCUMENTS: stream a records.Document onto the bill; return the attachment's id."""
        raise NotImplementedError

    def archive_bill(self, bill_id):
        """ARCHIVES_BILLS: archive the bill so it cannot be paid (ops decide it, for a bill whose invoice the ERP held
        after it was sent). Archiving an archived bill changes nothing. Returns the platform's words for what it
        did; raises the RecordError that refused it (a bill paid, or being paid)."""
        raise NotImplementedError


# --- webhooks ---------------------------------------------------------------------------------------------
# Why a webhook request was refused. The webhooks floor keeps one example of each kind per subscription and hour,
# so the kinds are few and said in words a person reading the admin understands.
MISSING_SIGNATURE = "missing_signature"
NO_KEY = "no_key"
UNDECRYPTABLE_KEY = "undecryptable_key"
UNREADABLE_BODY = "unreadable_body"
TOO_LARGE = "too_large"
BAD_SIGNATURE = "bad_signature"
NOT_AN_EVENT = "not_an_event"
REFUSALS = [(MISSING_SIGNATURE, "Signature header missing"), (NO_KEY, "No security key stored"),
            (UNDECRYPTABLE_KEY, "Security key cannot be decrypted"), (UNREADABLE_BODY, "Body unreadable"),
            (TOO_LARGE, "Body too large"), (BAD_SIGNATURE, "Signature does not match"),
            (NOT_AN_EVENT, "Signed, but not an event of the system")]


@dataclass(frozen=True)
class Refusal:
    """A webhook request refused: one of the kinds above, the reason in words (sent back to the sender and kept
    as evidence: never a secret), and the HTTP status it is answered with."""

    kind: str
    reason: str
    status: int = 401


@dataclass(frozen=True)
class RemoteEvent:
    """One event a system pushed, in terms every system shares.

    raw is the event's own text, which is what is stored: parse(raw) gives this event back. data is the same
    event parsed, in the system's own shape, for its receiver to read. object_ids name what the event is about
    by kind ({"payment": ("stp…",), "bill": ("00n…",)}); occurred_at is when it happened, when the event says."""

    event_id: str
    type: str
    raw: str
    data: dict = field(repr=False)
    object_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class PaymentFailed:
    """What a failed-payment event means: the platform could not pay these bills, for this reason."""

    bill_ids: tuple[str, ...]
    reason: str


class WebhookReceiver:
    """What a system that pushes events implements, so that webhooks/ (storage, refusal counting, the body limit,
    queueing, the admin, the endpoint /webhooks/<system>/<subscription id>/) stays the same for every system.

    A System names its receiver (System.webhook_receiver_class_path). Receivers hold no state: the webhooks floor
    passes each method the stored subscription (webhooks.models.WebhookSubscription: remote_id, security_key,
    notification_url) or an open connector of the connection. Every remote call goes through the connector, so
    the system's limits, sessions and error classes apply to them as to any other call."""

    # The event types subscribed to, as the system names them.
    events = ()
    # The request header that carries the signature (for the default refuse_unread).
    signature_header = ""

    # --- the endpoint: no remote call may be made here -------------------------------------------------------
    def refuse_unread(self, headers, subscription):
        """The Refusal the headers alone call for, decided before a byte of the body is read (an unsigned flood
        must not cost a read each); None to read the body. The default suits a system that signs each body with
        the subscription's security key in `signature_header`."""
        if not headers.get(self.signature_header):
            return Refusal(MISSING_SIGNATURE, f"Missing {self.signature_header} header.")
        key = subscription.security_key
        if not key:
            return Refusal(NO_KEY, "The subscription has no security key; subscribe again or rotate the key.")
        if isinstance(key, Undecryptable):
            return Refusal(UNDECRYPTABLE_KEY, "The subscription's security key cannot be decrypted here.")
        return None

    def verify(self, body, headers, subscription):
        """None when the body (bytes) is the system's, signed for this subscription; otherwise the Refusal.
        headers, here and in refuse_unread, are the request's (case-insensitive: request.headers)."""
        raise NotImplementedError

    def parse(self, body):
        """The events (RemoteEvent) in a verified body (bytes, or the text stored for one event). Raises ValueError
        (UnicodeDecodeError and JSON errors are ValueErrors) when the body holds no event: the endpoint refuses it."""
        raise NotImplementedError

    # --- the task that processes a stored event ---------------------------------------------------------------
    def meaning(self, event, connection):
        """What the event means to ml-connector: a records.Payment (a payment changed: its state and each bill's
        share), a PaymentFailed, None for an event type it does not use, or a reason in words (a str) why this
        connection must not act on the event (it is kept as ignored, with that reason). May call the system through
        `connection` (to read a payment again); raises DataError naming the field that does not parse."""
        raise NotImplementedError

    # --- the subscription, on the system's side ----------------------------------------------------------------
    def subscribe(self, connector, name, notification_url, idempotency_key):
        """Have the system post `events` to notification_url; returns (remote id, security key). The same
        idempotency_key (the local row's id) on a repeat after a crash must not make a second subscription."""
        raise NotImplementedError

    def check(self, connector, remote_id):
        """True when the system has the subscription and delivers to it; False when it has disabled it; None
        when it no longer has it."""
        raise NotImplementedError

    def enable(self, connector, remote_id):
        """Enable a subscription the system disabled (after failed deliveries)."""
        raise NotImplementedError

    def rotate_key(self, connector, remote_id):
        """Have the system sign with a new security key from now on; returns the key."""
        raise NotImplementedError

    def history(self, connector, remote_id):
        """The events the system kept for the subscription, delivered or not, for catching up on those that never
        reached us: each a RemoteEvent, or records.Unreadable for an item that holds no readable event."""
        raise NotImplementedError
