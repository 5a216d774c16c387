"""Which M3 transactions the Infor connector uses, and what each one takes and returns, decided in one
place: the connector (connector.py, client.py) and the simulator (sandbox/<id>/simulator.py) both read this module.

Every standard transaction below carries its documented input and output fields, copied from the M3
metadata as published in GaryWayneSmith/M3H5 (M3H5Lib.Api/<PROGRAM>Resource.cs for the inputs and
which are required, M3H5Lib.Api/<PROGRAM>/<Transaction>Response.cs for the outputs, with each field's
type and length; generated from M3 metadata, "Updated 20240605"). Facts on the MI REST API itself come
from Infor's M3 MI REST documentation and its Odin client (infor-cloud/m3-odin). The custom and
extension transactions (CMS100MI, EXT200MI) are not Infor's: their layouts are our assumptions
(docs/ASSUMPTIONS.md I1-I4), written here once.

M3 publishes no standard "list invoices approved for payment" or "post a payment on an AP invoice"
transaction in its published MI programs. Both choices below are UNCONFIRMED and customer-
specific: change them here (and the simulator follows).
"""

from dataclasses import dataclass

M3H5 = "GaryWayneSmith/M3H5 M3H5Lib.Api"


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # A alphanumeric, N numeric, D date (yyyyMMdd)
    length: int


def fields(spec):
    """'SUNO A10 SUNM A36 …' as Fields."""
    parts = spec.split()
    return tuple(Field(name, kind[0], int(kind[1:])) for name, kind in zip(parts[::2], parts[1::2], strict=True))


@dataclass(frozen=True)
class Transaction:
    program: str
    name: str
    inputs: tuple  # Fields
    required: frozenset  # input names M3 refuses the call without
    outputs: tuple  # Fields, in M3's order
    source: str  # where the layout comes from
    descriptions: tuple = ()  # (field, M3's description) of the inputs, for MI error texts

    def __iter__(self):  # unpacks as (program, transaction)
        return iter((self.program, self.name))

    def __str__(self):
        return f"{self.program}/{self.name}"

    @property
    def input_names(self):
        return frozenset(f.name for f in self.inputs)

    @property
    def output_names(self):
        return tuple(f.name for f in self.outputs)

    def input(self, name):
        return next(f for f in self.inputs if f.name == name)

    def output(self, name):
        return next(f for f in self.outputs if f.name == name)

    def description(self, name):
        return dict(self.descriptions).get(name, name)


def transaction(program, name, inputs, required, outputs, source, descriptions=()):
    return Transaction(program, name, fields(inputs), frozenset(required.split()), fields(outputs), source,
                       tuple(descriptions))


# --- suppliers --------------------------------------------------------------------------------------------
# CRS620MI/LstSuppliers returns no STAT, no address lines, no e-mail and no LMTS: those come from the
# transactions after it. Its LMTS *input* ("Last import's timestamp") is the only change information M3
# documents for suppliers; how the connector turns it into a cursor is in connector.py (change_floors).
SUPPLIERS = transaction(
    "CRS620MI", "LstSuppliers", "CONO N3 FRSU A10 TOSU A10 LMTS N18", "",
    "CONO N3 SUNO A10 SUNM A36 LNCD A2 PHNO A16 CSCD A3 ECAR A2 PNOD A15 SUCL A3 QUCL A2 ORTY A3 TEDL A3 "
    "MODL A3 TEAF A3 TEPA A3 DT4T N1 DTCD N1 VTCD N2 TXAP N1 TAXC A3 CUCD A3 CRTP N2 TEPY A3 PYME A3 ATPR A1 "
    "ACRF A8 BUYE A10 RESP A10 AGNT A10 ABSK A1 ABSM N1 PWMT A10 DCSM N1 FUSC A3 SPFC A2 COBI A10 SCNO A10 "
    "SUGR A10 SHST N1 POOT A3 OUCN A10 TINO A15 PRSU A10 SERS N2 SBPE N1 PACD A1 PTDY N2 SUST N1 DTDY N2 "
    "LIDT D10 TECD A3 REGR N3 SUSY N2 SHAC N1 AVCD A3 TAME N1 TDCD A4 IAPT N1 IAPC N1 IAPE N1 IAPF N1 "
    "CFI1 A10 CFI2 N17 CFI3 A3 CFI4 A5 CFI5 A1 CGRP A10 GEOC N9 PPLV N2 CINP N1 SCIS A3",
    f"{M3H5}/CRS620MIResource.cs (LstSuppliers), CRS620MI/LstSuppliersResponse.cs",
    (("CONO", "Company"), ("FRSU", "From supplier"), ("TOSU", "To supplier"), ("LMTS", "Last import's timestamp")))

# The supplier status, one supplier at a time (for the few a list page does not cover).
SUPPLIER = transaction(
    "CRS620MI", "GetBasicData", "SUNO A10 CONO N3", "SUNO",
    "CONO N3 SUNO A10 SUTY N1 SUNM A36 ALSU A10 STAT A2 CORG A11 COR2 A11 LNCD A2 PHNO A16 PHN2 A16 TLNO A16 "
    "TFNO A16 CSCD A3 DTFM A3 EDIT A1 VRNO A16 SUCO A10 SUAL A3 SUCM A20 MEPF A2 PODA N2 SFI1 A10 SFI2 N8 "
    "SFI3 A3 SFI4 A5 SFI5 A1 HAFE A6 TXID N7 ECAR A2 FWSC A4 SUCL A3 QUCL A2 ORTY A3 TEDL A3 MODL A3 TEAF A3 "
    "TEPA A3 DT4T N1 DTCD N1 VTCD N2 TXAP N1 TAXC A3 CUCD A3 CRTP N2 TEPY A3 PYME A3 ATPR A1 ACRF A8 BUYE A10 "
    "RESP A10 AGNT A10 ABSK A1 ABSM N1 PWMT A10 DCSM N1 FUSC A3 SPFC A2 COBI A10 SCNO A10 SUGR A10 SHST N1 "
    "POOT A3 OUCN A10 TINO A15 PRSU A10 SERS N2 SBPE N1 PACD A1 PTDY N2 SUST N1 DTDY N2 LIDT D10 TECD A3 "
    "REGR N3 SUSY N2 SHAC N1 AVCD A3 TAME N1 TDCD A4 IAPT N1 IAPC N1 IAPE N1 IAPF N1 CFI1 A10 CFI2 N17 "
    "CFI3 A3 CFI4 A5 CFI5 A1 CGRP A10 RASN A10 PPLV N2 TXI2 N13 CINP N1 SCIS A3",
    f"{M3H5}/CRS620MIResource.cs (GetBasicData), CRS620MI/GetBasicDataResponse.cs",
    (("SUNO", "Supplier number"), ("CONO", "Company")))

# The supplier status of a run of suppliers in number order, from SUNO on: one call for a page of the
# supplier list instead of one GetBasicData per supplier.
SUPPLIERS_BY_NUMBER = transaction(
    "CRS620MI", "LstByNumber", "SUNO A10 CONO N3", "SUNO",
    "CONO N3 SUNO A10 SUTY N1 SUNM A36 ALSU A10 STAT A2 CORG A11 COR2 A11 LNCD A2 PHNO A16 PHN2 A16 TLNO A16 "
    "TFNO A16 CSCD A3 DTFM A3 EDIT A1 VRNO A16 SUCO A10 SUAL A3 SUCM A20 MEPF A2 PODA N2 SFI1 A10 SFI2 N8 "
    "SFI3 A3 SFI4 A5 SFI5 A1 HAFE A6 TXID N7 ECAR A2 FWSC A4 RASN A10 TXI2 N13",
    f"{M3H5}/CRS620MIResource.cs (LstByNumber), CRS620MI/LstByNumberResponse.cs",
    (("SUNO", "Supplier number"), ("CONO", "Company")))

# A supplier's addresses ('Supplier. Connect Address', CRS622). Only SUNO is documented as input, so the
# connector lists them and picks one (connector.py, postal_address). There is no CRS622MI in M3H5Lib's
# program list; GetAddress needs the address type, number and start date to name one address.
SUPPLIER_ADDRESSES = transaction(
    "CRS620MI", "LstAddresses", "SUNO A10", "SUNO",
    "CONO N3 SUNO A10 ADTE N2 ADID A6 STDT D10 SUNM A36 ADR1 A36 ADR2 A36 ADR3 A36 ADR4 A36 TOWN A20 ECAR A2 "
    "PONO A10 CSCD A3 PNOD A15 PRIA N1 ADVI A6 EDES A10 GEOX N17 GEOY N17 GEOZ N17 FRCO A7 GEOC N9 SADR A15",
    f"{M3H5}/CRS620MIResource.cs (LstAddresses), CRS620MI/LstAddressesResponse.cs",
    (("SUNO", "Supplier number"),))

# Address type 01 is the supplier's postal address: Infor's configuration guidelines for 'Supplier.
# Connect Address' (CRS622/E), https://docs.infor.com/m3core/latest/en-us/locallib_cloud/m3cvitcg/
# tqo1539010235169.html. Address lines 1-2 hold the street; postal code, town and country have their
# own fields whatever lines 3-4 hold ('M3 Address Structure', https://docs.infor.com/m3core/latest/
# en-us/locallib_cloud/m3cvskcg/lev1541509929055.html).
POSTAL_ADDRESS_TYPE = 1

# E-mail addresses live in the e-mail repository (CRS111, 'E-mail address repository interface'), keyed
# by e-mail type and key value. One List call returns every supplier's address of one type.
EMAILS = transaction(
    "CRS111MI", "List", "EMTP A2 EMKY A10", "EMTP", "EMTP A2 EMKY A10 EMAL A60",
    f"{M3H5}/CRS111MIResource.cs (List), CRS111MI/ListResponse.cs",
    (("EMTP", "E-mail type"), ("EMKY", "E-mail key value")))

# UNCONFIRMED: the e-mail type under which a supplier's e-mail address is kept, its key value being the
# supplier number. Infor's public pages we found do not list the CRS111 e-mail types (docs/ASSUMPTIONS.md I8).
SUPPLIER_EMAIL_TYPE = "04"

# UNCONFIRMED: which supplier statuses (STAT, A2) may be paid. M3H5Lib gives the field ("Status") but no
# values; we take 20 as the approved ("definite") supplier and treat every other value, 90 (blocked)
# and 10 (preliminary) included, as not active (docs/ASSUMPTIONS.md I9).
ACTIVE_SUPPLIER_STATUSES = frozenset({"20"})
BLOCKED_SUPPLIER_STATUS = "90"

# --- the supplier master's own change stamps: read by the assumption check alone ---------------------------------
# No supplier transaction returns the stamp LstSuppliers' LMTS filters on (I5). EXPORTMI/Select reads columns of one
# M3 table, each row one REPL with the columns joined by SEPC (QERY "<columns> from <table> where ..."), as public
# code calling M3 through ION API does. UNCONFIRMED: the lengths of QERY and SEPC (M3H5Lib gives none), that the
# supplier master is table CIDMAS with its columns prefixed ID (IDCONO, IDSUNO, IDLMTS), and that IDLMTS is the
# stamp LstSuppliers' LMTS filter compares with.
EXPORT = transaction(
    "EXPORTMI", "Select", "QERY A1024 SEPC A1 HDRS N1", "QERY", "REPL A984",
    f"{M3H5}/EXPORTMIResource.cs (Select), EXPORTMI/SelectResponse.cs",
    (("QERY", "Query statement"), ("SEPC", "Separator character"), ("HDRS", "Include headers")))
EXPORT_SEPARATOR = ";"


def supplier_stamps_query(company):
    return f"IDSUNO,IDLMTS from CIDMAS where IDCONO = {company}"


# --- GL accounts and dimensions ---------------------------------------------------------------------------
GL_ACCOUNTS = transaction(
    "CRS630MI", "LstAccountID", "AITP N1 DIVI A3 AITM A10 LNCD A2", "AITP",
    "CONO N3 DIVI A3 AITP N1 AITM A10 AICL A8 TX40 A40 TX15 A15 AT01 N1 AT02 N1 AT03 N1 AT11 N1 AT04 N1 "
    "AT05 N1 AT06 N1 AT07 N1 AT08 N1 AT09 N1 AT10 N1 LCCD N1 OUAC N1 BUAC N1 CAAC N1 VFDT D10 VTDT D10 "
    "ARCH N1 ACR2 N1 ACR3 N1 ACR4 N1 ACR5 N1 ACR6 N1 ACR7 N1 ACRV N1 ACB2 A1 ACB3 A1 ACB4 A1 ACB5 A1 ACB6 A1 "
    "ACB7 A1 ACGR A10 APCG A10 RESP A10 VTCD N2 CCCD N1 CUCD A3 SLCD N1 MQCD N1 MTCD N1 SUCT A3 CICT A3 "
    "ETCH N1 OBJE A3 RECE N1 PCA1 N1 AT12 N1 CLRA N1 STOA N1 BACR A1 RDRI A6 RDVP N7 CMID A8 GCMT N1 TXID N13 "
    "RGDT D10 RGTM N6 LMDT D10 CHNO N3 CHID A10 LMTS N18 CAD2 N1 CAD3 N1 CAD4 N1 CAD5 N1 CAD6 N1 CAD7 N1 "
    "DAUC A10 AT13 N1 LNCD A2 LX40 A40 LX15 A15",
    f"{M3H5}/CRS630MIResource.cs (LstAccountID), CRS630MI/LstAccountIDResponse.cs",
    (("AITP", "Accounting dimension"), ("DIVI", "Division"), ("AITM", "Accounting identity"),
     ("LNCD", "Language")))
BLOCKED_ACCOUNT = "1"  # LCCD, "Blocked accounting identity"

# M3 has seven accounting dimensions (AIT1-AIT7 on a GL line, AITP 1-7 in CRS630MI); dimension 1 is the
# GL account. UNCONFIRMED: dimension 2 holds the department / cost centre (docs/ASSUMPTIONS.md I7). The
# connector reads a line's account and department from these fields, and the simulator writes them there.
ACCOUNT_DIMENSION = "1"
DEPARTMENT_DIMENSION = "2"


def dimension_field(dimension):
    return f"AIT{dimension}"


ACCOUNT_FIELD = dimension_field(ACCOUNT_DIMENSION)
DEPARTMENT_FIELD = dimension_field(DEPARTMENT_DIMENSION)

# --- approved invoices: a custom list ----------------------------------------------------------------------
# UNCONFIRMED: a CMS100MI custom list over the AP ledger (FPLEDG) joined with its GL distribution
# lines, one row per invoice line, filtered to approved invoices (APRV = 1). Chosen over
# EXPORTMI/Select (one table, no joins, no division filter) and APS200MI/SearchSupInvoic (no GL lines).
# Its layout (docs/ASSUMPTIONS.md I2): rows sorted by KEY, unique per invoice; F_KEY starts a page at a
# key, that key included, and T_KEY ends it at one, that key included (the from/to pair CMS100MI gives a custom
# list's filter field, as F_PUNO/T_PUNO in public code calling CMS100MI); F_LMTS selects invoices changed strictly
# after a stamp. Dates are yyyyMMdd. IVBL is the
# invoice's payment stop (APS200MI/GetInvoice's "Payment stop", N1): UNCONFIRMED (docs/ASSUMPTIONS.md I16) that
# the list carries it and that any value but 0 stops payment; setting one moves LMTS.
APPROVED_INVOICES = transaction(
    "CMS100MI", "LstMLCApprovedInv", "F_KEY A30 T_KEY A30 F_LMTS N18", "",
    "KEY A30 DIVI A3 YEA4 N4 JRNO N7 JSNO N7 SUNO A10 SINO A24 IVDT D10 DUDT D10 CUAM N17 CUCD A3 LMTS N18 "
    "IVBL N1 LINO N6 LNAM N17 AIT1 A8 AIT2 A8 AIT3 A8 AIT4 A8 AIT5 A8 AIT6 A8 AIT7 A8 LNDE A30 PUNO A10",
    "UNCONFIRMED custom list (docs/ASSUMPTIONS.md I1, I2)",
    (("F_KEY", "From key"), ("T_KEY", "To key"), ("F_LMTS", "Changed after")))
NO_PAYMENT_STOP = "0"
INVOICE_KEY_FIELDS = ("DIVI", "YEA4", "JRNO", "JSNO")
INVOICE_KEY_SEPARATOR = "|"


def invoice_key(divi, yea4, jrno, jsno):
    """The custom list's KEY: division, year, journal and sequence of the voucher."""
    return INVOICE_KEY_SEPARATOR.join(str(v) for v in (divi, yea4, jrno, jsno))


# --- open invoices: a second custom list, for the open payables tie-out -------------------------------------
# UNCONFIRMED (docs/ASSUMPTIONS.md I15): a CMS100MI custom list over the same AP ledger, one row per approved
# invoice that is not fully paid, sorted by the same KEY, F_KEY starting a page at a key and T_KEY ending it at one
# (each key included).
# PAAM is what has been paid on the invoice so far, by payments made in M3 itself and by those recorded through
# the payments extension (EXT200MI) alike; PYST says OPEN (nothing paid), PARTIAL or PAID. What is still to pay
# is CUAM - PAAM. The invoice list above stays as it is: its rows are invoice lines, and it is read by change.
OPEN_INVOICES = transaction(
    "CMS100MI", "LstMLCOpenInv", "F_KEY A30 T_KEY A30", "",
    "KEY A30 DIVI A3 YEA4 N4 JRNO N7 JSNO N7 SUNO A10 SINO A24 CUAM N17 CUCD A3 PAAM N17 PYST A10",
    "UNCONFIRMED custom list (docs/ASSUMPTIONS.md I15)", (("F_KEY", "From key"), ("T_KEY", "To key")))
INVOICE_OPEN = "OPEN"
INVOICE_PARTIAL = "PARTIAL"
INVOICE_PAID = "PAID"
INVOICE_PAYMENT_STATES = (INVOICE_OPEN, INVOICE_PARTIAL, INVOICE_PAID)


# --- payments back: an XtendM3 extension -------------------------------------------------------------------
# UNCONFIRMED: an XtendM3 extension API (EXTnnnMI is where customer transactions live) that records a
# payment made outside M3 against the AP invoice, one row per invoice and AP payment id (PYID): one AP
# payment can pay several invoices, each its own share. A payment undone in the AP platform (voided, an ACH
# return, an escheated check) is reversed on its row: status VOIDED and the reason in RVTX (120 characters: what
# happened, the NACHA code and its words, the day and the reference; connectors/reversals.py). Its fields,
# values and messages (docs/ASSUMPTIONS.md I3, I4) are these. CONO is an input of each, as in Infor's own
# transactions, so the company never depends on the service account's default.
_PAYMENT_INPUTS = "CONO N3 DIVI A3 YEA4 N4 JRNO N7 JSNO N7 PYID A40 PYAM N17 PYDT D10 PYST A10 REFE A30 RVTX A120"
_PAYMENT_DESCRIPTIONS = (("CONO", "Company"), ("DIVI", "Division"), ("YEA4", "Year"), ("JRNO", "Journal number"),
                         ("JSNO", "Journal sequence number"), ("PYID", "Payment id"), ("PYAM", "Payment amount"),
                         ("PYDT", "Payment date"), ("PYST", "Payment status"), ("REFE", "Reference"),
                         ("RVTX", "Reversal reason"))
GET_PAYMENT = transaction(
    "EXT200MI", "GetPayment", "CONO N3 DIVI A3 YEA4 N4 JRNO N7 JSNO N7 PYID A40", "DIVI YEA4 JRNO JSNO PYID",
    "PYID A40 DIVI A3 YEA4 N4 JRNO N7 JSNO N7 PYAM N17 PYDT D10 PYST A10 REFE A30 RVTX A120 LMTS N18",
    "UNCONFIRMED extension (docs/ASSUMPTIONS.md I3, I4)", _PAYMENT_DESCRIPTIONS)
ADD_PAYMENT = transaction(
    "EXT200MI", "AddPayment", _PAYMENT_INPUTS, "DIVI YEA4 JRNO JSNO PYID PYAM PYDT PYST", "",
    "UNCONFIRMED extension (docs/ASSUMPTIONS.md I3, I4)", _PAYMENT_DESCRIPTIONS)
UPDATE_PAYMENT = transaction(
    "EXT200MI", "UpdPayment", _PAYMENT_INPUTS, "DIVI YEA4 JRNO JSNO PYID PYAM PYDT PYST", "",
    "UNCONFIRMED extension (docs/ASSUMPTIONS.md I3, I4)", _PAYMENT_DESCRIPTIONS)
PAYMENT_PAID = "PAID"
PAYMENT_VOIDED = "VOIDED"
PAYMENT_STATUSES = (PAYMENT_PAID, PAYMENT_VOIDED)
REFERENCE_LENGTH = ADD_PAYMENT.input("REFE").length
REASON_LENGTH = ADD_PAYMENT.input("RVTX").length
# The extension's messages, in English (the service account's M3 language): adding a payment that is
# there already, and looking up one that is not.
ALREADY_EXISTS = "already exists"
DOES_NOT_EXIST = "does not exist"

TRANSACTIONS = (SUPPLIERS, SUPPLIER, SUPPLIERS_BY_NUMBER, SUPPLIER_ADDRESSES, EMAILS, EXPORT, GL_ACCOUNTS,
                APPROVED_INVOICES, OPEN_INVOICES, GET_PAYMENT, ADD_PAYMENT, UPDATE_PAYMENT)
