"""Which M3 transactions the Infor connector uses, decided in one place.

M3 publishes no standard "list invoices approved for payment" or "post a payment on an AP invoice"
transaction (shared/reference/erp-apis.md 1.4). Both choices below are UNCONFIRMED and customer-
specific: change them here (and the simulator follows).
"""

SUPPLIERS = ("CRS620MI", "LstSuppliers")
SUPPLIER = ("CRS620MI", "GetBasicData")
GL_ACCOUNTS = ("CRS630MI", "LstAccountID")

# UNCONFIRMED: a CMS100MI custom list over the AP ledger (FPLEDG) joined with its GL distribution
# lines, one row per invoice line, filtered to approved invoices (APRV = 1). Chosen over
# EXPORTMI/Select (one table, no joins, no division filter) and APS200MI/SearchSupInvoic (no GL lines).
APPROVED_INVOICES = ("CMS100MI", "LstMLCApprovedInv")

# UNCONFIRMED: an XtendM3 extension API (EXTnnnMI is where customer transactions live) that records a
# payment made outside M3 against the AP invoice, keyed by the AP platform's payment id (PYID).
GET_PAYMENT = ("EXT200MI", "GetPayment")
ADD_PAYMENT = ("EXT200MI", "AddPayment")
UPDATE_PAYMENT = ("EXT200MI", "UpdPayment")

# M3's dimension 1 is the GL account; dimension 2 is commonly the cost centre / department.
ACCOUNT_DIMENSION = "1"
DEPARTMENT_DIMENSION = "2"
