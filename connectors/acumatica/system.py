import re

from django.core.exceptions import ValidationError

from connectors import capabilities as can
from connectors.spec import ERP, Field, System

SIGN_IN_OAUTH = "oauth"
SIGN_IN_COOKIE = "cookie"
HOLD_PAYMENTS = "hold"
RELEASE_PAYMENTS = "release"


def client_id(value):
    """Acumatica's OAuth client ids are the connected application's GUID, then @ and the tenant it signs in
    to (Integration Development Guide, "OAuth 2.0 and OpenID Connect")."""
    if value and not re.fullmatch(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}@\S+", value):
        raise ValidationError("The OAuth client ID is the application's GUID followed by @ and the tenant, "
                              "e.g. 4f6a1c2e-8d3b-4e9a-9c1f-2b7d5e8a0c31@MyCompany (Connected Applications, SM303010).")


def endpoint_version(value):
    if not re.fullmatch(r"\d+\.\d+\.\d+", value):
        raise ValidationError("The endpoint version reads like 24.200.001 (Web Service Endpoints, SM207060).")


def whole_number(value):
    if not value.isdigit() or int(value) < 1:
        raise ValidationError("Give a whole number, 1 or more.")


SYSTEM = System(
    id="acumatica",
    label="Acumatica (contract-based REST)",
    kind=ERP,
    credential_fields=(
        Field("sign_in", "Sign-in method", kind="choice", initial=SIGN_IN_OAUTH,
              choices=((SIGN_IN_OAUTH, "OAuth 2.0 (user name and password of a connected application)"),
                       (SIGN_IN_COOKIE, "Session sign-in (user name and password, cookie session)"))),
        Field("username", "User name"),
        Field("password", "Password", kind="secret"),
        Field("tenant", "Tenant (company)",
              help_text="As on the sign-in page. With OAuth it must be the tenant after the @ of the client ID."),
        Field("branch", "Branch", required=False, help_text="Session sign-in only; blank for the user's default."),
        Field("client_id", "OAuth client ID (GUID@Tenant)", required=False, validators=(client_id,),
              help_text="OAuth only: the connected application's client ID."),
        Field("client_secret", "OAuth client secret", kind="secret", required=False),
    ),
    option_fields=(
        Field("endpoint", "Endpoint name", initial="Default",
              help_text="The web service endpoint, as in Web Service Endpoints (SM207060)."),
        Field("version", "Endpoint version", initial="24.200.001", validators=(endpoint_version,),
              help_text="Test connection lists the versions this instance serves if it does not serve this one."),
        Field("concurrent_requests", "Concurrent API requests in the licence", required=False,
              validators=(whole_number,),
              help_text="On the License Monitoring Console (SM604000); blank when the licence sets none. "
                        "ml-connector keeps its calls in flight to it, across every worker (4 when blank). Its "
                        "connection holds one of the licence's API user slots, and gives it back after every run."),
        Field("requests_per_minute", "API requests per minute in the licence", required=False,
              validators=(whole_number,), help_text="Blank when the licence sets none."),
        Field("include_balanced", "Also read bills saved but not released (Balanced)", kind="choice",
              required=False, initial="no", choices=(("no", "No: released (Open) bills only"),
                                                     ("yes", "Yes: Balanced bills too"))),
        Field("release_payments", "Payments from BILL", kind="choice", required=False, initial=HOLD_PAYMENTS,
              choices=((HOLD_PAYMENTS, "Recorded on hold, for a person to release"),
                       (RELEASE_PAYMENTS, "Recorded and released"))),
        Field("cash_account", "Cash account for payments", required=False,
              help_text="Blank: the vendor's default cash account."),
        Field("payment_method", "Payment method for payments", required=False,
              help_text="Blank: the vendor's default payment method."),
        Field("base_currency", "Base currency", initial="USD", required=False,
              help_text="The currency of vendors that have none of their own."),
    ),
    connector_class_path="connectors.acumatica.connector.AcumaticaConnector",
    simulator_class_path="sandbox.acumatica.simulator.AcumaticaSimulator",
    capabilities=frozenset({can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES, can.READS_REFERENCE_DATA,
                            can.WRITES_PAYMENTS_BACK, can.REPORTS_HELD_INVOICES}),
    base_url_help="The instance URL, e.g. https://acme.acumatica.com (with the site's path if it has one).",
)
