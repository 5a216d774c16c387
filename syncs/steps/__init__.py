"""The steps of a run, in the order a run takes them: the one list. A new step is one module here and one entry
below; the plan (syncs.plan) keeps those both systems can take part in.

Vendor contact edits come back before suppliers go out (steps.vendor_edits says why); code lists go first, so
the rules they make code this run's invoices; payments come last, against the bills made before them."""

from syncs.steps.acknowledgements import Acknowledgements
from syncs.steps.code_lists import CodeLists
from syncs.steps.documents import Documents
from syncs.steps.invoices import Invoices
from syncs.steps.payments import Payments
from syncs.steps.suppliers import Suppliers
from syncs.steps.vendor_edits import VendorEdits

STEPS = (CodeLists, VendorEdits, Suppliers, Invoices, Documents, Acknowledgements, Payments)
