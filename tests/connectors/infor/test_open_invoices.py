"""Infor's side of the open payables tie-out: every approved invoice not fully paid, for what is still to pay."""

from decimal import Decimal

import pytest

from connectors import canonical
from connectors.errors import DataError
from connectors.infor import m3
from connectors.records import Payment
from sandbox.infor import simulator as infor_sandbox

D = Decimal


def invoice(jsno, number, total, supplier="V1001", **extra):
    return {"DIVI": "AAA", "YEA4": 2026, "JRNO": 8000, "JSNO": jsno, "SUNO": supplier, "SINO": number,
            "IVDT": "20260105", "DUDT": "20260204", "CUCD": "USD", "CUAM": total,
            "lines": [{"LINO": 1, "AIT1": "6100", "LNAM": total}], **extra}


def key(jsno):
    return m3.invoice_key("AAA", 2026, 8000, jsno)


@pytest.fixture
def seeded(sandbox):
    """Open, partly paid in M3, paid in M3, paid back from the AP platform, partly paid back, and not approved."""
    sandbox.control("infor/seed", {"invoices": [
        invoice(1, "OPEN-1", "100.00"), invoice(2, "PART-M3", "250.00", PAAM="100.00"),
        invoice(3, "PAID-M3", "75.50", PAAM="75.50"), invoice(4, "PAID-AP", "40.00"),
        invoice(5, "PART-AP", "300.00", supplier="V1002", CUCD="CAD"), invoice(6, "UNAPPROVED", "10.00", APRV="0")]})


def pay_back(connector, jsno, payment_id, amount):
    reference = {"DIVI": "AAA", "YEA4": "2026", "JRNO": "8000", "JSNO": str(jsno)}
    connector.post_payment(reference, Payment(payment_id=payment_id, bill_ids=("b",), amount=D(amount),
                                              currency="USD", status="PAID", paid=True))


def test_open_invoices_are_what_is_still_to_pay(infor_connection, sandbox, seeded):
    connector = infor_connection.connector()
    pay_back(connector, 4, "PAY-4", "40.00")
    pay_back(connector, 5, "PAY-5", "120.00")
    items = {item.number: item for item in connector.open_invoices()}
    assert set(items) == {"OPEN-1", "PART-M3", "PART-AP"}, "paid (in M3 or from the AP platform) and unapproved: out"
    assert (items["OPEN-1"].amount, items["OPEN-1"].total) == (D("100.00"), D("100.00"))
    assert (items["PART-M3"].amount, items["PART-M3"].total) == (D("150.00"), D("250.00"))
    part = items["PART-AP"]
    assert (part.amount, part.total, part.currency, part.supplier_id) == (D("180.00"), D("300.00"), "CAD", "V1002")


def test_a_payment_reversed_from_the_ap_platform_opens_the_invoice_again(infor_connection, sandbox, seeded):
    connector = infor_connection.connector()
    pay_back(connector, 4, "PAY-4", "40.00")
    assert "PAID-AP" not in {item.number for item in connector.open_invoices()}
    connector.post_payment({"DIVI": "AAA", "YEA4": "2026", "JRNO": "8000", "JSNO": "4"},
                           Payment(payment_id="PAY-4", bill_ids=("b",), amount=D("40.00"), currency="USD",
                                   status="RETURNED", paid=False, reversed=True, reference="0210001"))
    assert {item.number: item.amount for item in connector.open_invoices()}["PAID-AP"] == D("40.00")


def test_the_source_id_is_the_one_approved_invoices_gives(infor_connection, sandbox):
    sandbox.control("infor/seed-canonical")
    connector = infor_connection.connector()
    invoices = {i.invoice_number: i.source_id for i in connector.approved_invoices()}
    items = {item.number: item for item in connector.open_invoices()}
    assert set(items) == {i.number for i in canonical.APPROVED_INVOICES}
    assert {number: item.source_id for number, item in items.items()} == invoices
    assert all(item.amount == item.total for item in items.values())


def test_pages_are_read_by_key_without_losing_or_repeating_one(infor_connection, sandbox, monkeypatch):
    from connectors.infor import connector as infor_connector

    monkeypatch.setattr(infor_connector, "LIST_PAGE_SIZE", 3)
    sandbox.control("infor/seed", {"invoices": [invoice(n, f"INV-{n}", f"{n}.00") for n in range(1, 11)]})
    items = list(infor_connection.connector().open_invoices())
    assert sorted(item.source_id for item in items) == sorted(key(n) for n in range(1, 11)), "each once"
    calls = sandbox.simulators["infor"].transaction_calls[str(m3.OPEN_INVOICES)]
    assert 5 <= calls <= 12, "10 invoices in pages of 3 (a page's last key read again by the next), a few ranges empty"


@pytest.mark.parametrize("field,value,words", [("CUAM", "12,50", "CUAM '12,50' is not an amount"),
                                               ("PAAM", "n/a", "PAAM 'n/a' is not an amount")])
def test_a_row_that_cannot_be_read_fails_the_read_naming_the_invoice(infor_connection, sandbox, field, value, words):
    sandbox.control("infor/seed", {"invoices": [invoice(1, "GOOD-1", "10.00"),
                                                invoice(2, "BAD-2", "20.00", **{field: value})]})
    with pytest.raises(DataError) as excinfo:
        list(infor_connection.connector().open_invoices())
    assert f"Infor invoice BAD-2 of supplier V1001 ({key(2)})" in str(excinfo.value)
    assert words in str(excinfo.value)


def test_more_paid_than_open_fails_the_read_with_the_amounts_as_finance_reads_them(infor_connection, sandbox):
    sandbox.control("infor/seed", {"invoices": [invoice(1, "OVER-1", "2000.00")]})
    sandbox.simulators["infor"].tenants[infor_sandbox.TENANT].invoices[key(1)].update(PYST="PARTIAL", PAAM="2500.00")
    with pytest.raises(DataError, match="Infor invoice OVER-1 .*with 2,500.00 USD of 2,000.00 USD paid"):
        list(infor_connection.connector().open_invoices())


def test_a_payment_state_it_does_not_know_fails_the_read(infor_connection, sandbox, monkeypatch):
    sandbox.control("infor/seed", {"invoices": [invoice(1, "ODD-1", "10.00")]})
    sandbox.simulators["infor"].tenants[infor_sandbox.TENANT].invoices[key(1)]["PYST"] = "HELD"
    with pytest.raises(DataError, match="Infor invoice ODD-1 .*PYST 'HELD' is not one of OPEN, PARTIAL, PAID"):
        list(infor_connection.connector().open_invoices())


def test_a_person_paying_in_m3_closes_the_invoice(infor_connection, sandbox, seeded):
    sandbox.control("infor/pay-in-erp", {"SUNO": "V1001", "SINO": "OPEN-1", "amount": "30.00"})
    connector = infor_connection.connector()
    assert {i.number: i.amount for i in connector.open_invoices()}["OPEN-1"] == D("70.00")
    sandbox.control("infor/pay-in-erp", {"SUNO": "V1001", "SINO": "OPEN-1"})
    assert "OPEN-1" not in {i.number for i in connector.open_invoices()}
