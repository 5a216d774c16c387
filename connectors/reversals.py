"""A payment the AP platform undid, in words for the ERP and the audit trail: what happened (returned by the bank,
voided, escheated), why where the platform says so (an ACH return's NACHA reason code, a void's reason), on which
day, and the payment's reference. The one table of NACHA return reason codes lives here."""

import re

from connectors.errors import DataError
from connectors.values import DAY

# NACHA's ACH return reason codes and their titles, in sentence case. Source: the Nacha Operating Rules, Appendix Four
# ("Return Entries"), Table of Return Reason Codes, with the titles as amended in 2020-2021 (R10, R11, R17). The common
# codes' wording was checked against published copies of the table, e.g.
# https://web-xp2i-pws.ntrs.com/online_support/inforpt/ach_return_codes.htm and
# https://docs.grailpay.com/docs/resources/return-codes/. Codes Nacha has not assigned or has retired (R48-R49,
# R54-R60, R63-R66, R78-R79) are absent: such a code is written as given, marked as not in this list.
NACHA_RETURN_CODES = {
    "R01": "Insufficient funds",
    "R02": "Account closed",
    "R03": "No account/unable to locate account",
    "R04": "Invalid account number structure",
    "R05": "Unauthorized debit to consumer account using corporate SEC code",
    "R06": "Returned per ODFI's request",
    "R07": "Authorization revoked by customer",
    "R08": "Payment stopped",
    "R09": "Uncollected funds",
    "R10": "Customer advises originator is not known to receiver and/or is not authorized by receiver to debit "
           "receiver's account",
    "R11": "Customer advises entry not in accordance with the terms of the authorization",
    "R12": "Account sold to another DFI",
    "R13": "Invalid ACH routing number",
    "R14": "Representative payee deceased or unable to continue in that capacity",
    "R15": "Beneficiary or account holder (other than a representative payee) deceased",
    "R16": "Account frozen/entry returned per OFAC instruction",
    "R17": "File record edit criteria/entry with invalid account number initiated under questionable circumstances/"
           "return of improperly-initiated reversal",
    "R18": "Improper effective entry date",
    "R19": "Amount field error",
    "R20": "Non-transaction account",
    "R21": "Invalid company identification",
    "R22": "Invalid individual ID number",
    "R23": "Credit entry refused by receiver",
    "R24": "Duplicate entry",
    "R25": "Addenda error",
    "R26": "Mandatory field error",
    "R27": "Trace number error",
    "R28": "Routing number check digit error",
    "R29": "Corporate customer advises not authorized",
    "R30": "RDFI not participant in check truncation program",
    "R31": "Permissible return entry (CCD and CTX only)",
    "R32": "RDFI non-settlement",
    "R33": "Return of XCK entry",
    "R34": "Limited participation DFI",
    "R35": "Return of improper debit entry",
    "R36": "Return of improper credit entry",
    "R37": "Source document presented for payment",
    "R38": "Stop payment on source document",
    "R39": "Improper source document/source document presented for payment",
    "R40": "Return of ENR entry by federal government agency",
    "R41": "Invalid transaction code",
    "R42": "Routing number/check digit error",
    "R43": "Invalid DFI account number",
    "R44": "Invalid individual ID number/identification number",
    "R45": "Invalid individual name/company name",
    "R46": "Invalid representative payee indicator",
    "R47": "Duplicate enrollment",
    "R50": "State law affecting RCK acceptance",
    "R51": "Item related to RCK entry is ineligible or RCK entry is improper",
    "R52": "Stop payment on item related to RCK entry",
    "R53": "Item and RCK entry presented for payment",
    "R61": "Misrouted return",
    "R62": "Return of erroneous or reversing debit",
    "R67": "Duplicate return",
    "R68": "Untimely return",
    "R69": "Field error(s)",
    "R70": "Permissible return entry not accepted/return not requested by ODFI",
    "R71": "Misrouted dishonored return",
    "R72": "Untimely dishonored return",
    "R73": "Timely original return",
    "R74": "Corrected return",
    "R75": "Return not a duplicate",
    "R76": "No errors found",
    "R77": "Non-acceptance of R62 dishonored return",
    "R80": "IAT entry coding error",
    "R81": "Non-participant in IAT program",
    "R82": "Invalid foreign receiving DFI identification",
    "R83": "Foreign receiving DFI unable to settle",
    "R84": "Entry not processed by Gateway",
    "R85": "Incorrectly coded outbound international payment",
}
RETURN_CODE = re.compile(r"R\d{2}")
NOT_LISTED = "(code not in the NACHA list)"

# What happened, by the payment's status as the connectors hand it over (records.Payment.status: AvidXchange's in
# capitals, BILL's singleStatus). A status not here is named as it is.
WHAT_HAPPENED = {
    "RETURNED": "Returned by the bank",
    "VOIDED": "Voided",
    "ESCHEATED": "Escheated: the uncashed check was turned over to the state",
    "CANCELED": "Cancelled",
    "FUNDING_FAILED_VOIDED": "Voided: the funding failed",
    "DISBURSEMENT_FAILED_VENDOR_BANK_REJECTED": "Returned by the vendor's bank",
    "DISBURSEMENT_FAILED_ACTION_NEEDED": "Returned: the disbursement failed",
}
# Statuses whose words already say why: no "no reason given" after them.
EXPLAINED = frozenset({"ESCHEATED", "FUNDING_FAILED_VOIDED"})
CUT = "..."


def return_code(value, where, field):
    """A NACHA return reason code as the AP platform gives it: "" when none is given; a DataError naming the payment
    and the field when it is not text of the form R and two digits (an unknown but well-formed code is kept: it is
    written with its code and NOT_LISTED)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not RETURN_CODE.fullmatch(value):
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise DataError(f"{where}: {field} {shown} is not an ACH return reason code (R and two digits, such as R01).",
                        field=field)
    return value


def why(payment):
    """The reason in words: the NACHA title of the code (or the code marked as not listed, with the platform's own
    words if any), else the platform's words; "" when it gives no reason."""
    words = " ".join(payment.return_reason.split())
    code = payment.return_code
    if not code:
        return words
    if code in NACHA_RETURN_CODES:
        return f"{code} {NACHA_RETURN_CODES[code]}"
    return " ".join(part for part in (code, words, NOT_LISTED) if part)


def reversal_text(payment, limit=None):
    """What the ERP is told about an undone payment: "Returned by the bank: R01 Insufficient funds, 5 Mar 2026,
    payment 021000000000108"; "Voided, no reason given, …" when the platform says nothing. Within `limit` characters
    the words give way first (cut with "..."), so the day and the reference stay."""
    status = payment.status or ""
    what = WHAT_HAPPENED.get(status) or status.replace("_", " ").capitalize() or "Reversed"
    reason = why(payment)
    head = f"{what}: {reason}" if reason else what if status in EXPLAINED else f"{what}, no reason given"
    reference = "" if payment.reference is None else str(payment.reference)
    tail = ", ".join(part for part in (DAY.format(d=payment.undone_on) if payment.undone_on else "",
                                       f"payment {reference or payment.payment_id}") if part)
    text = f"{head}, {tail}"
    if limit is None or len(text) <= limit:
        return text
    room = limit - len(tail) - len(", ") - len(CUT)
    if room > 0:
        return f"{head[:room].rstrip(' ,:')}{CUT}, {tail}"
    return text[:limit]
