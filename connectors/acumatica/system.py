from connectors import capabilities as can
from connectors.base import ERP, Field, System

SYSTEM = System(
    id="acumatica",
    label="Acumatica (contract-based REST)",
    kind=ERP,
    credential_fields=(
        Field("client_id", "OAuth client ID (GUID@Tenant)"),
        Field("client_secret", "OAuth client secret", kind="secret"),
        Field("username", "User name"),
        Field("password", "Password", kind="secret"),
    ),
    option_fields=(
        Field("tenant", "Tenant (company)"),
        Field("branch", "Branch", required=False),
        Field("endpoint", "Endpoint name/version", initial="Default/24.200.001"),
    ),
    connector_class_path="connectors.acumatica.connector.AcumaticaConnector",
    # Planned (not built yet).
    capabilities=frozenset({can.WRITES_PAYMENTS_BACK}),
    base_url_help="The instance URL, e.g. https://acme.acumatica.com",
)
