from django.core.exceptions import ValidationError

from connectors import capabilities as can
from connectors.ifs.projections import DEFAULT_CODE_PARTS, validate_code_parts, validate_overrides
from connectors.spec import ERP, Field, System

# UNCONFIRMED (F7): IFS publishes no request limit. What every worker together sends to one IFS instance in a
# minute unless the connection's "calls_per_minute" option says otherwise.
DEFAULT_CALLS_PER_MINUTE = 1000


def calls_per_minute(value):
    if not value.isdigit() or not 0 < int(value) <= 100_000:
        raise ValidationError("Calls per minute is a whole number from 1 to 100000.")


SYSTEM = System(
    id="ifs",
    label="IFS Cloud (OData v4)",
    kind=ERP,
    credential_fields=(
        Field("realm", "IAM realm (usually the environment name)",
              help_text="The <realm> of https://<instance>/auth/realms/<realm>/protocol/openid-connect/token."),
        Field("client_id", "IAM client ID",
              help_text="An IAM client with Service Accounts enabled, bound to a service user."),
        Field("client_secret", "IAM client secret", kind="secret"),
    ),
    option_fields=(
        Field("company", "Company"),
        Field("calls_per_minute", "Calls per minute", required=False, initial=str(DEFAULT_CALLS_PER_MINUTE),
              validators=(calls_per_minute,),
              help_text="What every worker together sends to this IFS instance in a minute. IFS publishes no "
                        "limit; ask the customer's IFS administrator."),
        Field("projections", "Projections", required=False, validators=(validate_overrides,),
              help_text="Only where this IFS release names them differently: id=Projection/EntitySet, or "
                        "id=NavigationProperty for addresses and communication methods, separated by commas. "
                        "Ids: suppliers, supplier_addresses, supplier_comm_methods, invoices, invoice_lines, "
                        "payments, gl_accounts, code_part_values."),
        Field("code_parts", "Code parts", required=False, validators=(validate_code_parts,),
              initial=", ".join(f"{part}={kind}" for part, kind in DEFAULT_CODE_PARTS.items()),
              help_text="Which code part holds which dimension, e.g. B=department, C=project, D=location."),
    ),
    connector_class_path="connectors.ifs.connector.IfsConnector",
    simulator_class_path="sandbox.ifs.simulator.IfsSimulator",
    capabilities=frozenset({can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES, can.READS_REFERENCE_DATA,
                            can.WRITES_PAYMENTS_BACK, can.ACKNOWLEDGES_TRANSFERRED_INVOICES,
                            can.ACCEPTS_SUPPLIER_UPDATES, can.REPORTS_HELD_INVOICES}),
    base_url_help="The IFS Cloud instance, e.g. https://acme.ifs.cloud",
)
