"""The SYSPRO tables ml-connector reads, with each column's type and length, written once for the connector
(which parses what comes back by these types) and the simulator (which holds and refuses by them).

Sources: the columns of ApSupplier, ApSupplierAddr, ApInvoice and their lengths are those of a public Django
`inspectdb` of a SYSPRO company database (CORROBORATED, not vendor-documented); GenMaster's GlCode,
Description and AccountType are corroborated more weakly. Every table carries `TimeStamp`, a SQL Server
rowversion that grows on every write. What is marked UNCONFIRMED below is listed in docs/ASSUMPTIONS.md
(entries Y1 to Y9).
"""

from dataclasses import dataclass

TEXT, DECIMAL, DATETIME, ROWVERSION, INT = "text", "decimal", "datetime", "rowversion", "int"
# UNCONFIRMED (Y2): the type SYSPRO's OData service gives a rowversion in its $metadata (probed).
ROWVERSION_EDM_TYPE = "Edm.Int64"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    length: int = 0  # text columns: the most characters SYSPRO holds

    @property
    def odata_type(self):
        """The column's type in connectors.odata's filter vocabulary (the simulator's $filter check)."""
        # UNCONFIRMED (Y2): that the OData service exposes TimeStamp as an Edm.Int64, not as Edm.Binary.
        return {TEXT: "string", DECIMAL: "decimal", DATETIME: "datetimeoffset", ROWVERSION: "int",
                INT: "int"}[self.type]


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    def column(self, name):
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name}")

    @property
    def names(self):
        return tuple(c.name for c in self.columns)


def columns(spec):
    """"Supplier A15 SupplierName A50 OrigInvValue D TimeStamp R" → Columns (A text, D decimal, T datetime,
    R rowversion, N integer)."""
    kinds = {"A": TEXT, "D": DECIMAL, "T": DATETIME, "R": ROWVERSION, "N": INT}
    words = spec.split()
    return tuple(Column(name, kinds[code[0]], int(code[1:] or 0)) for name, code in zip(words[::2], words[1::2],
                                                                                          strict=True))


SUPPLIERS = Table("ApSupplier", ("Supplier",), columns(
    "Supplier A15 SupplierName A50 Telephone A20 Email A255 Currency A3 TaxRegnNum A20 OnHold A1 TimeStamp R"))

# UNCONFIRMED (Y4): which of the five free-form address lines hold what. We read SupAddr1-2 as the street,
# SupAddr3 as the city, SupAddr4 as the state or province and SupAddr5 as the country.
SUPPLIER_ADDRESSES = Table("ApSupplierAddr", ("Supplier",), columns(
    "Supplier A15 SupAddr1 A40 SupAddr2 A40 SupAddr3 A40 SupAddr4 A40 SupAddr5 A40 SupPostalCode A10 TimeStamp R"))

# UNCONFIRMED (Y5): the length of Invoice (the inspectdb shows it only as a key); 20 here.
INVOICES = Table("ApInvoice", ("Supplier", "Invoice"), columns(
    "Supplier A15 Invoice A20 InvoiceDate T DueDate T Reference A30 OrigInvValue D MthInvBal1 D MthInvBal2 D "
    "MthInvBal3 D InvoiceStatus A1 Currency A3 TimeStamp R"))

# UNCONFIRMED (Y6): the GL distribution of an AP invoice. SYSPRO keeps it with the AP journal; we read one
# row per distribution line, keyed to its invoice, with its ledger code, value, comment, department and
# purchase order.
DISTRIBUTION = Table("ApJnlDistrib", ("Supplier", "Invoice", "DistrLine"), columns(
    "Supplier A15 Invoice A20 DistrLine N ExpenseGlCode A35 DistrValue D Comment A50 Department A10 "
    "PurchaseOrder A20 TimeStamp R"))

GL_ACCOUNTS = Table("GenMaster", ("GlCode",), columns("GlCode A35 Description A50 AccountType A1 TimeStamp R"))

# UNCONFIRMED (Y6): where the departments named on distribution lines are described.
DEPARTMENTS = Table("GenDepartment", ("Department",), columns("Department A10 Description A50 TimeStamp R"))

TABLES = {t.name: t for t in (SUPPLIERS, SUPPLIER_ADDRESSES, INVOICES, DISTRIBUTION, GL_ACCOUNTS, DEPARTMENTS)}

# ApSupplier.OnHold: "Y" holds the supplier (no vendor is made while it is); anything else does not.
ON_HOLD = "Y"
# UNCONFIRMED (Y7): ApInvoice.InvoiceStatus of an invoice held back from payment (not approved to pay).
HELD_STATUS = "H"
