from connectors import capabilities as can
from connectors.base import ERP, Field, System

SYSTEM = System(
    id="ifs",
    label="IFS Cloud (OData v4)",
    kind=ERP,
    credential_fields=(
        Field("realm", "IAM realm (usually the environment name)"),
        Field("client_id", "IAM client ID"),
        Field("client_secret", "IAM client secret", kind="secret"),
    ),
    option_fields=(Field("company", "Company"),),
    connector_class_path="connectors.ifs.connector.IfsConnector",
    # Planned (not built yet).
    capabilities=frozenset({can.WRITES_PAYMENTS_BACK, can.ACKNOWLEDGES_TRANSFERRED_INVOICES,
                            can.ACCEPTS_SUPPLIER_UPDATES}),
    base_url_help="The IFS Cloud instance, e.g. https://acme.ifs.cloud",
)
