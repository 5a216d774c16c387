import json

from django.core.exceptions import ValidationError

from connectors import capabilities as can
from connectors.addresses import url_problem
from connectors.infor import idm
from connectors.spec import ERP, Field, System

# The keys of a backend-service .ionapi file that the connector needs (others are kept as they are).
IONAPI_REQUIRED = ("ti", "ci", "cs", "iu", "pu", "ot", "saak", "sask")
IONAPI_URL_KEYS = ("iu", "pu")
IONAPI_SECRET_KEYS = ("cs", "saak", "sask")


def parse_ionapi(text):
    """Parse and check a .ionapi file; return the keys to store. Raises ValidationError naming the problem."""
    if not text:
        raise ValidationError("Upload the .ionapi file or paste its contents.")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValidationError(f"The .ionapi file is not valid JSON (line {getattr(exc, 'lineno', '?')}: "
                              f"{getattr(exc, 'msg', exc)}).") from None
    if not isinstance(data, dict):
        raise ValidationError("The .ionapi file must be a JSON object with keys such as ti, ci, cs, iu, pu.")
    missing = [k for k in IONAPI_REQUIRED if k not in data]
    if missing:
        hint = ""
        if set(missing) & {"saak", "sask"}:
            hint = (" A backend-service app needs a service account: download the credentials with "
                    "'Create Service Account' ticked.")
        raise ValidationError(f"The .ionapi file is missing {', '.join(missing)}.{hint}")
    wrong = [k for k, v in data.items() if not isinstance(v, str)]
    if wrong:
        raise ValidationError(f"In the .ionapi file, {', '.join(sorted(wrong))} must be text.")
    empty = [k for k in IONAPI_REQUIRED if not data[k].strip()]
    if empty:
        raise ValidationError(f"In the .ionapi file, {', '.join(empty)} is empty.")
    for key in IONAPI_URL_KEYS:
        problem = url_problem(data[key])
        if problem:
            raise ValidationError(f"In the .ionapi file, {key}: {problem}")
    return {k: v.strip() for k, v in data.items()}


def idm_type_name(value):
    if value and not idm.DOCUMENT_TYPE_NAME.fullmatch(value):
        raise ValidationError("The IDM document type is a name of letters, digits and _, e.g. M3_SupplierInvoice.")


def m3_company(value):
    if not value.isdigit() or not 0 < int(value) < 1000:
        raise ValidationError("Company (CONO) is a number from 1 to 999.")


SYSTEM = System(
    id="infor",
    label="Infor CloudSuite (M3 via ION API)",
    kind=ERP,
    credential_fields=(
        # A destination: the service account signs in at pu and the tokens go to iu.
        Field("ionapi", "ION API credentials (.ionapi file)", kind="document", parse=parse_ionapi,
              secret_keys=IONAPI_SECRET_KEYS, destination=True, address_keys=IONAPI_URL_KEYS,
              help_text="The file from ION API Gateway → Authorized Apps → Download Credentials "
                        "(backend service, with a service account)."),
    ),
    option_fields=(
        Field("company", "Company (CONO)", validators=(m3_company,)),
        Field("division", "Division (DIVI)", required=False),
        Field("document_store", "Invoice images", kind="choice", required=False, initial="",
              choices=(("", "None: invoices are sent without their image"),
                       (idm.DOCUMENT_STORE, "Infor Document Management (IDM)"))),
        Field("idm_document_type", "IDM document type of supplier invoices", required=False,
              initial=idm.DOCUMENT_TYPE, help_text=f"Usually {idm.DOCUMENT_TYPE}.", validators=(idm_type_name,)),
    ),
    connector_class_path="connectors.infor.connector.InforConnector",
    simulator_class_path="sandbox.infor.simulator.InforSimulator",
    # SERVES_INVOICE_DOCUMENTS: from IDM where the connection has it (option document_store); without it, every
    # invoice answers no image.
    capabilities=frozenset({can.READS_SUPPLIERS, can.READS_APPROVED_INVOICES, can.READS_REFERENCE_DATA,
                            can.WRITES_PAYMENTS_BACK, can.SERVES_INVOICE_DOCUMENTS, can.REPORTS_HELD_INVOICES}),
    base_url_required=False,
    base_url_help="Leave blank: the ION API base URL (iu) comes from the .ionapi file.",
)
