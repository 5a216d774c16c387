from connectors.base import ERP, Field, System

SYSTEM = System(
    id="syspro",
    label="SYSPRO 8 (e.net + OData)",
    kind=ERP,
    credential_fields=(
        Field("operator", "Operator"),
        Field("operator_password", "Operator password", kind="secret", required=False),
        Field("company_id", "Company ID"),
        Field("company_password", "Company password", kind="secret", required=False),
    ),
    connector_class_path="connectors.syspro.connector.SysproConnector",
    # Planned (not built yet). Declared empty on purpose: SYSPRO will not have payments written back, and
    # the rest of its scope is not decided.
    capabilities=frozenset(),
    base_url_help="The e.net REST service, e.g. https://syspro.acme.com:40000/SYSPROWCFService/Rest",
)
