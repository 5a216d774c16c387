"""AvidXchange's side of the open payables tie-out: every invoice not fully paid, for what is still to pay, in API
mode from the invoices themselves and in file mode from what was sent less the payment files that came back."""

from decimal import Decimal

import pytest

from connectors import canonical
from connectors.avidxchange import files
from connectors.errors import DataError
from connectors.records import code_key
from sandbox.avidxchange import simulator as avid_sandbox
from tests.connectors.avidxchange.test_avidxchange import call, pay, to
from tests.connectors.contracts.ap import coding, invoice_record

D = Decimal
PAID, PART, RETURNED, SCHEDULED = (i.number for i in canonical.GOOD_INVOICES[:4])


def send(connector, ids):
    """Payees and the good canonical invoices: ({number: bill id}, {number: payee id})."""
    vendors = connector.create_vendors(list(canonical.SUPPLIERS))
    made = connector.create_bills([(vendors[i.supplier_id], invoice_record(i), coding(i, ids))
                                   for i in canonical.GOOD_INVOICES])
    return ({i.number: made[invoice_record(i).source_id] for i in canonical.GOOD_INVOICES},
            {i.number: vendors[i.supplier_id] for i in canonical.GOOD_INVOICES})


def pay_the_seeded_set(sandbox, bills):
    """Paid in full; 100.00 paid of another; paid, then the ACH payment returned; a payment scheduled."""
    pay(sandbox, [bills[PAID]])
    pay(sandbox, [bills[PART]], amount="100.00")
    to(sandbox, pay(sandbox, [bills[RETURNED]]), "Returned")
    pay(sandbox, [bills[SCHEDULED]], status="Scheduled")


def expected(bills, vendors):
    totals = {i.number: i.total for i in canonical.GOOD_INVOICES}
    return {number: (bills[number], vendors[number], totals[number] - (D("100.00") if number == PART else 0),
                     totals[number])
            for number in bills if number not in (PAID, SCHEDULED)}


def as_table(items):
    return {item.number: (item.source_id, item.supplier_id, item.amount, item.total) for item in items}


def test_api_mode_open_bills_are_what_is_still_to_pay(avid_connection, sandbox):
    ids = sandbox.control("avidxchange/seed-canonical")
    with avid_connection.connector() as connector:
        bills, vendors = send(connector, ids)
        assert {item.number: item.amount for item in connector.open_bills()} == \
            {i.number: i.total for i in canonical.GOOD_INVOICES}
        pay_the_seeded_set(sandbox, bills)
        items = connector.open_bills()
    assert as_table(items) == expected(bills, vendors)
    assert {item.currency for item in items} == {"USD"}
    assert all(bill.startswith("IN") and vendor.startswith("PY") for bill, vendor, _, _ in as_table(items).values()), \
        "AvidXchange's own invoice and payee ids, as create_bills and create_vendors answer them"


def test_api_mode_reads_every_page(avid_connection, sandbox):
    ids = sandbox.control("avidxchange/seed-canonical")
    with avid_connection.connector() as connector:
        bills, _ = send(connector, ids)
        connector.client.page_size = 2
        assert {item.source_id for item in connector.open_bills()} == set(bills.values())


@pytest.mark.parametrize("field,value,words", [
    ("AmountPaid", "a lot", "AmountPaid should be an amount, got 'a lot'"),
    ("Amount", None, "Amount should be an amount, got None"),
    ("AmountPaid", 10_000, "10,000.00 USD is paid on an invoice of"),
])
def test_api_mode_an_invoice_that_cannot_be_read_fails_the_read_naming_it(avid_connection, sandbox, field, value,
                                                                          words):
    ids = sandbox.control("avidxchange/seed-canonical")
    with avid_connection.connector() as connector:
        bills, _ = send(connector, ids)
        sandbox.simulators["avidxchange"].companies[avid_sandbox.COMPANY_ID]["invoices"][bills[PART]][field] = value
        with pytest.raises(DataError) as excinfo:
            connector.open_bills()
    assert f"AvidXchange invoice {bills[PART]} ({PART})" in str(excinfo.value) and words in str(excinfo.value)


def file_ids(connector):
    published = connector.publish_codes([*canonical.GL_ACCOUNTS, *canonical.DEPARTMENTS])
    return {"gl_accounts": {a.code: published[code_key(a)] for a in canonical.GL_ACCOUNTS},
            "dimensions": {"department": {d.code: published[code_key(d)] for d in canonical.DEPARTMENTS}}}


def test_file_mode_open_bills_are_what_was_sent_less_the_payment_files(files_connection, sandbox, exchange_folder):
    with files_connection.connector() as connector:
        bills, vendors = send(connector, file_ids(connector))
    sandbox.control("avidxchange/transfer")
    pay_the_seeded_set(sandbox, bills)
    items = files_connection.connector().open_bills()
    assert as_table(items) == expected(bills, vendors)
    assert all(bill == files.bill_id(vendor, number) for number, (bill, vendor, _, _) in as_table(items).items())


def test_file_mode_before_anything_came_back_every_sent_invoice_is_open(files_connection, sandbox, exchange_folder):
    with files_connection.connector() as connector:
        bills, _ = send(connector, file_ids(connector))
        assert {item.source_id: item.amount for item in connector.open_bills()} == \
            {bills[i.number]: i.total for i in canonical.GOOD_INVOICES}


def test_file_mode_a_payment_file_that_cannot_be_read_fails_the_read(files_connection, sandbox, exchange_folder):
    with files_connection.connector() as connector:
        send(connector, file_ids(connector))
    (exchange_folder / "inbound" / "payments_20260201T000000000000_bad.csv").write_text("Hello,World\r\n1,2\r\n")
    with pytest.raises(DataError, match="payments_20260201T000000000000_bad.csv cannot be read.*is not known"):
        files_connection.connector().open_bills()


def test_file_mode_an_amount_sent_that_does_not_parse_fails_the_read(files_connection, exchange_folder, sandbox):
    """Our own copy in sent/, edited by hand."""
    (exchange_folder / "sent").mkdir()
    (exchange_folder / "sent" / files.file_name("invoices")).write_bytes(files.csv_text("invoices", [
        {"VendorID": "V1001", "InvoiceNumber": "X-1", "InvoiceAmount": "12,50", "Currency": "USD"}]))
    with pytest.raises(DataError, match="invoice X-1 of payee V1001 .*InvoiceAmount should be an amount"):
        files_connection.connector().open_bills()


def test_simulator_has_no_paid_filter_so_every_invoice_is_read(sandbox):
    """UNCONFIRMED (X4, X14): the invoices list takes ExternalIds only; a status filter is refused."""
    response = call(sandbox, "GET", "/invoices", params={"Status": "Approved"})
    assert response.status_code == 400 and "Unknown parameter(s) Status" in response.text

