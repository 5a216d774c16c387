"""Every IFS Cloud name ml-connector relies on, decided once for the connector and the simulator alike:
the projections and entity sets it reads and writes, their keys, the properties it selects with their
OData types, and the enumerations it filters on.

IFS publishes no stable list of projections, and their names change between releases (docs/ASSUMPTIONS.md
F1): a customer finds the real ones in IFS Cloud Web (page info, or the debug console's server invokes:
https://docs.ifs.com/appservicesdocs/030_portal_studio/125_providers/05_projections_in_ifs_cloud/) and in
each projection's $metadata. So every name below is only a default: a connection overrides any of them
with its "projections" option (`parse_overrides`), and the simulator can be told to serve other names
(its `account` control) as a tenant on another release would.

Confirmed by IFS's documentation: the URL layout (/main/ifsapplications/projection/v1/<Projection>.svc/
<EntitySet>, https://docs.ifs.com/techdocs/25r2/040_tailoring/300_extensibility/010_get_started/
100_api_documentation), enum literals written with their namespace-qualified type
(IfsApp.<Projection>.<EnumType>'<Member>'), Timestamp values written YYYY-MM-DDThh:mm:ssTZD
(https://docs.ifs.com/techdocs/22r1/040_tailoring/300_extensibility/100_odata_provider/
1100_date_time_timestamp_usage/), and the Transfer Status of a supplier invoice set to Transferred once a
third-party payables application has it (https://docs.ifs.com/ifsclouddocs/23r2/FinancialConnector/
ActivityConfirmSendSupplierInvoice.htm). Everything else here is UNCONFIRMED and listed in
docs/ASSUMPTIONS.md (F1-F6).
"""

import re
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError

from connectors import capabilities as can
from connectors.assumptions import HELD, UNCHECKED, contradicted, held, probe, unchecked
from connectors.odata import EnumMember

ROOT = "/main/ifsapplications/projection/v1"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class EntitySet:
    """One collection: top-level (`projection` and `name`) or reached through a parent's key (`parent`,
    the name of another EntitySet, and `name` is then the navigation property)."""

    id: str  # our name for it, the one the "projections" option uses
    projection: str
    name: str
    keys: tuple[str, ...]
    fields: dict  # property -> OData type, as sandbox.odata.apply_query takes them
    parent: str = ""

    def enum(self, type_name, member):
        """An enum literal of this projection: IfsApp.<Projection>.<EnumType>'<Member>'."""
        return EnumMember(f"IfsApp.{self.projection}.{type_name}", member)

    def enum_type(self, type_name):
        return f"IfsApp.{self.projection}.{type_name}"


def enum_field(type_name, members):
    """A field spec whose type name the simulator completes with the projection it serves."""
    return ("enum", type_name, tuple(members))


# --- enumerations (members are the values IFS filters on, never the labels a page shows) --------------------------
# UNCONFIRMED (F4): the members of a supplier invoice's state. "Posted" and later are authorized for
# payment; "Preliminary" is not approved yet. The page shows "Partly Paid"; the filter takes PartlyPaid.
INVOICE_STATE = "SupplierInvoiceState"
INVOICE_STATES = ("Preliminary", "Posted", "PartlyPaid", "Paid", "Cancelled")
APPROVED_STATES = ("Posted", "PartlyPaid", "Paid")
# UNCONFIRMED (F11): an invoice AP stops after approval is cancelled; read only to notice it (include_held).
CANCELLED_STATE = "Cancelled"
UNPAID_STATES = ("Posted", "PartlyPaid")
# The Transfer Status IFS's Financial Connector sets to Transferred (confirmed); the member names are not.
TRANSFER_STATUS = "SuppInvTransferStatus"
TRANSFER_STATUSES = ("NotTransferred", "Transferred")
TRANSFERRED = "Transferred"
# A supplier's communication methods. UNCONFIRMED (F2): the member names (the page shows "E-Mail").
COMM_METHOD = "CommMethodCode"
COMM_METHODS = ("EMail", "Phone", "Mobile", "Fax", "Www")
EMAIL, PHONE = "EMail", "Phone"
# UNCONFIRMED (F5): the status of a payment recorded from the AP platform.
PAYMENT_STATUS = "ExternalPaymentStatus"
PAYMENT_PAID, PAYMENT_VOIDED = "Paid", "Voided"

# --- the collections -----------------------------------------------------------------------------------------------
SUPPLIERS = EntitySet(
    # Weakly corroborated: a public IFS Cloud 25R1 endpoint list names SuppliersHandling.svc/SupplierInfoGeneralSet.
    # UNCONFIRMED (F2): its properties. The tax id is the association number, the supplier's currency and
    # "blocked for use" sit on it; it offers no change timestamp (the ETag's objversion is used, F3).
    "suppliers", "SuppliersHandling", "SupplierInfoGeneralSet", ("SupplierId",),
    {"SupplierId": "string", "Name": "string", "AssociationNo": "string", "CurrencyCode": "string",
     "BlockedForUse": "bool"})
SUPPLIER_ADDRESSES = EntitySet(
    # Property names after IFS's SUPPLIER_INFO_ADDRESS view (ADDRESS1, ZIP_CODE, CITY, STATE, COUNTRY_DB...).
    "supplier_addresses", "SuppliersHandling", "SupplierInfoAddresses", ("SupplierId", "AddressId"),
    {"SupplierId": "string", "AddressId": "string", "Address1": "string", "Address2": "string",
     "ZipCode": "string", "City": "string", "State": "string", "Country": "string", "ValidFrom": "date",
     "ValidTo": "date"}, parent="suppliers")
SUPPLIER_COMM_METHODS = EntitySet(
    "supplier_comm_methods", "SuppliersHandling", "AddressCommunicationMethods", ("SupplierId", "CommId"),
    {"SupplierId": "string", "CommId": "int", "AddressId": "string",
     "MethodId": enum_field(COMM_METHOD, COMM_METHODS), "Value": "string", "MethodDefault": "bool"},
    parent="supplier_addresses")
INVOICES = EntitySet(
    # UNCONFIRMED (F4): projection, set and properties. Rowversion is the change timestamp it offers.
    "invoices", "SupplierInvoiceHandling", "SupplierInvoiceSet", ("Company", "InvoiceId"),
    {"Company": "string", "InvoiceId": "int", "InvoiceNo": "string", "Identity": "string",
     "InvoiceDate": "date", "DueDate": "date", "Currency": "string", "GrossAmount": "decimal",
     "OpenAmount": "decimal", "PoRefNumber": "string", "Objstate": enum_field(INVOICE_STATE, INVOICE_STATES),
     "TransferStatus": enum_field(TRANSFER_STATUS, TRANSFER_STATUSES), "Rowversion": "datetimeoffset"})
INVOICE_LINES = EntitySet(
    # UNCONFIRMED (F4): the posting lines, one code string (CodeA the account, CodeB-CodeD the code parts).
    "invoice_lines", "SupplierInvoiceHandling", "SupplierInvoicePostingSet", ("Company", "InvoiceId", "RowNo"),
    {"Company": "string", "InvoiceId": "int", "RowNo": "int", "CodeA": "string", "CodeB": "string",
     "CodeC": "string", "CodeD": "string", "CurrAmount": "decimal", "Text": "string", "PoRefNumber": "string"})
PAYMENTS = EntitySet(
    # UNCONFIRMED (F5): a custom entity the customer adds for payments made outside IFS, one row per invoice
    # and AP payment id (IFS's own route, a mixed payment, has no external payment id to look up).
    "payments", "CExternalPaymentHandling", "ExternalPaymentSet", ("Company", "InvoiceId", "PaymentId"),
    {"Company": "string", "InvoiceId": "int", "PaymentId": "string", "Amount": "decimal", "PaymentDate": "date",
     "Reference": "string", "Status": enum_field(PAYMENT_STATUS, (PAYMENT_PAID, PAYMENT_VOIDED))})
GL_ACCOUNTS = EntitySet(
    # UNCONFIRMED (F6): code part A values, valid between ValidFrom and ValidUntil.
    "gl_accounts", "AccountsHandling", "AccountSet", ("Company", "Account"),
    {"Company": "string", "Account": "string", "Description": "string", "AccntType": "string",
     "ValidFrom": "date", "ValidUntil": "date"})
CODE_PART_VALUES = EntitySet(
    # UNCONFIRMED (F6): the values of code parts B-J.
    "code_part_values", "CodePartValuesHandling", "CodePartValueSet", ("Company", "CodePart", "CodePartValue"),
    {"Company": "string", "CodePart": "string", "CodePartValue": "string", "Description": "string",
     "ValidFrom": "date", "ValidUntil": "date"})

# The records.Address fields, as the address properties hold them.
ADDRESS_PROPERTIES = {"line1": "Address1", "line2": "Address2", "city": "City", "region": "State",
                      "postal_code": "ZipCode", "country": "Country"}

DEFAULTS = {s.id: s for s in (SUPPLIERS, SUPPLIER_ADDRESSES, SUPPLIER_COMM_METHODS, INVOICES, INVOICE_LINES,
                              PAYMENTS, GL_ACCOUNTS, CODE_PART_VALUES)}

# UNCONFIRMED (F6): which code part holds which kind of dimension. A connection's "code_parts" option replaces it.
DEFAULT_CODE_PARTS = {"B": "department", "C": "project"}
DIMENSION_KINDS = ("department", "location", "class", "project", "subaccount")
LINE_CODE_PARTS = ("B", "C", "D")  # the ones a posting line carries (INVOICE_LINES)
# UNCONFIRMED (F5): the reference text field of the payment entity.
REFERENCE_LENGTH = 50


# --- overrides ----------------------------------------------------------------------------------------------------
def parse_overrides(text):
    """The "projections" option: `id=Projection/EntitySet` for a top-level set (".svc" may be written) and
    `id=NavigationProperty` for one reached through its parent, separated by commas, semicolons or lines.
    Returns {id: (projection or "", name)}; raises ValidationError naming what is wrong."""
    overrides = {}
    for item in re.split(r"[,;\n]", text or ""):
        item = item.strip()
        if not item:
            continue
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or name not in DEFAULTS:
            raise ValidationError(f"{item!r}: write id=Projection/EntitySet, the id one of {', '.join(DEFAULTS)}.")
        spec = DEFAULTS[name]
        projection, slash, entity_set = value.rpartition("/")
        projection = projection.removesuffix(".svc")
        if spec.parent and slash:
            raise ValidationError(f"{name} is reached through {spec.parent}: give its navigation property only.")
        if not spec.parent and not slash:
            raise ValidationError(f"{name}: give the projection and the entity set, e.g. "
                                  f"{spec.projection}/{spec.name}.")
        for part in (p for p in (projection, entity_set) if p or not spec.parent):
            if not IDENTIFIER.fullmatch(part):
                raise ValidationError(f"{name}: {part!r} is not a projection or entity set name.")
        overrides[name] = (projection, entity_set)
    return overrides


def validate_overrides(text):
    parse_overrides(text)


def entity_sets(overrides=None):
    """{id: EntitySet} with a connection's overrides applied; a child set follows its parent's projection."""
    sets = dict(DEFAULTS)
    for name, (projection, entity_set) in (overrides or {}).items():
        sets[name] = replace(sets[name], name=entity_set, **({"projection": projection} if projection else {}))
    for name, spec in sets.items():
        if spec.parent:
            sets[name] = replace(spec, projection=sets[sets[spec.parent].parent or spec.parent].projection)
    return sets


def parse_code_parts(text):
    """The "code_parts" option: `B=department, C=project`; {} for blank (the default applies)."""
    mapping = {}
    for item in re.split(r"[,;\n]", text or ""):
        item = item.strip()
        if not item:
            continue
        part, sep, kind = (p.strip() for p in item.partition("="))
        part = part.upper()
        if not sep or part not in LINE_CODE_PARTS or kind not in DIMENSION_KINDS:
            raise ValidationError(f"{item!r}: write code part=kind, the code part one of {', '.join(LINE_CODE_PARTS)} "
                                  f"and the kind one of {', '.join(DIMENSION_KINDS)}.")
        if kind in mapping.values():
            raise ValidationError(f"Two code parts cannot both be the {kind}.")
        mapping[part] = kind
    return mapping


def validate_code_parts(text):
    parse_code_parts(text)


def odata_fields(spec):
    """The set's fields as connectors.odata takes them, each enum type qualified with the set's projection."""
    return {name: ("enum", spec.enum_type(kind[1]), kind[2]) if isinstance(kind, tuple) else kind
            for name, kind in spec.fields.items()}


def path(sets, spec, *parents):
    """The URL path (below the base URL) of a collection; `parents` are the key dicts of the sets above it,
    outermost first."""
    chain = []
    current = spec
    while current.parent:
        chain.append(current)
        current = sets[current.parent]
    chain.append(current)
    chain.reverse()
    if len(parents) != len(chain) - 1:
        raise ValueError(f"{spec.id} needs the keys of {len(chain) - 1} parent(s)")
    text = f"{ROOT}/{chain[0].projection}.svc/{chain[0].name}"
    for keys, child in zip(parents, chain[1:], strict=True):
        text += f"({key_predicate(keys)})/{child.name}"
    return text


def entity_path(sets, spec, keys, *parents):
    """The URL path of one entity by its key."""
    return f"{path(sets, spec, *parents)}({key_predicate(keys)})"


def key_predicate(keys):
    """Company='10',InvoiceId=1001: strings quoted (a quote doubled), numbers bare."""
    parts = []
    for name, value in keys.items():
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"Key {name}={value!r} must be text or a whole number")
        parts.append(f"{name}={value}" if isinstance(value, int) else f"{name}='{value.replace(chr(39), chr(39) * 2)}'")
    return ",".join(parts)


# --- what the tenant's $metadata declares (the assumption check, read-only) ----------------------------------------
class Undeclared(Exception):
    """A projection, entity set or navigation the tenant's $metadata does not declare; the message says which."""


def declared(connector, spec):
    """{property: type} of the set `spec` as its projection's $metadata declares it (GET <Projection>.svc/$metadata
    under /projection/v1/, read once a connector). A set reached through its parent is its parent's navigation
    property, its type the navigation's target."""
    metadata = connector.client.metadata(spec.projection)
    if metadata is None:
        raise Undeclared(f"{spec.projection} is no projection of this tenant (its $metadata answered 404)")
    if not spec.parent:
        if spec.name not in metadata.entity_sets:
            raise Undeclared(f"{spec.projection} has no entity set {spec.name}")
        return metadata.entity_sets[spec.name]
    parent = connector.sets[spec.parent]
    properties = metadata.navigation_target(declared(connector, parent), spec.name)
    if properties is None:
        raise Undeclared(f"{parent.name} of {spec.projection} has no navigation {spec.name}")
    return properties


def check_sets(connector, ids):
    """Each set of `ids` declared with every property ml-connector reads or writes, or what is not."""
    problems, names, count = {}, [], 0
    for spec in (connector.sets[i] for i in ids):
        try:
            properties = declared(connector, spec)
        except Undeclared as exc:
            problems[str(exc)] = None
            continue
        missing = [name for name in spec.fields if name not in properties]
        if missing:
            problems[f"{spec.name} of {spec.projection} has no {', '.join(missing)}"] = None
        names.append(spec.name)
        count += len(spec.fields) - len(missing)
    if problems:
        return contradicted("; ".join(problems) + ".")
    used = sorted({connector.sets[i].projection for i in ids})
    return held(f"The $metadata of {', '.join(used)} (under /projection/v1/) declares {', '.join(names)}, with all "
                f"{count} properties read.")


def check_members(connector, spec, enums):
    """Each (property, enum type, members relied on) of `enums` typed with that enum of the set's projection (our
    literals name it) and the enum holding those members."""
    try:
        properties = declared(connector, spec)
    except Undeclared as exc:
        return unchecked(f"{exc}, so its enumerations cannot be looked at (F1).")
    metadata = connector.client.metadata(spec.projection)
    problems, seen = [], []
    for name, enum, used in enums:
        wanted, typed = spec.enum_type(enum), properties.get(name)
        if typed != wanted:
            problems.append(f"{spec.name}.{name} is {f'typed {typed}' if typed else 'not declared'}, not {wanted}")
            continue
        members = metadata.enums.get(wanted, ())
        absent = [member for member in dict.fromkeys(used) if member not in members]
        if absent:
            problems.append(f"{wanted} has no member {', '.join(absent)} (its members: "
                            f"{', '.join(members) or 'none'})")
        else:
            seen.append(f"{wanted} has {', '.join(members)}")
    return contradicted("; ".join(problems) + ".") if problems else held("; ".join(seen) + ".")


@probe("F1", "ifs", stops=(can.READS_SUPPLIERS, can.ACCEPTS_SUPPLIER_UPDATES, can.READS_APPROVED_INVOICES,
                           can.REPORTS_HELD_INVOICES, can.ACKNOWLEDGES_TRANSFERRED_INVOICES, can.READS_REFERENCE_DATA))
def check_projections(connector):
    """The projections (v1) and sets every run reads through, with their properties; the payment entity is F5's."""
    return check_sets(connector, [name for name in connector.sets if name != "payments"])


@probe("F4", "ifs", stops=(can.READS_APPROVED_INVOICES, can.REPORTS_HELD_INVOICES,
                           can.ACKNOWLEDGES_TRANSFERRED_INVOICES))
def check_invoice_enums(connector):
    """The states the invoice read filters on and the Transfer Status the mark writes, as enum members; and
    Rowversion a DateTimeOffset, as the change filter compares it."""
    spec = connector.sets["invoices"]
    found = check_members(connector, spec, (
        ("Objstate", INVOICE_STATE, (*APPROVED_STATES, CANCELLED_STATE, *UNPAID_STATES)),
        ("TransferStatus", TRANSFER_STATUS, (TRANSFERRED,))))
    if found.status == UNCHECKED:
        return found
    rowversion = declared(connector, spec).get("Rowversion")
    if rowversion != "Edm.DateTimeOffset":
        return contradicted(f"{found.seen} {spec.name}.Rowversion is {rowversion or 'not declared'}, not "
                            "Edm.DateTimeOffset.")
    return held(f"{found.seen} {spec.name}.Rowversion is Edm.DateTimeOffset.") if found.status == HELD else found


@probe("F5", "ifs", stops=(can.WRITES_PAYMENTS_BACK,))
def check_payment_entity(connector):
    """The customer's payment entity, its properties and the statuses written to it."""
    found = check_sets(connector, ["payments"])
    if found.status != HELD:
        return found
    statuses = check_members(connector, connector.sets["payments"],
                             (("Status", PAYMENT_STATUS, (PAYMENT_PAID, PAYMENT_VOIDED)),))
    return held(f"{found.seen} {statuses.seen}") if statuses.status == HELD else statuses
