"""BILL's half of webhooks: the x-bill-sha-signature check, reading an event body, what payment events mean,
and the subscription on BILL's side (create or take over, check, enable, rotate the key, the event history).

Facts: https://developer.bill.com/docs/bill-webhook-api-general-rules (header, HMAC-SHA256, base64),
https://developer.bill.com/docs/payment-webhook-notification-payloads (the payment events' bodies),
https://developer.bill.com/docs/working-with-bill-webhooks (disabled after failed deliveries), and
reference/createsubscription (at most 10 subscriptions per organization, no two alike)."""

import base64
import hashlib
import hmac
import json

from connectors.assumptions import contradicted, held, probe, unchecked
from connectors.base import BAD_SIGNATURE, PaymentFailed, Refusal, RemoteEvent, WebhookReceiver
from connectors.bill.client import parse_bill_time
from connectors.bill.connector import bill_list, bill_object, bill_text, payment_from_bill
from connectors.errors import ConfigurationError, DataError
from connectors.records import Unreadable

HEADER = "x-bill-sha-signature"
# UNCONFIRMED (docs/ASSUMPTIONS.md B7): that any organization can subscribe to both; one version of
# https://developer.bill.com/docs/payment-webhook-notification-payloads says payment webhooks are for selected partners.
EVENTS = ["payment.updated", "payment.failed"]
MAX_PER_ORGANIZATION = 10


def catalogued_types(catalog):
    """The event types GET /v3/events/catalog names, or None when its answer is not a list of events. Read leniently:
    BILL documents the operation but not its answer's shape, so a list (or {"results": [...]}) of objects naming a
    `type` (or `name`, `eventType`), or of bare names, is taken."""
    if isinstance(catalog, dict):
        catalog = catalog.get("results")
    if not isinstance(catalog, list):
        return None
    types = set()
    for entry in catalog:
        if isinstance(entry, str):
            types.add(entry)
        elif isinstance(entry, dict):
            named = next((entry[key] for key in ("type", "name", "eventType") if isinstance(entry.get(key), str)), None)
            if named:
                types.add(named)
    return types


@probe("B7", "bill", fallback="no webhook subscription is attempted and payments arrive by the scheduled poll only")
def payment_events_catalogued(connector):
    """GET /v3/events/catalog (read-only) must list payment.updated and payment.failed for this organization and
    developer key."""
    types = catalogued_types(connector.client.events_catalog())
    if types is None:
        return unchecked("BILL answered GET /v3/events/catalog with something that is not a list of events, so "
                         "whether payment events are offered cannot be read from it.")
    missing = [event for event in EVENTS if event not in types]
    if missing:
        return contradicted(f"BILL's events catalog for this organization lists {len(types)} event type(s) without "
                            f"{' and '.join(missing)}.")
    return held(f"BILL's events catalog for this organization lists {' and '.join(EVENTS)} among {len(types)} event "
                "types.")


def sign(security_key, body):
    """x-bill-sha-signature = base64(HMAC-SHA256(securityKey, body))."""
    return base64.b64encode(hmac.new(security_key.encode(), body, hashlib.sha256).digest()).decode()


def minified(body):
    """The body re-serialised without whitespace, or None when it is not JSON."""
    try:
        return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    except (UnicodeDecodeError, ValueError):
        return None


def signed(security_key, body, signature):
    """True when the signature matches the raw body, or (UNCONFIRMED which BILL signs) its minified form."""
    if not security_key or not signature:
        return False
    if hmac.compare_digest(sign(security_key, body), signature):
        return True
    compact = minified(body)
    return compact is not None and compact != body and hmac.compare_digest(sign(security_key, compact), signature)


# As long as the event ledger keeps (webhooks.models.WebhookEvent.event_id); BILL's are UUIDs, 36.
EVENT_ID_LENGTH = 100


def parse_event(body):
    """The event as a dict; BILL may send the payload JSON-escaped as a string, so parse twice then."""
    data = json.loads(body)
    if isinstance(data, str):
        data = json.loads(data)
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise ValueError("no metadata object")
    event_id = data["metadata"].get("eventId")
    if event_id in (None, ""):
        raise ValueError("metadata.eventId is missing")
    # The id is what a repeat is known by: one cut to fit, or a value that is no id, could make two events one.
    if isinstance(event_id, bool) or not isinstance(event_id, str | int) or len(str(event_id)) > EVENT_ID_LENGTH:
        raise ValueError(f"metadata.eventId is not an event id (a text of at most {EVENT_ID_LENGTH} characters)")
    return data


def subject(data, event_type):
    """The object an event is about: the body's key named by the event type's first word (payment.updated: payment)."""
    value = data.get(event_type.split(".", 1)[0])
    return value if isinstance(value, dict) else {}


def listed(value):
    return value if isinstance(value, list) else []


def object_ids(entity, kind):
    """{kind: ids} named by an event's object, read leniently: the endpoint must store a signed event whatever its
    contents, and the task reads them strictly. A payment names its bills (billIds; bills[].id in payment.failed)
    and its vendor (vendor.id), a bill its vendor (vendorId)."""
    vendor = entity.get("vendor") if isinstance(entity.get("vendor"), dict) else {}
    named = [(kind, entity.get("id")), *(("bill", bill_id) for bill_id in listed(entity.get("billIds"))),
             *(("bill", bill.get("id")) for bill in listed(entity.get("bills")) if isinstance(bill, dict)),
             ("vendor", entity.get("vendorId")), ("vendor", vendor.get("id"))]
    ids = {}
    for name, value in named:
        if isinstance(value, str) and value and value not in ids.get(name, ()):
            ids[name] = (*ids.get(name, ()), value)
    return ids


def occurred_at(entity):
    """When the object last changed (updatedTime, else createdTime); None when the event does not say readably."""
    for key in ("updatedTime", "createdTime"):
        try:
            moment = parse_bill_time(entity.get(key))
        except DataError:
            continue
        if moment is not None:
            return moment
    return None


def failed_payment(data):
    """(bill ids, BILL's reasons in one line) of a payment.failed event, whose payment has no id yet."""
    where = "BILL payment.failed event"
    payment = bill_object(data.get("payment"), "payment", where)
    bill_ids = []
    for n, bill in enumerate(bill_list(payment.get("bills"), "payment.bills", where)):
        bill_id = bill_text(bill_object(bill, f"payment.bills[{n}]", where).get("id"), f"payment.bills[{n}].id", where)
        if bill_id:
            bill_ids.append(bill_id)
    messages = [bill_text(bill_object(error, f"errors[{n}]", where).get("message"), f"errors[{n}].message", where)
                for n, error in enumerate(bill_list(data.get("errors"), "errors", where))]
    return tuple(bill_ids), "; ".join(m for m in messages if m) or "no reason given"


def foreign_organization(metadata, connection):
    """Why the event must not be acted on through this connection, or None. The signature proves only that the
    sender holds this subscription's key; metadata.organizationId says whose event it is, and that must be the
    organization the connection reaches (its Organization ID setting), or the event's payment would be written
    back to our ERP although it does not exist in our organization."""
    named = metadata.get("organizationId")
    ours = connection.credentials.get("organization_id")
    # BILL's payloads name the organization in every event's metadata, but an event without one is still read as
    # before: it names no other organization, and its signature ties it to this subscription. A connection without
    # an Organization ID (never one saved through its form, which requires it) has nothing to compare with.
    if named in (None, "") or not ours or str(named) == ours:
        return None
    return (f"The event is about BILL organization {named}, not {ours} that this connection reaches: nothing was "
            "done with it.")


def event_payment(body, connection):
    """The event's payment. An event names the bills a payment covers but not each one's amount: for a
    payment of several bills the payment is read again from BILL, which gives the shares. An event carries no
    voidInfo either: an undone payment is read again for why and when it was voided (docs/ASSUMPTIONS.md B21)."""
    try:
        payment = payment_from_bill(body)
        if not payment.reversed:
            return payment
        payment_id = payment.payment_id
    except DataError as exc:
        payment_id = body.get("id") if isinstance(body, dict) else None
        if exc.field != "billPayments" or not isinstance(payment_id, str) or not payment_id:
            raise
    with connection.connector() as connector:
        return connector.payment(payment_id)


class BillWebhookReceiver(WebhookReceiver):
    events = EVENTS
    signature_header = HEADER

    def verify(self, body, headers, subscription):
        if signed(subscription.security_key, body, headers.get(HEADER, "")):
            return None
        return Refusal(BAD_SIGNATURE, "Signature does not match the body.")

    def parse(self, body):
        raw = body.decode("utf-8") if isinstance(body, bytes) else body
        data = parse_event(raw)
        metadata = data["metadata"]
        event_type = str(metadata.get("eventType", ""))
        entity = subject(data, event_type)
        kind = event_type.split(".", 1)[0]
        return [RemoteEvent(event_id=str(metadata["eventId"]), type=event_type, raw=raw, data=data,
                            object_ids=object_ids(entity, kind), occurred_at=occurred_at(entity))]

    def meaning(self, event, connection):
        foreign = foreign_organization(event.data["metadata"], connection)
        if foreign:
            return foreign
        if event.type == "payment.updated":
            return event_payment(event.data.get("payment"), connection)
        if event.type == "payment.failed":
            return PaymentFailed(*failed_payment(event.data))
        return None

    def subscribe(self, connector, name, notification_url, idempotency_key):
        if connector.connection.assumption_contradicted("B7"):
            raise ConfigurationError("BILL does not offer payment.updated and payment.failed to this organization "
                                     "(the last assumption check found them missing from its events catalog, B7), so "
                                     "no webhook subscription is made: payments arrive by the scheduled poll only.")
        client = connector.client
        existing = client.subscriptions()
        mine = next((s for s in existing if s["notificationUrl"] == notification_url), None)
        if mine is not None:
            # BILL refuses a second subscription alike, and shows a key only when it makes one: ours is there but
            # its key is lost here, so a new key makes it usable again.
            key = client.rotate_security_key(mine["id"])
            if not mine["status"]["enabled"]:
                client.enable_subscription(mine["id"])
            return mine["id"], key
        if len(existing) >= MAX_PER_ORGANIZATION:
            raise DataError(f"BILL allows {MAX_PER_ORGANIZATION} webhook subscriptions per organization and this one "
                            "has them all. Delete one in BILL first; until then payments arrive by polling.")
        created = client.create_subscription(name, self.events, notification_url, idempotency_key=idempotency_key)
        return created["id"], created["securityKey"]

    def check(self, connector, remote_id):
        remote = next((s for s in connector.client.subscriptions() if s["id"] == remote_id), None)
        return None if remote is None else bool(remote["status"]["enabled"])

    def enable(self, connector, remote_id):
        connector.client.enable_subscription(remote_id)

    def rotate_key(self, connector, remote_id):
        return connector.client.rotate_security_key(remote_id)

    def history(self, connector, remote_id):
        for item in connector.client.event_history(remote_id):
            # The event id the endpoint dedups on is the body's own metadata.eventId.
            payload = item.get("payload") if isinstance(item, dict) else None
            try:
                yield from self.parse(payload)
            except (TypeError, ValueError) as exc:
                item_id = str(item.get("id", "")) if isinstance(item, dict) else ""
                yield Unreadable("webhook event", item_id, item_id, f"BILL's event history item holds no event: {exc}")
