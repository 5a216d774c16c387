import re

from django.core.exceptions import ValidationError

from connectors import capabilities as can
from connectors.spec import AP, Field, System


def organization_id(value):
    if not value.startswith("008"):
        raise ValidationError("The BILL organization ID starts with 008 (Settings → Sync & Integrations).")


CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


def parse_currencies(value):
    """The currencies option as stored: ISO 4217 codes, upper case, each once, comma-separated without spaces.
    A word such as "dollars" would make every bill fail as in a currency the organization does not pay."""
    entries = [entry.strip() for entry in value.split(",")]
    wrong = [f"'{entry}'" for entry in entries if entry and not CURRENCY_CODE.fullmatch(entry)]
    if "" in entries:
        wrong.append("an empty entry")
    if wrong:
        raise ValidationError(f"{', '.join(wrong)}: list three-letter ISO 4217 currency codes separated by commas, "
                              "such as USD,CAD.")
    return {"currencies": ",".join(dict.fromkeys(entry.upper() for entry in entries))}


# The API gateways BILL documents (sandbox and production, https://developer.bill.com/docs/development-environments
# and https://developer.bill.com/docs/get-started-in-production); the webhooks API is on the same hosts.
DOCUMENTED_HOSTS = frozenset({"gateway.stage.bill.com", "gateway.prod.bill.com"})

SIGN_IN_USER = "user"
SIGN_IN_SYNC_TOKEN = "sync_token"

SYSTEM = System(
    id="bill",
    label="BILL (v3 API)",
    kind=AP,
    credential_fields=(
        Field("sign_in", "Sign-in method", kind="choice", initial=SIGN_IN_USER,
              choices=((SIGN_IN_USER, "User name and password (35-minute sessions)"),
                       (SIGN_IN_SYNC_TOKEN, "AP & AR sync token (48-hour sessions, no payments)"))),
        Field("username", "User name, or sync token name"),
        Field("password", "Password, or sync token value", kind="secret"),
        Field("organization_id", "Organization ID", validators=(organization_id,)),
        Field("dev_key", "Developer key", kind="secret"),
    ),
    option_fields=(
        Field("currencies", "Currencies this organization pays bills in", required=False, initial="USD",
              parse=parse_currencies,
              help_text="Comma-separated ISO 4217 codes, such as USD,CAD. A bill in any other currency fails with "
                        "that reason; nothing is converted."),
    ),
    connector_class_path="connectors.bill.connector.BillConnector",
    simulator_class_path="sandbox.bill.simulator.BillSimulator",
    webhook_receiver_class_path="connectors.bill.webhooks.BillWebhookReceiver",
    # BATCH_CREATES: vendors and bills go through BILL's all-or-nothing bulk endpoints (20 vendors, 100 bills
    # a call), a refused batch falling back to single creates (BillClient._bulk).
    # ARCHIVES_BILLS: POST /v3/bills/{billId}/archive (https://developer.bill.com/reference/archivebill).
    capabilities=frozenset({can.CREATES_VENDORS, can.CREATES_BILLS, can.BATCH_CREATES, can.READS_REFERENCE_DATA,
                            can.PAYMENTS_BY_WEBHOOK, can.PAYMENTS_BY_POLLING, can.REPORTS_VENDOR_EDITS,
                            can.ARCHIVES_BILLS}),
    documented_hosts=DOCUMENTED_HOSTS,
    base_url_help="The AP/AR API base, e.g. https://gateway.stage.bill.com/connect (sandbox) or "
                  "https://gateway.prod.bill.com/connect. Webhooks use the sibling …/connect-events.",
)
