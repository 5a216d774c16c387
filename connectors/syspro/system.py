from connectors import capabilities as can
from connectors.spec import ERP, Field, System

SYSTEM = System(
    id="syspro",
    label="SYSPRO 8 (e.net + OData)",
    kind=ERP,
    credential_fields=(
        Field("operator", "Operator"),
        Field("operator_password", "Operator password", kind="secret", required=False),
        Field("company_id", "Company ID"),
        Field("company_password", "Company password", kind="secret", required=False),
        Field("odata_user", "OData user", required=False,
              help_text="Blank: the operator above, which must then be set up for OData access."),
        Field("odata_password", "OData password", kind="secret", required=False,
              help_text="Blank: the operator password."),
    ),
    option_fields=(
        # A destination: OData is signed in to with the operator's (or the OData user's) password.
        Field("odata_url", "OData service URL", required=False, destination=True,
              help_text="The company's SYSPRO OData service root, if the site runs one: tables are then read "
                        "there. Blank: they are read through e.net (COMFND queries on the logon session)."),
    ),
    connector_class_path="connectors.syspro.connector.SysproConnector",
    simulator_class_path="sandbox.syspro.simulator.SysproSimulator",
    # No WRITES_PAYMENTS_BACK: ml-connector posts nothing to SYSPRO (payments are recorded here only), so
    # the operator needs read access alone.
    capabilities=frozenset({can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES, can.READS_REFERENCE_DATA,
                            can.REPORTS_HELD_INVOICES}),
    base_url_help="The e.net REST service, e.g. https://syspro.acme.com:40000/SYSPROWCFService/Rest",
)
