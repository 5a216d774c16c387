from connectors import capabilities as can
from connectors.base import AP, Field, System

# AvidXchange publishes no public API reference; OAuth2 client credentials is the partner model
# reported by third parties (UNCONFIRMED, docs/ASSUMPTIONS.md X1).
SYSTEM = System(
    id="avidxchange",
    label="AvidXchange",
    kind=AP,
    credential_fields=(
        Field("client_id", "Client ID"),
        Field("client_secret", "Client secret", kind="secret"),
        Field("company_id", "Company ID"),
    ),
    connector_class_path="connectors.avidxchange.connector.AvidXchangeConnector",
    # Planned (not built yet).
    capabilities=frozenset({can.ACCEPTS_REFERENCE_DATA, can.ACCEPTS_INVOICE_DOCUMENTS, can.PAYMENTS_BY_POLLING}),
    base_url_help="The AvidXchange API base given at partner onboarding.",
)
