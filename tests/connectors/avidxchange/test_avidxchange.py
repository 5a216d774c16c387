"""AvidXchange's own behaviour: tokens, code lists, payees on hold, invoice images, payments in each state.

AvidXchange publishes no API reference: each rule below is the assumption decided in
connectors/avidxchange/client.py (or files.py), named by its docs/ASSUMPTIONS.md entry (X1-X12), or the
third-party source that says it."""

import hashlib
import tracemalloc
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
import requests

from connectors import canonical
from connectors.avidxchange import files
from connectors.errors import AuthError, ConfigurationError, ConnectorError, DataError, TransientError
from connectors.records import Dimension, Document, GlAccount, Payment, Unreadable, code_key
from sandbox.avidxchange import simulator as avid_sandbox
from tests.connectors.avidxchange.conftest import make_avidxchange_connection
from tests.connectors.contracts.ap import coding, invoice_record

MB = 1024 * 1024
GOOD = canonical.GOOD_INVOICES


def company(sandbox):
    return sandbox.simulators["avidxchange"].state()["companies"][avid_sandbox.COMPANY_ID]


def call(sandbox, method, path, headers=None, **kwargs):
    headers = {"CompanyToken": avid_sandbox.COMPANY_TOKEN, "UserToken": avid_sandbox.USER_TOKEN} \
        if headers is None else headers
    return requests.request(method, f"{sandbox.url}/avidxchange/v1{path}", headers=headers, timeout=30, **kwargs)


def error(response, status, code):
    assert response.status_code == status, response.text
    [first] = response.json()["Errors"]
    assert first["Code"] == code and first["Message"], first
    return first["Message"]


def document(content, name="INV-1001.pdf", content_type="application/pdf", size="given", pieces=None):
    """A Document whose chunks are counted as they are read."""
    pieces = pieces if pieces is not None else []

    def chunks():
        for start in range(0, len(content), 64 * 1024):
            pieces.append(start)
            yield content[start:start + 64 * 1024]

    return Document(name=name, content_type=content_type, chunks=chunks,
                    size=len(content) if size == "given" else size)


@pytest.fixture
def ids(sandbox):
    return sandbox.control("avidxchange/seed-canonical")


@pytest.fixture
def bills(avid_connection, ids):
    """Payees for the canonical suppliers and an invoice for each good canonical invoice: {number: bill id}."""
    with avid_connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        created = connector.create_bills([(vendors[i.supplier_id], invoice_record(i), coding(i, ids)) for i in GOOD])
    return {i.number: created[invoice_record(i).source_id] for i in GOOD}


# --- tokens (X1) -----------------------------------------------------------------------------------------------
def test_both_tokens_go_on_every_call_and_a_call_without_one_is_refused(sandbox):
    """Third-party (ml-connector integration pages): "a Company Token and a User Token generated inside AvidSuite
    and passed as request headers". UNCONFIRMED (X1): the header names and error codes."""
    assert call(sandbox, "GET", "/company").status_code == 200
    error(call(sandbox, "GET", "/company", headers={"CompanyToken": avid_sandbox.COMPANY_TOKEN}), 401, "MissingToken")
    error(call(sandbox, "GET", "/company", headers={"UserToken": avid_sandbox.USER_TOKEN}), 401, "MissingToken")
    error(call(sandbox, "GET", "/company", headers={"CompanyToken": "nope-nope", "UserToken": avid_sandbox.USER_TOKEN}),
          401, "InvalidCompanyToken")


def test_the_check_is_one_call_that_names_the_company(tenant, sandbox):
    assert "Sandbox Manufacturing" in make_avidxchange_connection(tenant, sandbox.url).connector().check()
    state = sandbox.state("avidxchange")
    assert (state["calls"], state["refused_tokens"]) == (1, 0)


def test_a_user_token_of_another_company_is_refused(sandbox):
    sandbox.control("avidxchange/account", {"company_id": "AVX-OTHER", "company_token": "other-company-token",
                                            "user_token": "other-user-token"})
    error(call(sandbox, "GET", "/company", headers={"CompanyToken": avid_sandbox.COMPANY_TOKEN,
                                                    "UserToken": "other-user-token"}), 401, "InvalidUserToken")


def test_a_refused_company_token_is_an_auth_error_in_words_without_the_token(tenant, sandbox):
    connector = make_avidxchange_connection(tenant, sandbox.url, company_token="wrong-company-token").connector()
    with pytest.raises(AuthError) as excinfo:
        connector.check()
    assert "refused the company token" in str(excinfo.value)
    assert "wrong-company-token" not in str(excinfo.value)


@pytest.mark.parametrize("connection, says", [
    ({"overrides": {"company_token": ""}}, "has no company token"),
    ({"overrides": {"company_token": "", "user_token": ""}}, "has no company token or user token"),
    ({"base_url": ""}, "has no base URL"),
    ({"options": {"mode": "sftp"}}, "is either 'api' or 'files'"),
    ({"options": {"mode": "files"}}, "has no exchange folder"),
])
def test_a_connection_that_cannot_work_says_why(tenant, sandbox, connection, says):
    made = make_avidxchange_connection(tenant, sandbox.url, options=connection.get("options"),
                                       **connection.get("overrides", {}))
    if "base_url" in connection:
        made.base_url = connection["base_url"]
    with pytest.raises(ConfigurationError, match=says):
        made.connector()


def test_a_file_mode_folder_that_does_not_exist_fails_the_check_in_words(tenant, sandbox, tmp_path):
    connector = make_avidxchange_connection(tenant, sandbox.url, mode="files", folder=tmp_path / "missing").connector()
    with pytest.raises(ConfigurationError, match="does not exist"):
        connector.check()


def test_the_server_writes_exchange_files_under_its_root_only(tenant, sandbox, settings, tmp_path):
    from django.core.exceptions import ValidationError

    from connectors.avidxchange.system import folder_inside_root

    settings.FILE_EXCHANGE_ROOT = str(tmp_path / "exchange")
    for typed in ("/etc/cron.d", f"{tmp_path}/exchange/../elsewhere", "relative/folder"):
        with pytest.raises(ValidationError):
            folder_inside_root(typed)
    folder_inside_root(f"{tmp_path}/exchange/acme")
    saved_before = make_avidxchange_connection(tenant, sandbox.url, mode="files", folder="/etc/cron.d")
    with pytest.raises(ConfigurationError, match="must be inside"):
        saved_before.connector()


def test_a_wrong_base_url_is_a_configuration_error_naming_it(tenant, sandbox):
    connection = make_avidxchange_connection(tenant, sandbox.url)
    connection.base_url = f"{sandbox.url}/avidxchange/v1"
    with pytest.raises(ConfigurationError, match="base URL"):
        connection.connector().check()


# --- lists and batches (X4, X8) ----------------------------------------------------------------------------------
def test_lists_refuse_what_they_do_not_take(sandbox):
    """Strict (X4): Page from 1, PageSize 1-100, only the documented filters, times as yyyy-MM-ddTHH:mm:ss.fffZ."""
    assert call(sandbox, "GET", "/payees", params={"PageSize": 100}).json()["TotalCount"] == 0
    error(call(sandbox, "GET", "/payees", params={"PageSize": 101}), 400, "ValidationFailed")
    error(call(sandbox, "GET", "/payees", params={"Page": 0}), 400, "ValidationFailed")
    error(call(sandbox, "GET", "/payees", params={"Name": "Harbor"}), 400, "ValidationFailed")
    error(call(sandbox, "GET", "/payees", params={"ExternalIds": ",".join(f"V{n}" for n in range(51))}), 400,
          "ValidationFailed")
    error(call(sandbox, "GET", "/payments", params={"ModifiedSince": "2026-01-05"}), 400, "ValidationFailed")
    assert call(sandbox, "GET", "/payments", params={"ModifiedSince": "2026-01-05T00:00:00.000Z"}).status_code == 200
    error(call(sandbox, "GET", "/suppliers"), 404, "UnknownPath")


def test_a_batch_answers_each_item_and_a_refused_item_fails_alone(avid_connection, sandbox):
    """Flowgear's AvidPay node (https://help.flowgear.net/v2/nodes/avidpay): batch creates answer "one row per
    provider Results[] item" with "per-result failures on HTTP 200"."""
    long_name = replace(canonical.SUPPLIERS[1], name="N" * 41)
    with avid_connection.connector() as connector:
        created = connector.create_vendors([canonical.SUPPLIERS[0], long_name, canonical.SUPPLIERS[3]])
    refused = created.pop(long_name.source_id)
    assert isinstance(refused, DataError) and "Name must be at most 40 characters" in str(refused)
    assert sorted(p["ExternalId"] for p in company(sandbox)["payees"]) == ["V1001", "V1004"]
    too_many = {"Payees": [{"ExternalId": f"X{n}", "Name": "x"} for n in range(101)]}
    error(call(sandbox, "POST", "/payees/batch", json=too_many), 400, "ValidationFailed")


def test_payees_are_found_by_external_id_and_updated_only_when_they_differ(avid_connection, sandbox):
    with avid_connection.connector() as connector:
        created = connector.create_vendors(list(canonical.SUPPLIERS))
    with avid_connection.connector() as connector:
        found = connector.find_vendors(list(canonical.SUPPLIERS))
        assert found == created
        before = connector.calls
        connector.update_vendor(found["V1001"], canonical.SUPPLIERS[0])
        assert connector.calls == before, "unchanged: nothing sent"
        connector.update_vendor(found["V1001"], replace(canonical.SUPPLIERS[0], email="new@harborpaper.test"))
        assert connector.calls == before + 1
    payee = next(p for p in company(sandbox)["payees"] if p["ExternalId"] == "V1001")
    assert payee["Email"] == "new@harborpaper.test"


# --- payees on hold -------------------------------------------------------------------------------------------------
def test_an_invoice_for_an_inactive_or_missing_payee_is_refused_in_words_until_it_is_active(avid_connection, ids,
                                                                                        sandbox):
    """The ml-connector pages: "a vendor must exist in AvidXchange before a payment can be made". UNCONFIRMED (X11):
    that AvidXchange refuses invoices of a payee on hold, and that its status is AvidXchange's, not the ERP's."""
    invoice = GOOD[1]  # Summit Freight's
    with avid_connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
    sandbox.control("avidxchange/payee-status", {"ExternalId": invoice.supplier_id, "Status": "Inactive"})
    item = (vendors[invoice.supplier_id], invoice_record(invoice), coding(invoice, ids))
    with avid_connection.connector() as connector:
        [refused] = connector.create_bills([item]).values()
        [missing] = connector.create_bills([("PY99999999", *item[1:])]).values()
        connector.update_vendor(vendors[invoice.supplier_id], canonical.SUPPLIERS[1])
    assert isinstance(refused, DataError) and "is inactive in AvidXchange" in str(refused)
    assert "Summit Freight LLC" in str(refused), "a person can tell which payee"
    assert isinstance(missing, DataError) and "PY99999999 does not exist in AvidXchange" in str(missing)
    payee = next(p for p in company(sandbox)["payees"] if p["ExternalId"] == invoice.supplier_id)
    assert payee["Status"] == "Inactive", "an update from the ERP does not reactivate it"
    sandbox.control("avidxchange/payee-status", {"ExternalId": invoice.supplier_id, "Status": "Active"})
    with avid_connection.connector() as connector:
        [bill_id] = connector.create_bills([item]).values()
    assert isinstance(bill_id, str) and bill_id.startswith("IN")


# --- code lists (X5) ------------------------------------------------------------------------------------------------
def publish(connection, codes):
    with connection.connector() as connector:
        return connector.publish_codes(codes)


def test_codes_are_published_then_renamed_and_deactivated_never_deleted(avid_connection, sandbox):
    """The ml-connector pages: GL codes and dimensions are pushed from the ERP and read-only in AvidXchange."""
    codes = [*canonical.GL_ACCOUNTS, *canonical.DEPARTMENTS]
    first = publish(avid_connection, codes)
    assert set(first) == {code_key(c) for c in codes} and all(isinstance(v, str) for v in first.values())
    again = publish(avid_connection, [replace(canonical.GL_ACCOUNTS[0], name="Raw materials and parts"),
                                      replace(canonical.DEPARTMENTS[2], active=False)])
    assert again == {code_key(canonical.GL_ACCOUNTS[0]): first[code_key(canonical.GL_ACCOUNTS[0])],
                     code_key(canonical.DEPARTMENTS[2]): first[code_key(canonical.DEPARTMENTS[2])]}, "same ids"
    with avid_connection.connector() as connector:
        accounts = {a.code: a for a in connector.gl_accounts()}
        departments = {d.code: d for d in connector.dimensions()}
    assert len(accounts) == len(canonical.GL_ACCOUNTS) and len(departments) == len(canonical.DEPARTMENTS)
    assert accounts["6000"].name == "Raw materials and parts" and accounts["6000"].id == first["gl_account:6000"]
    assert departments["300"].active is False, "deactivated, still there"
    response = call(sandbox, "DELETE", f"/codelists/Department/codes/{first['department:300']}")
    assert "never deleted" in error(response, 405, "CodeCannotBeDeleted")
    assert len(company(sandbox)["codes"]["Department"]) == 3


def test_a_code_coded_on_an_invoice_line_must_be_active(avid_connection, sandbox):
    ids = sandbox.control("avidxchange/seed-canonical")
    publish(avid_connection, [replace(canonical.DEPARTMENTS[0], active=False)])
    invoice = GOOD[0]  # its first line is on department 100
    with avid_connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        [refused] = connector.create_bills([(vendors[invoice.supplier_id], invoice_record(invoice),
                                             coding(invoice, ids))]).values()
    assert isinstance(refused, DataError) and "not an active code of the Department list" in str(refused)


def test_a_code_avidxchange_cannot_take_fails_alone(avid_connection):
    answer = publish(avid_connection, [Dimension("region", "NE", "North east"), GlAccount("X" * 31, "Too long"),
                                       canonical.GL_ACCOUNTS[0]])
    assert "no code list for region codes" in str(answer["region:NE"])
    assert "longer than 30 characters" in str(answer[f"gl_account:{'X' * 31}"])
    assert isinstance(answer["gl_account:6000"], str)


def test_codes_in_file_mode_are_a_codes_file_and_their_ids_are_the_codes(files_connection, sandbox, exchange_folder):
    answer = publish(files_connection, [canonical.GL_ACCOUNTS[0], replace(canonical.DEPARTMENTS[1], active=False)])
    assert answer == {"gl_account:6000": "6000", "department:200": "200"}
    [sent] = (exchange_folder / "sent").glob("codes_*.csv")
    assert sent.read_text().splitlines() == ["ListType,Code,Name,Active", "GlAccount,6000,Raw materials,Y",
                                             "Department,200,Sales,N"]
    sandbox.control("avidxchange/transfer")
    held = company(sandbox)["codes"]
    assert {(c["Id"], c["IsActive"]) for t in ("GlAccount", "Department") for c in held[t]} == {("6000", True),
                                                                                                 ("200", False)}


# --- invoice images (X7) ----------------------------------------------------------------------------------------------
def test_an_image_is_streamed_whole_and_sent_once(avid_connection, bills, sandbox):
    content = bytes(range(256)) * (3 * MB // 256)
    with avid_connection.connector() as connector:
        first = connector.attach_document(bills["INV-1001"], document(content))
        again = connector.attach_document(bills["INV-1001"], document(content))
    [held] = company(sandbox)["attachments"][bills["INV-1001"]]
    assert first == again == held["Id"], "the same image is not attached twice (a retry after a crash)"
    assert (held["Size"], held["Sha256"], held["FileName"]) == (len(content), hashlib.sha256(content).hexdigest(),
                                                                "INV-1001.pdf")


def test_an_image_is_sent_in_pieces_and_never_held_whole_in_memory(avid_connection, bills):
    """A 40 MB image, its size unknown in advance, through a body that is read a piece at a time: the memory the
    connector needs stays far below the image's size."""
    content_size = 40 * MB
    piece = bytes(range(256)) * 256

    def chunks():
        for _ in range(content_size // len(piece)):
            yield bytes(piece)

    received = {"pieces": 0, "largest": 0, "bytes": 0, "digest": hashlib.sha256()}

    class Reader:
        """Stands in for the network: reads the body as a socket would."""

        def request(self, method, url, timeout=None, data=None, headers=None, **kwargs):
            answer = requests.Response()
            answer.status_code, answer.headers["Content-Type"] = 200, "application/json"
            if method == "GET":
                answer._content = b"[]"
                return answer
            assert headers["Content-Length"] == str(content_size) and not isinstance(data, bytes | bytearray)
            for part in data:
                received["pieces"] += 1
                received["largest"] = max(received["largest"], len(part))
                received["bytes"] += len(part)
                received["digest"].update(part)
            answer.status_code, answer._content = 201, b'{"Id": "AT1"}'
            return answer

    connection = avid_connection
    connection.options = {**connection.options, "max_attachment_mb": "64"}
    connector = connection.connector()
    connector.http._local.session = Reader()
    tracemalloc.start()
    try:
        assert connector.attach_document(bills["INV-1001"], Document("big.pdf", "application/pdf", chunks)) == "AT1"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received["bytes"] == content_size and received["largest"] <= 64 * 1024 and received["pieces"] >= 640
    assert received["digest"].hexdigest() == hashlib.sha256(piece * (content_size // len(piece))).hexdigest()
    assert peak < 4 * MB, f"{peak / MB:.1f} MB held while sending a {content_size / MB:.0f} MB image"


def test_an_image_over_the_limit_is_refused_naming_file_size_and_limit(avid_connection, bills, sandbox):
    content = b"x" * (26 * MB)
    read = []
    with avid_connection.connector() as connector, pytest.raises(DataError) as known:
        connector.attach_document(bills["INV-1001"], document(content, pieces=read))
    assert "Invoice image INV-1001.pdf is 26.0 MB" in str(known.value) and "at most 25.0 MB" in str(known.value)
    assert read == [], "refused before reading when the ERP said its size"
    with avid_connection.connector() as connector, pytest.raises(DataError) as unknown:
        connector.attach_document(bills["INV-1001"], document(content, size=None, pieces=read))
    assert "is more than 25.0 MB" in str(unknown.value)
    assert len(read) == 25 * MB // (64 * 1024) + 1, "reading stops at the limit"
    assert company(sandbox)["attachments"] == {}


def test_the_limit_is_a_connection_option(tenant, sandbox, bills):
    connection = make_avidxchange_connection(tenant, sandbox.url, name="small", options={"max_attachment_mb": "1"})
    with connection.connector() as connector, pytest.raises(DataError, match="at most 1.0 MB"):
        connector.attach_document(bills["INV-1001"], document(b"x" * (MB + 1)))


def test_the_simulator_refuses_what_avidxchange_does_not_take(sandbox, bills):
    """UNCONFIRMED (X7): PDF, TIFF, PNG or JPEG, named in Content-Disposition, at most 25 MB."""
    path, name = f"/invoices/{bills['INV-1001']}/attachments", {"Content-Disposition": 'attachment; filename="a.pdf"'}
    headers = {"CompanyToken": avid_sandbox.COMPANY_TOKEN, "UserToken": avid_sandbox.USER_TOKEN}
    error(call(sandbox, "POST", path, headers={**headers, **name, "Content-Type": "text/html"}, data=b"<p>"), 415,
          "UnsupportedMediaType")
    error(call(sandbox, "POST", path, headers={**headers, "Content-Type": "application/pdf"}, data=b"%PDF"), 400,
          "ValidationFailed")
    error(call(sandbox, "POST", path, headers={**headers, **name, "Content-Type": "application/pdf"},
               data=b"x" * (avid_sandbox.ATTACHMENT_LIMIT + 1)), 413, "AttachmentTooLarge")


def test_an_unsupported_type_is_a_data_error_on_that_bill(avid_connection, bills):
    with avid_connection.connector() as connector, pytest.raises(DataError, match="not text/html"):
        connector.attach_document(bills["INV-1001"], document(b"<p>", name="a.html", content_type="text/html"))


def test_a_rate_limited_upload_is_sent_again_whole(avid_connection, bills, sandbox):
    content = b"%PDF-1.4 " + b"y" * MB
    sandbox.control("faults", {"system": "avidxchange", "seed": 3, "rate_limit_rate": 0.5})
    with avid_connection.connector() as connector:
        connector.attach_document(bills["INV-1002"], document(content, name="INV-1002.pdf"))
        assert connector.http.retries > 0
    [held] = company(sandbox)["attachments"][bills["INV-1002"]]
    assert held["Sha256"] == hashlib.sha256(content).hexdigest()


def test_an_image_shorter_than_the_erp_said_is_read_again_later(avid_connection, bills):
    with avid_connection.connector() as connector, pytest.raises(TransientError, match="said 10 bytes but sent 4"):
        connector.attach_document(bills["INV-1001"], document(b"%PDF", size=10))


# --- payments (X6) -------------------------------------------------------------------------------------------------
def pay(sandbox, bill_ids, method="ACH", status="Settled", amount=None):
    sandbox.control("clock", {"advance_seconds": 60})
    return sandbox.control("avidxchange/pay", {"Invoices": [{"InvoiceId": b, **({"Amount": amount} if amount else {})}
                                                            for b in bill_ids], "Method": method, "Status": status})


def to(sandbox, payment, status):
    sandbox.control("clock", {"advance_seconds": 60})
    return sandbox.control("avidxchange/payment-status", {"PaymentId": payment["Id"], "Status": status})


def read(connection, since=None):
    with connection.connector() as connector:
        return {p.source_id if isinstance(p, Unreadable) else p.payment_id: p for p in connector.payments(since)}


def test_payments_are_read_in_each_state(avid_connection, bills, sandbox):
    """Settled is paid; Returned (ACH), Voided and Escheated (checks) undo a payment the ERP may show as paid;
    Scheduled is in flight. The reference is the check number or the ACH trace."""
    ach = pay(sandbox, [bills["INV-1001"]])
    check = pay(sandbox, [bills["INV-1002"]], method="Check")
    scheduled = pay(sandbox, [bills["INV-1003"]], method="Check", status="Scheduled")
    payments = read(avid_connection)
    settled = payments[ach["Id"]]
    assert (settled.paid, settled.reversed, settled.status, settled.amount) == (True, False, "SETTLED",
                                                                                 Decimal("1339.90"))
    assert settled.reference == ach["AchTraceNumber"] and settled.process_date == sandbox.clock.now().date()
    assert settled.bill_ids == (bills["INV-1001"],)
    assert settled.allocations == ((bills["INV-1001"], Decimal("1339.90")),)
    assert payments[check["Id"]].reference == check["CheckNumber"]
    assert (payments[scheduled["Id"]].paid, payments[scheduled["Id"]].reversed) == (False, False)
    assert payments[scheduled["Id"]].process_date is None

    to(sandbox, ach, "Returned")
    to(sandbox, check, "Escheated")
    to(sandbox, scheduled, "Voided")
    payments = read(avid_connection)
    for payment, status in ((ach, "RETURNED"), (check, "ESCHEATED"), (scheduled, "VOIDED")):
        assert (payments[payment["Id"]].status, payments[payment["Id"]].paid, payments[payment["Id"]].reversed) == \
            (status, False, True)
    assert payments[ach["Id"]].process_date is not None, "the settlement date stays"


def test_states_move_only_forward_and_fit_the_method(bills, sandbox):
    ach = pay(sandbox, [bills["INV-1001"]])
    check = pay(sandbox, [bills["INV-1002"]], method="Check")
    for payment, status in ((ach, "Escheated"), (check, "Returned"), (ach, "Scheduled")):
        response = requests.post(f"{sandbox.url}/_control/avidxchange/payment-status", timeout=10,
                                 json={"PaymentId": payment["Id"], "Status": status})
        assert response.status_code == 400, (payment["Method"], status)
    to(sandbox, ach, "Returned")
    response = requests.post(f"{sandbox.url}/_control/avidxchange/payment-status", timeout=10,
                             json={"PaymentId": ach["Id"], "Status": "Voided"})
    assert response.status_code == 400 and "cannot become Voided" in response.text


def test_a_payment_of_several_invoices_has_a_share_per_invoice(avid_connection, ids, sandbox):
    seeds = [i for i in GOOD if i.number in ("INV-1002", "INV-1009")]
    with avid_connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        made = connector.create_bills([(vendors["V1002"], invoice_record(i), coding(i, ids)) for i in seeds])
    first, second = (made[invoice_record(i).source_id] for i in seeds)
    payment = sandbox.control("avidxchange/pay", {"Invoices": [{"InvoiceId": first},
                                                               {"InvoiceId": second, "Amount": "12.80"}]})
    [read_back] = read(avid_connection).values()
    assert read_back.payment_id == payment["Id"] and read_back.amount == Decimal("753.05")
    assert read_back.allocations == ((first, Decimal("740.25")), (second, Decimal("12.80")))


def test_payments_are_read_since_a_moment_and_a_bad_one_does_not_stop_the_others(avid_connection, bills, sandbox):
    older = pay(sandbox, [bills["INV-1001"]])
    newer = pay(sandbox, [bills["INV-1002"]])
    since = read(avid_connection)[newer["Id"]].updated_at
    assert set(read(avid_connection, since=datetime.fromisoformat(since))) == {newer["Id"]}
    company_data = sandbox.simulators["avidxchange"].companies[avid_sandbox.COMPANY_ID]
    company_data["payments"][older["Id"]]["Status"] = "Lost"
    payments = read(avid_connection)
    assert isinstance(payments[older["Id"]], Unreadable) and "Status 'Lost' is not one of" in \
        payments[older["Id"]].reason
    assert isinstance(payments[newer["Id"]], Payment)


def test_a_payment_changed_during_the_read_does_not_hide_another(avid_connection, bills, sandbox):
    """A payment on a page already read that changes (returned, here) moves to the end of the oldest-first order. Read
    by page number, every later payment would move up one place and the one at the page boundary would never be read,
    its change older than the cursor the run keeps: lost for good. Each page starts after the last change read."""
    paid = [pay(sandbox, [bills[number]]) for number in sorted(bills)]
    with avid_connection.connector() as connector:
        connector.client.page_size = 2
        stream = connector.payments()
        first_page = [next(stream), next(stream)]
        assert [p.payment_id for p in first_page] == [paid[0]["Id"], paid[1]["Id"]]
        to(sandbox, paid[0], "Returned")
        rest = list(stream)
    assert {p.payment_id for p in first_page + rest} == {p["Id"] for p in paid}
    assert [(p.payment_id, p.status) for p in rest] == [
        *((p["Id"], "SETTLED") for p in paid[2:]), (paid[0]["Id"], "RETURNED")], "each change read once, in order"


def test_payments_changed_at_one_moment_fill_pages_and_are_each_read_once(avid_connection, bills, sandbox):
    """More payments changed in one millisecond than a page holds: the next page cannot start after the last change
    read, so it is the next page number under the same ModifiedSince."""
    paid = [pay(sandbox, [bills[number]]) for number in sorted(bills)]
    held = sandbox.simulators["avidxchange"].companies[avid_sandbox.COMPANY_ID]["payments"]
    for payment in held.values():
        payment["ModifiedDate"] = held[paid[0]["Id"]]["ModifiedDate"]
    with avid_connection.connector() as connector:
        client, asked = connector.client, []
        client.page_size, read_page = 2, client.read_page

        def bounded(path, params, page):
            asked.append((params.get("ModifiedSince"), page))
            assert len(asked) <= 2 * len(paid), f"still reading after {asked}"
            return read_page(path, params, page)

        client.read_page = bounded
        read_back = list(connector.payments())
    assert sorted(p.payment_id for p in read_back) == sorted(p["Id"] for p in paid)
    moment = held[paid[0]["Id"]]["ModifiedDate"]
    assert asked == [(None, 1), (moment, 1), (moment, 2), (moment, 3)]


# --- file mode (X9, X10) ----------------------------------------------------------------------------------------------
def test_file_mode_writes_whole_files_keeps_a_copy_and_never_rewrites(files_connection, sandbox, exchange_folder):
    """UNCONFIRMED (X9, X10): the folder layout and the files' columns, in files.py."""
    with files_connection.connector() as connector:
        created = connector.create_vendors(list(canonical.SUPPLIERS[:2]))
    assert created == {"V1001": "V1001", "V1002": "V1002"}
    [outbound] = (exchange_folder / "outbound").glob("payees_*.csv")
    [kept] = (exchange_folder / "sent").glob("payees_*.csv")
    written = kept.read_bytes()
    assert outbound.read_bytes() == written
    assert outbound.read_text().splitlines()[0] == ("VendorID,VendorName,TaxID,AddressLine1,AddressLine2,City,State,"
                                                    "PostalCode,Country,Email,Phone,Currency")
    assert not list((exchange_folder / "outbound").glob(".tmp-*")), "no half-written file is left"
    sandbox.control("avidxchange/transfer")  # the customer's transfer job takes the file away
    assert not list((exchange_folder / "outbound").glob("*.csv"))
    with files_connection.connector() as another:
        assert another.find_vendors(list(canonical.SUPPLIERS)) == created, "found in sent/ after the transfer"
    with pytest.raises(FileExistsError):
        files.publish(exchange_folder / "sent", kept.name, lambda handle: handle.write(b"other"))
    assert kept.read_bytes() == written, "a file is never rewritten"
    assert not list((exchange_folder / "sent").glob(".tmp-*"))


def test_a_file_kept_but_not_delivered_before_a_crash_is_delivered_once(files_connection, exchange_folder, sandbox):
    with files_connection.connector() as connector:
        connector.create_vendors([canonical.SUPPLIERS[0]])
    [kept] = (exchange_folder / "sent").glob("payees_*.csv")
    (exchange_folder / "outbound" / kept.name).unlink()  # the crash came between the two writes
    (exchange_folder / "sent" / f"{kept.name}.delivered").unlink()
    with files_connection.connector() as connector:
        connector.check()
    assert (exchange_folder / "outbound" / kept.name).read_bytes() == kept.read_bytes()
    sandbox.control("avidxchange/transfer")
    with files_connection.connector() as connector:
        connector.check()
    assert not (exchange_folder / "outbound" / kept.name).exists(), "not delivered a second time"
    assert [p["Id"] for p in company(sandbox)["payees"]] == ["V1001"]


def test_file_mode_refuses_what_the_import_would_before_writing(files_connection, exchange_folder):
    long_id = replace(canonical.SUPPLIERS[0], source_id="SUPPLIER-12345")
    with files_connection.connector() as connector:
        answer = connector.create_vendors([long_id])
        assert "longer than the 10 characters" in str(answer["SUPPLIER-12345"])
        connector.publish_codes([*canonical.GL_ACCOUNTS, *canonical.DEPARTMENTS])
        invoice = GOOD[0]
        ids = {"gl_accounts": {a.code: a.code for a in canonical.GL_ACCOUNTS},
               "dimensions": {"department": {d.code: d.code for d in canonical.DEPARTMENTS}}}
        [no_payee] = connector.create_bills([("V1001", invoice_record(invoice), coding(invoice, ids))]).values()
    assert "Payee V1001 was never sent to AvidXchange" in str(no_payee)
    assert not list((exchange_folder / "sent").glob("invoices_*.csv"))


def test_file_mode_images_and_payments(files_connection, sandbox, exchange_folder, sent_bills):
    bill = sent_bills[GOOD[0].number]
    with files_connection.connector() as connector:
        content = b"%PDF-1.4 " + b"z" * (2 * MB)
        name = connector.attach_document(bill, document(content))
        assert connector.attach_document(bill, document(content)) == name, "written once"
        with pytest.raises(DataError, match="more than 1.0 MB"):
            connector.attachment_limit = MB
            connector.attach_document(bill, document(content, name="other.pdf", size=None))
    assert not list((exchange_folder / "outbound" / "images").glob("*other.pdf"))
    assert not list((exchange_folder / "outbound" / "images").glob(".tmp-*"))
    sandbox.control("avidxchange/transfer")
    [held] = company(sandbox)["attachments"][bill]
    assert (held["Size"], held["Sha256"]) == (len(content), hashlib.sha256(content).hexdigest())

    payment = pay(sandbox, [bill])
    to(sandbox, payment, "Returned")
    payments = [p for p in files_connection.connector().payments() if p.payment_id == payment["Id"]]
    assert [(p.status, p.paid, p.reversed, p.bill_ids) for p in payments] == [
        ("SETTLED", True, False, (bill,)), ("RETURNED", False, True, (bill,))]
    assert payments[0].reference == payment["AchTraceNumber"]
    assert payments[0].process_date == payments[1].process_date == sandbox.clock.now().date()
    since = datetime.fromisoformat(payments[1].updated_at)
    assert [p.status for p in files_connection.connector().payments(since)] == ["RETURNED"]


@pytest.fixture
def sent_bills(files_connection):
    """File mode: codes, payees and the good canonical invoices written to the folder: {number: bill id}."""
    with files_connection.connector() as connector:
        published = connector.publish_codes([*canonical.GL_ACCOUNTS, *canonical.DEPARTMENTS])
        ids = {"gl_accounts": {a.code: published[code_key(a)] for a in canonical.GL_ACCOUNTS},
               "dimensions": {"department": {d.code: published[code_key(d)] for d in canonical.DEPARTMENTS}}}
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        made = connector.create_bills([(vendors[i.supplier_id], invoice_record(i), coding(i, ids)) for i in GOOD])
    return {i.number: made[invoice_record(i).source_id] for i in GOOD}


def test_file_mode_an_image_shorter_than_the_erp_said_is_not_published(files_connection, sent_bills,
                                                                       exchange_folder):
    with files_connection.connector() as connector, pytest.raises(TransientError, match="said 10 bytes but sent 4"):
        connector.attach_document(sent_bills["INV-1001"], document(b"%PDF", size=10))
    assert not [p for p in (exchange_folder / "outbound" / "images").glob("*") if p.is_file()]
    assert not list((exchange_folder / "sent").glob("images_*.csv"))


def test_file_mode_two_images_of_one_name_are_both_written(files_connection, sent_bills, sandbox):
    """A corrected scan under the same name as the first is another image: an image is known by its content."""
    bill, first, corrected = sent_bills["INV-1001"], b"%PDF-1.4 first scan", b"%PDF-1.4 corrected scan"
    with files_connection.connector() as connector:
        names = {connector.attach_document(bill, document(first, name="invoice.pdf")),
                 connector.attach_document(bill, document(corrected, name="invoice.pdf"))}
    assert len(names) == 2
    sandbox.control("avidxchange/transfer")
    assert {held["Sha256"] for held in company(sandbox)["attachments"][bill]} == {
        hashlib.sha256(first).hexdigest(), hashlib.sha256(corrected).hexdigest()}


def test_file_mode_an_image_written_before_is_not_written_again_under_another_name(files_connection, sent_bills,
                                                                                   sandbox, exchange_folder):
    """The same content again (a run that crashed after writing it, the ERP naming it differently this time) is the
    image already written: its name is answered and nothing new is left for the transfer job."""
    bill, content = sent_bills["INV-1001"], b"%PDF-1.4 " + b"s" * (3 * 64 * 1024)
    with files_connection.connector() as connector:
        name = connector.attach_document(bill, document(content, name="scan-0001.pdf"))
    with files_connection.connector() as connector:
        assert connector.attach_document(bill, document(content, name="INV-1001.pdf")) == name
        other = connector.attach_document(sent_bills["INV-1002"], document(content, name="INV-1001.pdf"))
    assert other != name, "the same image on another invoice is that invoice's own"
    images = exchange_folder / "outbound" / "images"
    assert {p.name for p in images.iterdir()} == {name, other}, "nothing written twice, no temporary file left"
    sandbox.control("avidxchange/transfer")
    [held] = company(sandbox)["attachments"][bill]
    assert held["Sha256"] == hashlib.sha256(content).hexdigest()


def test_a_payment_file_that_does_not_parse_is_unreadable_and_the_others_are_read(files_connection, sandbox,
                                                                                  exchange_folder):
    (exchange_folder / "inbound").mkdir(exist_ok=True)
    (exchange_folder / "inbound" / "payments_20260101T000000000000_bad.csv").write_text("Hello,World\r\n1,2\r\n")
    row = {"PaymentID": "PM1", "Status": "Settled", "StatusTime": "2026-02-01T10:00:00+00:00", "Method": "ACH",
           "ACHTraceNumber": "021000000000001", "SettlementDate": "2026-02-01", "PaymentAmount": "10.00",
           "Currency": "USD", "VendorID": "V1001", "InvoiceNumber": "INV-1001", "AmountPaid": "10.00"}
    (exchange_folder / "inbound" / "payments_20260201T000000000000_ok.csv").write_bytes(files.csv_text("payments", [
        row, {**row, "PaymentID": "PM2", "StatusTime": "yesterday"}]))
    read_back = list(files_connection.connector().payments())
    unreadable = {r.source_id: r.reason for r in read_back if isinstance(r, Unreadable)}
    assert "does not have the payments layout" in unreadable["payments_20260101T000000000000_bad.csv"]
    assert "StatusTime 'yesterday' is not a time" in unreadable["PM2"]
    [good] = [p for p in read_back if isinstance(p, Payment)]
    assert (good.payment_id, good.bill_ids, good.reference) == ("PM1", ("V1001|INV-1001",), "021000000000001")


def test_without_hard_links_a_file_is_still_written_whole_and_never_over_another(tmp_path, monkeypatch):
    def no_links(source, target):
        raise PermissionError("hard links are not supported here")

    monkeypatch.setattr(files.os, "link", no_links)
    files.publish(tmp_path, "payees_1.csv", lambda handle: handle.write(b"first"))
    with pytest.raises(FileExistsError):
        files.publish(tmp_path, "payees_1.csv", lambda handle: handle.write(b"second"))
    assert (tmp_path / "payees_1.csv").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["payees_1.csv"], "no temporary file is left"


@pytest.mark.parametrize("subfolder", [files.OUTBOUND, files.SENT, files.INBOUND])
def test_a_symlinked_subfolder_that_leads_out_of_the_root_is_refused_and_nothing_is_written_there(
        subfolder, settings, tmp_path):
    settings.FILE_EXCHANGE_ROOT = str(tmp_path / "exchange")
    folder = tmp_path / "exchange" / "acme"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / subfolder).symlink_to(elsewhere, target_is_directory=True)

    exchange = files.Exchange(str(folder))
    with pytest.raises(ConfigurationError, match="leads outside .* symbolic link"):
        exchange.write("payees", [{"VendorID": "V1001", "VendorName": "Harbor Supply"}])
    assert list(elsewhere.iterdir()) == []


def test_a_payment_file_linked_from_outside_the_root_is_not_read(settings, tmp_path):
    settings.FILE_EXCHANGE_ROOT = str(tmp_path / "exchange")
    folder = tmp_path / "exchange" / "acme"
    folder.mkdir(parents=True)
    exchange = files.Exchange(str(folder))
    exchange.ready()
    outside = tmp_path / "payments_outside.csv"
    outside.write_text(",".join(files.LAYOUTS["payments"]) + "\r\n")
    (exchange.inbound / "payments_20260101.csv").symlink_to(outside)
    with pytest.raises(ConfigurationError, match="leads outside"):
        list(files.read_rows(exchange.payment_files()[0], "payments"))


# --- what a run need not ask ----------------------------------------------------------------------------------------
def paths(sandbox):
    return sandbox.state("avidxchange")["calls_by_path"]


def test_codes_published_in_a_run_are_not_read_again_in_it(avid_connection, sandbox):
    """The reference data loaded again after publishing comes from the lists this run read, with the codes it sent
    under the ids AvidXchange answered (the upsert, X5)."""
    publish(avid_connection, list(canonical.GL_ACCOUNTS))
    with avid_connection.connector() as connector:
        assert {a.code for a in connector.gl_accounts()} == {a.code for a in canonical.GL_ACCOUNTS}
        answered = connector.publish_codes([replace(canonical.GL_ACCOUNTS[0], name="Raw materials and parts"),
                                            *canonical.DEPARTMENTS])
        accounts = {a.code: a for a in connector.gl_accounts()}
        departments = {d.code: d.id for d in connector.dimensions()}
    assert paths(sandbox)["GET /v1/codes"] == 1
    assert (accounts["6000"].name, accounts["6000"].id) == ("Raw materials and parts", answered["gl_account:6000"])
    assert len(accounts) == len(canonical.GL_ACCOUNTS)
    assert departments == {d.code: answered[code_key(d)] for d in canonical.DEPARTMENTS}


def test_invoices_of_payees_made_in_this_run_are_not_looked_for(avid_connection, ids, sandbox):
    """No invoice of ours can be under a payee that did not exist before the run; one made before it is found."""
    first, later = GOOD[0], GOOD[1]
    with avid_connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        items = [(vendors[i.supplier_id], invoice_record(i)) for i in (first, later)]
        assert connector.find_bills(items) == {}
    assert "GET /v1/invoices" not in paths(sandbox)
    with avid_connection.connector() as connector:
        made = connector.create_bills([(*items[0], coding(first, ids))])
        assert connector.find_bills(items) == made
    assert paths(sandbox)["GET /v1/invoices"] == 1


def test_after_a_batch_that_ended_unknown_its_payees_invoices_are_looked_for_again(avid_connection, ids, sandbox):
    invoice = GOOD[0]
    with avid_connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        item = (vendors[invoice.supplier_id], invoice_record(invoice))
        sandbox.control("faults", {"system": "avidxchange", "error_rate": 1})
        try:
            answered = connector.create_bills([(*item, coding(invoice, ids))])
        except ConnectorError:
            answered = {}
        sandbox.control("faults", {"system": "avidxchange"})
        assert not isinstance(answered.get(item[1].source_id), str)
        connector.find_bills([item])
    assert paths(sandbox)["GET /v1/invoices"] == 1


def test_the_first_image_of_an_invoice_made_in_this_run_is_sent_without_listing_its_attachments(
        avid_connection, ids, sandbox):
    """Listing the attachments first guards against sending an image twice after a crash; an invoice made in this
    run has none from before. Its second image, and any image of an invoice made before, is checked."""
    with avid_connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        made = connector.create_bills([(vendors[i.supplier_id], invoice_record(i), coding(i, ids))
                                       for i in GOOD[:2]])
        bill_id = made[invoice_record(GOOD[0]).source_id]
        connector.attach_document(bill_id, document(b"%PDF-1.4 first"))
        assert "GET /v1/invoices/{invoice_id}/attachments" not in paths(sandbox)
        connector.attach_document(bill_id, document(b"%PDF-1.4 first"))
    with avid_connection.connector() as connector:
        connector.attach_document(made[invoice_record(GOOD[1]).source_id], document(b"%PDF-1.4 second"))
    assert paths(sandbox)["GET /v1/invoices/{invoice_id}/attachments"] == 2
    assert [len(attached) for attached in company(sandbox)["attachments"].values()] == [1, 1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_payee_list_begun_ahead_serves_the_first_look_up_and_then_payees_are_asked_for_by_id(avid_connection,
                                                                                                   sandbox):
    """A first read begins listing every payee while the ERP's suppliers are read (steps.suppliers): the first
    find_vendors matches on that list without a call of its own; a later one, after this run made payees, asks
    again."""
    with avid_connection.connector() as connector:
        created = connector.create_vendors(list(canonical.SUPPLIERS[:2]))
    with avid_connection.connector() as connector:
        connector.begin_vendor_lookup()
        connector._payee_listing.result(timeout=30)
        before = connector.calls
        assert connector.find_vendors(list(canonical.SUPPLIERS)) == created
        assert connector.calls == before
        made = connector.create_vendors(list(canonical.SUPPLIERS[2:3]))
        assert connector.find_vendors(list(canonical.SUPPLIERS)) == {**created, **made}
        assert connector.calls == before + 2
