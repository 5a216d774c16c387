"""What Infor adds for Infor → AvidXchange: invoice images from Infor Document Management (IDM), reversals of
undone payments with their reason, the company on every extension call, and tenants of their own in the
simulator (for demos that must not meet)."""

import base64
import hashlib
from dataclasses import replace
from datetime import date

import pytest
import requests

from connectors import canonical
from connectors.errors import NotFound, TransientError
from connectors.infor import idm, m3
from connectors.records import Payment
from sandbox.infor import simulator as infor_sandbox
from tests.connectors.infor.conftest import make_infor_connection

PDF = b"%PDF-1.4 stand-in invoice image\n" * 100
INVOICE = canonical.GOOD_INVOICES[0]


def simulator(sandbox):
    return sandbox.simulators["infor"]


@pytest.fixture
def seeded(sandbox):
    sandbox.control("infor/seed-canonical")
    sandbox.control("infor/seed", {"documents": [
        {"SUNO": INVOICE.supplier_id, "SINO": INVOICE.number, "filename": "INV-1001.pdf",
         "mimetype": "application/pdf", "content_base64": base64.b64encode(PDF).decode()},
        {"SUNO": INVOICE.supplier_id, "SINO": INVOICE.number, "filename": "INV-1001-page2.tif",
         "mimetype": "image/tiff", "size": 3 * 1024 * 1024},
        {"SUNO": "V1002", "SINO": "INV-1002", "filename": "INV-1002.pdf", "mimetype": "application/pdf",
         "size": 2048}]})


@pytest.fixture
def idm_connection(tenant, sandbox):
    connection = make_infor_connection(tenant, sandbox.url, name="Infor with IDM")
    connection.options = {**connection.options, "document_store": idm.DOCUMENT_STORE}
    connection.save()
    return connection


def reference_of(connector, number):
    return next(i for i in connector.approved_invoices() if i.invoice_number == number).reference


# --- invoice images -------------------------------------------------------------------------------------------------
def test_without_a_document_store_an_invoice_has_no_image_and_idm_is_not_asked(infor_connection, sandbox, seeded):
    connector = infor_connection.connector()
    assert connector.invoice_documents(reference_of(connector, INVOICE.number)) == []
    assert simulator(sandbox).state()["idm_calls"] == 0


def test_images_come_from_idm_each_downloaded_only_when_read_in_pieces(idm_connection, sandbox, seeded):
    connector = idm_connection.connector()
    documents = connector.invoice_documents(reference_of(connector, INVOICE.number))
    assert [(d.name, d.content_type, d.size) for d in documents] == [
        ("INV-1001.pdf", "application/pdf", len(PDF)), ("INV-1001-page2.tif", "image/tiff", 3 * 1024 * 1024)]
    assert simulator(sandbox).state()["idm_calls"] == 1, "one search; nothing downloaded yet"
    assert b"".join(documents[0].chunks()) == PDF
    pieces = list(documents[1].chunks())
    held = {d["filename"]: d for d in simulator(sandbox).state()["documents"]}
    assert hashlib.sha256(b"".join(pieces)).hexdigest() == held["INV-1001-page2.tif"]["sha256"]
    assert max(len(p) for p in pieces) <= 64 * 1024 and len(pieces) >= 48
    assert simulator(sandbox).state()["idm_calls"] == 3


def test_a_single_hit_and_no_hit(idm_connection, seeded):
    """UNCONFIRMED (I13): IDM's JSON gives a single hit as one object, not a list of one; no hit as an empty items."""
    connector = idm_connection.connector()
    [single] = connector.invoice_documents(reference_of(connector, "INV-1002"))
    assert (single.name, single.size) == ("INV-1002.pdf", 2048)
    assert connector.invoice_documents(reference_of(connector, "INV-1009")) == []


def test_the_search_names_company_division_supplier_and_invoice(idm_connection, seeded):
    """Public code calling IDM (e.g. /IDM/api/items/search?$query=/M3_SalesInvoice[@M3_InvoiceNumber = "..."]
    &$offset=0&$limit=15): an XQuery on the document type's attributes. UNCONFIRMED (I12): the attribute names of
    M3_SupplierInvoice."""
    connector = idm_connection.connector()
    reference = reference_of(connector, INVOICE.number)
    sent = []
    json = connector.client.http.json

    def spy(method, path, **kwargs):
        sent.append((path, kwargs.get("params")))
        return json(method, path, **kwargs)

    connector.client.http.json = spy
    connector.invoice_documents(reference)
    [(path, params)] = sent
    assert path.endswith(f"/{infor_sandbox.TENANT}/IDM/api/items/search")
    assert params == {"$query": f'/M3_SupplierInvoice[@M3_Company = "{infor_sandbox.COMPANY}" AND @M3_Division = '
                                f'"AAA" AND @M3_SupplierNumber = "V1001" AND @M3_SupplierInvoiceNumber = "INV-1001"]',
                      "$offset": 0, "$limit": idm.SEARCH_LIMIT}


def test_the_simulator_refuses_a_query_it_does_not_take(idm_connection, seeded):
    connector = idm_connection.connector()
    response = connector.client.http.session.get(f"{connector.client.idm_base}/items/search", timeout=10, params={
        "$query": "/M3_SupplierInvoice[@M3_SupplierNumber != \"V1001\"]"},
        headers={"Authorization": f"Bearer {connector.client.http.auth.headers()[1]}"})
    assert response.status_code == 400


def test_an_image_deleted_after_the_search_is_not_found_on_that_bill(idm_connection, sandbox, seeded):
    connector = idm_connection.connector()
    [document, _] = connector.invoice_documents(reference_of(connector, INVOICE.number))
    simulator(sandbox).tenants[infor_sandbox.TENANT].documents.clear()
    with pytest.raises(NotFound, match="may have been deleted"):
        b"".join(document.chunks())


def test_a_download_that_breaks_off_is_transient(idm_connection, seeded, monkeypatch):
    connector = idm_connection.connector()
    [document, _] = connector.invoice_documents(reference_of(connector, INVOICE.number))

    def broken(self, chunk_size=1, decode_unicode=False):
        yield b"%PDF"
        raise requests.exceptions.ChunkedEncodingError("connection reset")

    monkeypatch.setattr(requests.Response, "iter_content", broken)
    with pytest.raises(TransientError, match="download of INV-1001.pdf broke off"):
        b"".join(document.chunks())


# --- reversals ------------------------------------------------------------------------------------------------------
def paid(connector, number=INVOICE.number, payment_id="PM00000042"):
    invoice = next(i for i in connector.approved_invoices() if i.invoice_number == number)
    return invoice.reference, Payment(payment_id=payment_id, bill_ids=("IN1",), amount=invoice.total, currency="USD",
                                      status="SETTLED", paid=True, process_date=date(2026, 2, 2),
                                      reference="021000000000042")


def returned(payment):
    return replace(payment, status="RETURNED", paid=False, reversed=True, return_code="R01",
                   undone_on=date(2026, 2, 5))


RETURNED_TEXT = "Returned by the bank: R01 Insufficient funds, 5 Feb 2026, payment 021000000000042"


def rows(sandbox):
    return {p["PYID"]: p for p in simulator(sandbox).payments.values()}


def test_a_returned_payment_is_reversed_with_its_reason_once(infor_connection, sandbox, seeded):
    connector = infor_connection.connector()
    reference, payment = paid(connector)
    assert connector.post_payment(reference, payment) == "added payment PM00000042"
    assert connector.post_payment(reference, returned(payment)) == \
        f"reversed payment PM00000042: {RETURNED_TEXT}"
    with infor_connection.connector() as another:
        assert another.post_payment(reference, returned(payment)) == "payment PM00000042 already recorded"
    row = rows(sandbox)["PM00000042"]
    assert (row["PYST"], row["RVTX"]) == (m3.PAYMENT_VOIDED, RETURNED_TEXT)
    assert [h["PYST"] for h in row["history"]] == ["PAID", "VOIDED"]


def test_a_payment_undone_before_it_was_recorded_writes_nothing(infor_connection, sandbox, seeded):
    connector = infor_connection.connector()
    reference, payment = paid(connector)
    assert "never recorded" in connector.post_payment(reference, returned(payment))
    assert rows(sandbox) == {}


def test_the_reason_is_cut_to_the_field_keeping_the_day_and_reference(infor_connection, sandbox, seeded):
    connector = infor_connection.connector()
    reference, payment = paid(connector)
    connector.post_payment(reference, payment)
    connector.post_payment(reference, replace(returned(payment), status="VOIDED", return_code="",
                                              return_reason="Sent to the wrong supplier " * 8))
    written = rows(sandbox)["PM00000042"]["RVTX"]
    assert m3.REASON_LENGTH - 3 <= len(written) <= m3.REASON_LENGTH
    assert written.startswith("Voided: Sent to the wrong supplier")
    assert written.endswith("..., 5 Feb 2026, payment 021000000000042")


@pytest.mark.parametrize("seed", [1, 5, 9])
def test_under_faults_a_reversal_is_posted_once(infor_connection, sandbox, seeded, seed):
    """The extension's Add is not idempotent: every write is looked up first, so retries (the client's, and a
    second worker's) record the payment once and its reversal once, whatever fails in between."""
    connector = infor_connection.connector()
    reference, payment = paid(connector)
    sandbox.control("faults", {"system": "infor", "seed": seed, "error_rate": 0.3, "rate_limit_rate": 0.1,
                               "timeout_rate": 0.1, "timeout_seconds": 0.3, "session_expiry_rate": 0.05})

    def until_done(post, share):
        for _ in range(20):  # each failed attempt is what a later run would retry
            try:
                return post(reference, share)
            except TransientError:
                continue
        pytest.fail("never got through")

    workers = (connector.post_payment, infor_connection.connector().post_payment)
    for share in (payment, returned(payment)):
        for post in workers:
            until_done(post, share)
    row = rows(sandbox)["PM00000042"]
    assert [(h["PYST"], h["RVTX"]) for h in row["history"]] == [("PAID", ""), ("VOIDED", RETURNED_TEXT)]


def test_every_extension_call_carries_the_company(infor_connection, sandbox, seeded):
    """CONO is an input of the payment extension (I4, m3.py), so the company never depends on the service
    account's default; execute() adds it wherever a transaction has it."""
    connector = infor_connection.connector()
    reference, payment = paid(connector)
    sent = []
    json = connector.client.http.json

    def spy(method, path, **kwargs):
        sent.append((path.split("/execute/")[1].split(";")[0], dict(kwargs.get("params") or {})))
        return json(method, path, **kwargs)

    connector.client.http.json = spy
    connector.post_payment(reference, payment)
    connector.post_payment(reference, returned(payment))
    assert {transaction for transaction, _ in sent} == {str(m3.GET_PAYMENT), str(m3.ADD_PAYMENT),
                                                        str(m3.UPDATE_PAYMENT)}
    assert all(params["CONO"] == infor_sandbox.COMPANY for _, params in sent)


# --- tenants ------------------------------------------------------------------------------------------------------
def test_a_tenant_of_its_own_keeps_its_data_and_refuses_the_others_tokens(tenant, sandbox, seeded):
    sandbox.control("infor/tenant", {"tenant": "MLC_OTHER"})
    sandbox.control("infor/seed", {"tenant": "MLC_OTHER", "suppliers": [{"SUNO": "S1", "SUNM": "Only here",
                                                                        "STAT": "20"}]})
    other = make_infor_connection(tenant, sandbox.url, name="Other")
    other.set_credentials(infor_sandbox.ionapi_for(sandbox.url, tenant="MLC_OTHER"))
    other.save()
    assert [s.source_id for s in other.connector().suppliers()] == ["S1"]
    assert len(list(make_infor_connection(tenant, sandbox.url, name="Main").connector().suppliers())) == \
        len(canonical.SUPPLIERS)
    assert sandbox.control("infor/tenant-state", {"tenant": "MLC_OTHER"})["logins"] == 1
    token = other.connector().client.http.auth.headers()[1]
    response = requests.get(f"{sandbox.url}/infor/{infor_sandbox.TENANT}/M3/m3api-rest/v2/execute/CRS620MI/"
                            f"LstSuppliers;cono={infor_sandbox.COMPANY}", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert response.status_code == 401


def test_a_document_type_that_is_not_a_name_is_refused_before_it_reaches_a_query():
    from django.core.exceptions import ValidationError

    from connectors.errors import ConfigurationError
    from connectors.infor import idm
    from connectors.infor.system import idm_type_name

    with pytest.raises(ValidationError):
        idm_type_name('X] | /Other[@A = "1"')
    idm_type_name("M3_SupplierInvoice")
    with pytest.raises(ConfigurationError, match="is not a name"):
        idm.query("X] | /Other[", {})


def test_an_invoice_with_more_pages_than_one_search_returns_has_every_page(idm_connection, sandbox, seeded):
    """IDM answers a search idm.SEARCH_LIMIT items a call; a scan stored a page an item is read to its end."""
    sandbox.control("infor/seed", {"documents": [
        {"SUNO": "V1002", "SINO": "INV-1002", "filename": f"INV-1002-page{n}.tif", "mimetype": "image/tiff",
         "size": 1024} for n in range(2, idm.SEARCH_LIMIT + 6)]})
    connector = idm_connection.connector()
    names = [d.name for d in connector.invoice_documents(reference_of(connector, "INV-1002"))]
    assert len(names) == idm.SEARCH_LIMIT + 5 and len(set(names)) == len(names)
