from django.core.exceptions import ValidationError

from connectors import capabilities as can
from connectors.avidxchange.files import outside_root
from connectors.spec import AP, Field, System

MODE_API = "api"
MODE_FILES = "files"
# UNCONFIRMED (docs/ASSUMPTIONS.md X7): AvidXchange publishes no attachment limit; 25 MB is our default,
# changed per connection by the option below.
DEFAULT_ATTACHMENT_MB = 25


def folder_inside_root(value):
    problem = outside_root(value)
    if problem:
        raise ValidationError(problem)


def attachment_megabytes(value):
    if not value.isdigit() or not 0 < int(value) <= 1024:
        raise ValidationError("The attachment limit is a whole number of megabytes from 1 to 1024.")


# UNCONFIRMED (docs/ASSUMPTIONS.md X16): AvidXchange documents no API host in public; this one is named by a
# third-party page only. The tokens go to no other host outside the sandbox.
DOCUMENTED_HOSTS = frozenset({"apistore.avidxchange.net"})


# AvidXchange publishes no open API reference (partners get one at onboarding). What is public, and
# third-party: customers authenticate with a company token and a user token made in AvidSuite and sent as
# request headers (docs/ASSUMPTIONS.md X1). Customers without API access exchange CSV files with AvidXchange
# through a folder their own transfer job moves to and from AvidXchange (X9).
SYSTEM = System(
    id="avidxchange",
    label="AvidXchange",
    kind=AP,
    credential_fields=(
        # Not required by the form: a connection in file mode has no tokens. The connector refuses API mode
        # without them, in words.
        Field("company_token", "Company token", kind="secret", required=False,
              help_text="AvidSuite → Settings → API tokens. API mode only."),
        Field("user_token", "User token", kind="secret", required=False,
              help_text="The token of the AvidSuite user the integration acts as. API mode only."),
    ),
    option_fields=(
        Field("mode", "Exchange", kind="choice", required=False, initial=MODE_API,
              choices=((MODE_API, "AvidXchange API (company and user tokens)"),
                       (MODE_FILES, "Files in a folder (invoice import and payment files)"))),
        Field("folder", "Exchange folder (file mode)", required=False, validators=(folder_inside_root,),
              help_text="Files for AvidXchange are written to <folder>/outbound; payment files are read from "
                        "<folder>/inbound. The customer's transfer job moves them."),
        Field("max_attachment_mb", "Largest invoice image (MB)", required=False,
              initial=str(DEFAULT_ATTACHMENT_MB), validators=(attachment_megabytes,)),
    ),
    connector_class_path="connectors.avidxchange.connector.AvidXchangeConnector",
    simulator_class_path="sandbox.avidxchange.simulator.AvidXchangeSimulator",
    # BATCH_CREATES: payees and invoices go 100 to a batch call answered per item (API mode), or many to a
    # file (file mode). READS_REFERENCE_DATA: the code lists published to AvidXchange are read back with the
    # ids AvidXchange gave them, which is what mapping rules point at. PAYMENTS_BY_POLLING only: no public
    # source confirms webhooks (UNCONFIRMED, docs/ASSUMPTIONS.md X12).
    capabilities=frozenset({can.CREATES_VENDORS, can.CREATES_BILLS, can.BATCH_CREATES, can.PAYMENTS_BY_POLLING,
                            can.ACCEPTS_REFERENCE_DATA, can.ACCEPTS_INVOICE_DOCUMENTS, can.READS_REFERENCE_DATA}),
    base_url_required=False,
    documented_hosts=DOCUMENTED_HOSTS,
    base_url_help="API mode: the AvidXchange API base given at onboarding, on apistore.avidxchange.net. Leave "
                  "blank in file mode.",
)
