"""Checklist: archiving and restoring a BILL bill, one test per documented behaviour, each naming its source, and
the connector's archive_bill over the simulator.

Sources: https://developer.bill.com/reference/archivebill and /reference/restorebill ("In the response, the archived
field is set as true" / false; "There is no change when you archive an archived bill" / restore a restored one; the
bill id begins with 00n); BILL's help pages on deactivating a bill
(https://help.bill.com/hc/en-us/articles/11669448168589-Delete-a-bill: only a completely unpaid bill, "You can't
delete a paid or partially [paid] bill", "Inactive bills can't be paid unless they are reactivated";
https://support.bill.com/hc/en-us/articles/210744806-Deleting-a-bill-or-document: "If there are pending payments
for this bill, either cancel or void the payment", "A paid bill cannot be deactivated"). The answers' status (200)
and the refusal's status and code (400, BDC_1001) are UNCONFIRMED (docs/ASSUMPTIONS.md B22).
"""

import pytest
import requests

from connectors import capabilities as can
from connectors.errors import DataError, NotFound
from connectors.registry import get_system
from sandbox.bill import simulator as bill_sandbox
from tests.connectors.bill.test_bill_checklist import bill_error, call, login, make_bill, make_vendor


@pytest.fixture
def headers(sandbox):
    return login(sandbox)


@pytest.fixture
def bill(sandbox, headers):
    return make_bill(sandbox, headers, make_vendor(sandbox, headers)["id"])


def archive(sandbox, headers, bill_id, action="archive"):
    return call(sandbox, "POST", f"/v3/bills/{bill_id}/{action}", headers)


def stored(sandbox, bill_id):
    return next(b for b in sandbox.state("bill")["organizations"][bill_sandbox.ORG_ID]["bills"] if b["id"] == bill_id)


def test_archiving_answers_the_bill_archived_and_restoring_it_active(sandbox, headers, bill):
    archived = archive(sandbox, headers, bill["id"])
    assert archived.status_code == 200, archived.text
    assert archived.json()["id"] == bill["id"] and archived.json()["archived"] is True
    assert stored(sandbox, bill["id"])["archived"] is True
    restored = archive(sandbox, headers, bill["id"], "restore")
    assert restored.status_code == 200 and restored.json()["archived"] is False
    assert stored(sandbox, bill["id"])["archived"] is False


def test_archiving_an_archived_bill_and_restoring_a_restored_one_change_nothing(sandbox, headers, bill):
    first = archive(sandbox, headers, bill["id"]).json()
    again = archive(sandbox, headers, bill["id"])
    assert again.status_code == 200 and again.json() == first, "no change, not even its updatedTime"
    restored = archive(sandbox, headers, bill["id"], "restore").json()
    assert archive(sandbox, headers, bill["id"], "restore").json() == restored


def test_an_archived_bill_leaves_the_active_list_and_is_still_read_by_id(sandbox, headers, bill):
    archive(sandbox, headers, bill["id"])
    active = call(sandbox, "GET", "/v3/bills", headers, params={"filters": "archived:eq:false"}).json()["results"]
    assert bill["id"] not in {b["id"] for b in active}
    assert call(sandbox, "GET", f"/v3/bills/{bill['id']}", headers).json()["archived"] is True


def test_a_paid_bill_cannot_be_archived(sandbox, headers, bill):
    sandbox.control("bill/pay", {"billId": bill["id"], "amount": 40})
    error = bill_error(archive(sandbox, headers, bill["id"]), 400, "BDC_1001")
    assert "paid" in error["message"] and "cannot be archived" in error["message"]
    assert stored(sandbox, bill["id"])["archived"] is False


def test_a_bill_with_a_payment_in_process_is_archived_only_once_the_payment_is_voided(sandbox, headers, bill):
    payment = sandbox.control("bill/pay", {"billId": bill["id"], "singleStatus": "SCHEDULED"})
    error = bill_error(archive(sandbox, headers, bill["id"]), 400)
    assert "payment in process: cancel or void it" in error["message"]
    sandbox.control("bill/payment-status", {"paymentId": payment["id"], "singleStatus": "VOIDED"})
    assert archive(sandbox, headers, bill["id"]).json()["archived"] is True


def test_an_archived_bill_cannot_be_paid_until_it_is_restored(sandbox, headers, bill):
    archive(sandbox, headers, bill["id"])
    refused = requests.post(f"{sandbox.url}/_control/bill/pay", json={"billId": bill["id"]}, timeout=30)
    assert refused.status_code == 400 and "archived" in refused.text
    archive(sandbox, headers, bill["id"], "restore")
    assert sandbox.control("bill/pay", {"billId": bill["id"]})["billPayments"][0]["billId"] == bill["id"]


def test_an_unknown_bill_is_404(sandbox, headers):
    bill_error(archive(sandbox, headers, "00n01NOSUCHBILL01"), 404)


def test_bill_declares_it_archives_bills():
    assert can.ARCHIVES_BILLS in get_system("bill").capabilities


def test_the_connector_archives_a_bill_and_says_so(bill_connection, sandbox, headers, bill):
    with bill_connection.connector() as connector:
        said = connector.archive_bill(bill["id"])
        assert said == f"Bill {bill['id']} archived in BILL: it cannot be paid there unless someone restores it."
        assert stored(sandbox, bill["id"])["archived"] is True
        assert connector.archive_bill(bill["id"]) == said, "a repeat is harmless"


def test_the_connector_passes_bills_refusal_on_in_its_words(bill_connection, sandbox, bill):
    sandbox.control("bill/pay", {"billId": bill["id"]})
    with bill_connection.connector() as connector:
        with pytest.raises(DataError, match="is paid, in full or in part: a paid bill cannot be archived"):
            connector.archive_bill(bill["id"])
        with pytest.raises(NotFound):
            connector.archive_bill("00n01NOSUCHBILL01")
