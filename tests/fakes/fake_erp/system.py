"""The fake ERP's declaration: every ERP capability, so each step of the engine that needs one runs."""

from connectors.capabilities import ERP_CAPABILITIES
from connectors.spec import ERP, System

SYSTEM = System(
    id="fake_erp",
    label="Fake ERP",
    kind=ERP,
    credential_fields=(),
    connector_class_path="tests.fakes.fake_erp.connector.FakeErpConnector",
    capabilities=ERP_CAPABILITIES,
    base_url_required=False,
)
