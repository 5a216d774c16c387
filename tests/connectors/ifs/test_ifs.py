"""What is IFS Cloud's own: supplier contact write-back and its races, acknowledging, payments, the deployment
answer, the tenant's limits, IFS's error codes in words, projection names per release, and $skip drift."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connectors import canonical
from connectors.errors import ConfigurationError, Conflict, DataError, Deferred, Locked, TransientError
from connectors.ifs import projections as p
from connectors.ifs.client import RENEW_BEFORE
from connectors.models import ConnectionToken
from connectors.records import Address, Invoice, Payment, Supplier, Unreadable
from connectors.tokens import TokenStore
from sandbox.ifs import simulator as ifs_sandbox
from tests.connectors.ifs.conftest import make_ifs_connection

HARBOR = canonical.SUPPLIERS[0]  # V1001, with an e-mail address and a phone number
SUMMIT = canonical.SUPPLIERS[1]  # V1002, with an e-mail address and no phone number


def held(sandbox, supplier_id):
    """The supplier as IFS holds it now: e-mail, phone and first address."""
    now = sandbox.state("ifs")
    methods = {m["MethodId"]: m["Value"] for m in now["supplier_comm_methods"] if m["SupplierId"] == supplier_id}
    address = next(a for a in now["supplier_addresses"] if a["SupplierId"] == supplier_id)
    return methods.get(p.EMAIL, ""), methods.get(p.PHONE, ""), address


@pytest.fixture
def connector(ifs_connection, sandbox):
    sandbox.control("ifs/seed-canonical")
    with ifs_connection.connector() as connector:
        yield connector


def invoice(connector, number):
    return next(i for i in connector.approved_invoices() if isinstance(i, Invoice) and i.invoice_number == number)


# --- supplier contact edits written back -----------------------------------------------------------------------
def test_a_contact_edit_is_written_where_ifs_still_holds_what_we_sent(connector, sandbox):
    moved = Address("1 Main St", "Suite 5", "Austin", "TX", "78702", "US")
    result = connector.update_supplier(HARBOR.source_id, {"email": (HARBOR.email, "pay@harborpaper.test"),
                                                          "address": (HARBOR.address, moved)})
    assert result.applied == {"email": "pay@harborpaper.test", "address": moved} and result.conflicts == {}
    email, phone, address = held(sandbox, HARBOR.source_id)
    assert (email, phone) == ("pay@harborpaper.test", HARBOR.phone)
    assert (address["Address1"], address["Address2"], address["ZipCode"]) == ("1 Main St", "Suite 5", "78702")
    assert result.reference.startswith('W/"'), "the ETag IFS gave the row last written"
    read = next(s for s in connector.suppliers() if s.source_id == HARBOR.source_id)
    assert (read.email, read.address) == ("pay@harborpaper.test", moved)


def test_a_field_ifs_changed_since_we_sent_it_keeps_ifs_value_and_is_a_conflict(connector, sandbox):
    sandbox.control("ifs/canonical-supplier", {"source_id": HARBOR.source_id, "email": "ap@harborpaper.test"})
    result = connector.update_supplier(HARBOR.source_id, {"email": (HARBOR.email, "bill-side@harborpaper.test"),
                                                          "phone": (HARBOR.phone, "+1 512 555 0199")})
    assert result.conflicts == {"email": ("ap@harborpaper.test", "bill-side@harborpaper.test")}
    assert result.applied == {"phone": "+1 512 555 0199"}
    assert held(sandbox, HARBOR.source_id)[:2] == ("ap@harborpaper.test", "+1 512 555 0199")


def test_a_value_ifs_already_holds_is_applied_without_a_write(connector, sandbox):
    result = connector.update_supplier(HARBOR.source_id, {"email": ("old@harborpaper.test", HARBOR.email)})
    assert result.applied == {"email": HARBOR.email} and result.conflicts == {}
    assert sandbox.state("ifs")["writes"]["patch"] == 0


def test_a_phone_number_is_added_and_an_email_address_removed(connector, sandbox):
    result = connector.update_supplier(SUMMIT.source_id, {"phone": ("", "+1 312 555 0100"),
                                                          "email": (SUMMIT.email, "")})
    assert result.applied == {"phone": "+1 312 555 0100", "email": ""} and result.conflicts == {}
    assert held(sandbox, SUMMIT.source_id)[:2] == ("", "+1 312 555 0100")
    assert sandbox.state("ifs")["writes"] | {"patch": 0} == {"patch": 0, "post": 1, "delete": 1, "refused_stale": 0,
                                                             "refused_locked": 0, "refused_no_if_match": 0}


def test_the_412_race_on_the_same_field_ends_with_ifs_value_kept_and_both_values_reported(connector, sandbox):
    """A person changes the e-mail address in IFS between our read and our PATCH: IFS answers 412, the connector
    reads again, sees that IFS changed the field since we sent it, and keeps IFS's value. Nothing is lost: IFS
    holds the person's value, and BILL's comes back as the conflict for the audit trail."""
    sandbox.control("ifs/edit-on-next-write", {"source_id": HARBOR.source_id, "email": "person@harborpaper.test"})
    result = connector.update_supplier(HARBOR.source_id, {"email": (HARBOR.email, "bill@harborpaper.test")})
    assert result.conflicts == {"email": ("person@harborpaper.test", "bill@harborpaper.test")}
    assert result.applied == {}
    assert held(sandbox, HARBOR.source_id)[0] == "person@harborpaper.test"
    assert sandbox.state("ifs")["writes"]["refused_stale"] == 1


def test_the_412_race_on_another_field_writes_ours_and_keeps_theirs(connector, sandbox):
    """A person changes the phone number while we write the e-mail address and the phone number: our e-mail
    address goes through, the phone number's PATCH meets the new version (412), and after reading again the
    phone number is IFS's (changed since we sent it) while the e-mail address reads as ours."""
    sandbox.control("ifs/edit-on-next-write", {"source_id": HARBOR.source_id, "phone": "+1 512 555 0142"})
    result = connector.update_supplier(HARBOR.source_id, {"email": (HARBOR.email, "bill@harborpaper.test"),
                                                          "phone": (HARBOR.phone, "+1 512 555 0177")})
    assert result.applied == {"email": "bill@harborpaper.test"}
    assert result.conflicts == {"phone": ("+1 512 555 0142", "+1 512 555 0177")}
    assert held(sandbox, HARBOR.source_id)[:2] == ("bill@harborpaper.test", "+1 512 555 0142")
    assert sandbox.state("ifs")["writes"]["refused_stale"] == 1


def test_a_record_that_keeps_changing_is_given_up_after_three_reads(connector, sandbox):
    connector.check()  # signed in first: the fault would refuse the token request too
    sandbox.control("faults", {"system": "ifs", "conflict_rate": 1})
    with pytest.raises(Conflict) as excinfo:
        connector.update_supplier(HARBOR.source_id, {"email": (HARBOR.email, "bill@harborpaper.test")})
    assert "3 tries" in str(excinfo.value) and excinfo.value.error_class == "conflict"
    sandbox.control("faults", {"system": "ifs"})
    assert held(sandbox, HARBOR.source_id)[0] == HARBOR.email


def test_a_locked_row_raises_locked(connector, sandbox):
    comm_id = next(m["CommId"] for m in sandbox.state("ifs")["supplier_comm_methods"]
                   if m["SupplierId"] == HARBOR.source_id and m["MethodId"] == p.EMAIL)
    sandbox.control("ifs/lock", {"set": "supplier_comm_methods", "key": {"SupplierId": HARBOR.source_id,
                                                                          "CommId": comm_id}})
    with pytest.raises(Locked) as excinfo:
        connector.update_supplier(HARBOR.source_id, {"email": (HARBOR.email, "bill@harborpaper.test")})
    assert excinfo.value.error_class == "locked" and "locked in IFS" in str(excinfo.value)
    assert sandbox.state("ifs")["writes"]["refused_locked"] == 1


# --- acknowledging ----------------------------------------------------------------------------------------------------
def test_acknowledging_marks_the_invoice_transferred_once(connector, sandbox):
    reference = invoice(connector, "INV-1001").reference
    assert set(reference) == {"Company", "InvoiceId", "SupplierId", "InvoiceNo"}
    assert "marked as transferred" in connector.acknowledge_invoice(reference)
    assert "already" in connector.acknowledge_invoice(reference)
    rows = {i["InvoiceNo"]: i["TransferStatus"] for i in sandbox.state("ifs")["invoices"]}
    assert rows["INV-1001"] == "Transferred" and rows["INV-1002"] == "NotTransferred"
    assert sandbox.state("ifs")["writes"]["patch"] == 1


def calls(sandbox):
    now = sandbox.state("ifs")
    return now["calls"] + now["logins"]


def test_an_invoice_read_in_this_run_is_marked_with_its_etag_from_the_read_in_one_call(connector, sandbox):
    """The list read brings each invoice's @odata.etag (OData JSON Format 4.0, 4.5.10) and Transfer Status: the
    mark is one PATCH with If-Match, no GET before it."""
    reference = invoice(connector, "INV-1001").reference
    before = calls(sandbox)
    assert "marked as transferred" in connector.acknowledge_invoice(reference)
    assert calls(sandbox) - before == 1 and sandbox.state("ifs")["writes"]["patch"] == 1


def test_an_invoice_changed_after_the_read_is_read_again_before_it_is_marked(connector, sandbox):
    reference = invoice(connector, "INV-1001").reference
    keys = {"Company": reference["Company"], "InvoiceId": reference["InvoiceId"]}
    sandbox.control("ifs/canonical-invoice", {"supplier_id": reference["SupplierId"], "number": "INV-1001",
                                              "approved": True})  # a person saves it again: a new ETag
    assert "marked as transferred" in connector.acknowledge_invoice(reference)
    writes = sandbox.state("ifs")["writes"]
    assert (writes["refused_stale"], writes["patch"]) == (1, 1)
    assert next(i for i in sandbox.state("ifs")["invoices"] if i["InvoiceId"] == keys["InvoiceId"])[
        "TransferStatus"] == "Transferred"


def test_posting_lines_of_consecutive_invoice_ids_are_read_in_one_call(connector, sandbox):
    sandbox.control("ifs/seed", {"invoices": [
        {"InvoiceId": 5001 + n, "InvoiceNo": f"B-{n}", "Identity": HARBOR.source_id, "InvoiceDate": "2026-03-01",
         "DueDate": "2026-03-31", "Currency": "USD", "GrossAmount": "10.00",
         "lines": [{"CodeA": "6000", "CurrAmount": "10.00", "Text": "Paper"}]} for n in range(90)]})
    connector.check()  # signed in
    before = calls(sandbox)
    invoices = [i for i in connector.approved_invoices() if isinstance(i, Invoice)]
    assert len(invoices) > 90 and all(i.lines for i in invoices)
    assert calls(sandbox) - before == 2, "the invoices, then every one's posting lines (InvoiceId ge … and le …)"


def test_posting_line_filters_take_a_range_for_each_run_of_consecutive_ids():
    from connectors.ifs.connector import id_terms

    assert [t.render() for t in id_terms([7, 3, 4, 5, 9, 10, 4])] == [
        "InvoiceId ge 3 and InvoiceId le 5", "InvoiceId eq 7", "InvoiceId ge 9 and InvoiceId le 10"]


def test_without_batch_requests_each_supplier_is_read_on_its_own(connector, sandbox):
    """A gateway or release that refuses $batch: every supplier's address and communication methods are read with
    a call each, and the batch is not tried again for the rest of the run."""
    tried = []

    def refused(root, reads):
        tried.append(root)
        raise DataError("IFS refused it: $batch is not available (ODP_NOT_IMPLEMENTED)")

    connector.client.batch = refused
    first = [s for s in connector.suppliers() if isinstance(s, Supplier)]
    again = [s for s in connector.suppliers() if isinstance(s, Supplier)]
    assert len(first) == len(again) == len(canonical.SUPPLIERS) and len(tried) == 1
    assert {s.source_id: s.email for s in first} == {s.source_id: s.email for s in canonical.SUPPLIERS}


def test_acknowledging_a_locked_invoice_raises_locked(connector, sandbox):
    reference = invoice(connector, "INV-1002").reference
    sandbox.control("ifs/lock", {"set": "invoices", "key": {"Company": reference["Company"],
                                                            "InvoiceId": reference["InvoiceId"]}})
    with pytest.raises(Locked):
        connector.acknowledge_invoice(reference)
    sandbox.control("ifs/lock", {"set": "invoices", "locked": False,
                                 "key": {"Company": reference["Company"], "InvoiceId": reference["InvoiceId"]}})
    assert "marked as transferred" in connector.acknowledge_invoice(reference)


def test_several_invoices_are_marked_in_one_batch_call_each_with_its_own_outcome(connector, sandbox):
    """The marks go as PATCH parts of one $batch call, each with the ETag its read brought: one refused (locked)
    or changed since the read (412, read again and sent again) never holds back the others."""
    invoices = {i.invoice_number: i.reference for i in connector.approved_invoices() if isinstance(i, Invoice)}
    numbers = ["INV-1001", "INV-1002", "INV-1003"]
    locked = {"Company": invoices["INV-1002"]["Company"], "InvoiceId": invoices["INV-1002"]["InvoiceId"]}
    sandbox.control("ifs/lock", {"set": "invoices", "key": locked})
    changed = invoices["INV-1003"]
    sandbox.control("ifs/canonical-invoice", {"supplier_id": changed["SupplierId"], "number": "INV-1003",
                                              "approved": True})  # a person saves it again: a new ETag
    before = calls(sandbox)
    done, refused, again = connector.acknowledge_invoices([invoices[n] for n in numbers] + [{"Company": "X"}])[:3]
    assert "marked as transferred" in done and "marked as transferred" in again
    assert isinstance(refused, Locked)
    # One batch of three marks; the changed one read again (a GET) and sent again in a batch of its own.
    assert calls(sandbox) - before == 3
    writes = sandbox.state("ifs")["writes"]
    assert (writes["patch"], writes["refused_locked"], writes["refused_stale"]) == (2, 1, 1)
    rows = {i["InvoiceNo"]: i["TransferStatus"] for i in sandbox.state("ifs")["invoices"]}
    assert [rows[n] for n in numbers] == ["Transferred", "NotTransferred", "Transferred"]
    assert isinstance(connector.acknowledge_invoices([{"Company": "X"}])[0], DataError)


def test_without_batch_requests_each_mark_is_a_patch_of_its_own(connector, sandbox):
    tried = []

    def refused(root, parts, idempotent):
        tried.append(root)
        raise DataError("IFS refused it: $batch is not available (ODP_NOT_IMPLEMENTED)")

    connector.client.send_batch = refused
    invoices = [i.reference for i in connector.approved_invoices() if isinstance(i, Invoice)][:3]
    said = connector.acknowledge_invoices(invoices)
    assert all("marked as transferred" in s for s in said) and len(tried) == 1
    assert sandbox.state("ifs")["writes"]["patch"] == 3


def test_an_acknowledged_invoice_reads_as_changed_since_the_cursor(connector, sandbox):
    first = list(connector.approved_invoices())
    cursor = max(datetime.fromisoformat(i.updated_marker) for i in first)
    sandbox.control("clock", {"advance_seconds": 5})
    connector.acknowledge_invoice(invoice(connector, "INV-1003").reference)
    assert [i.invoice_number for i in connector.approved_invoices(since=cursor + timedelta(seconds=1))] == ["INV-1003"]


# --- payments and open items ----------------------------------------------------------------------------------------
def test_a_payment_reference_is_cut_to_the_field_and_open_items_are_ifs_open_amounts(connector, sandbox):
    first = invoice(connector, "INV-1001")
    payment = Payment(payment_id="PAY-1", bill_ids=("bill-1",), amount=Decimal("100.00"), currency="USD",
                      status="CLEARED", paid=True, process_date=date(2026, 2, 2), reference="R" * 80)
    assert "recorded" in connector.post_payment(first.reference, payment)
    row = sandbox.state("ifs")["payments"][0]
    assert (row["Reference"], row["Amount"], row["PaymentDate"]) == ("R" * p.REFERENCE_LENGTH, 100.0, "2026-02-02")
    items = {i.number: i for i in connector.open_invoices()}
    assert set(items) == {i.number for i in canonical.APPROVED_INVOICES}
    assert items["INV-1001"].amount == first.total, "IFS's open amount: the payment is not settled in IFS"


# --- the deployment answer, limits, and IFS's own errors -------------------------------------------------------------
def test_mi_modified_error_after_a_deployment_is_waited_out(connector, sandbox):
    waits = []
    connector.http.sleep = waits.append
    sandbox.control("ifs/metadata-changed", {"times": 2, "retry_after": 3})
    assert len(list(connector.gl_accounts())) == len(canonical.GL_ACCOUNTS)
    assert waits == [3, 3] and connector.http.retries == 2


def test_mi_modified_error_of_older_releases_is_retried(connector, sandbox):
    """Source: IFS 21R2, Projections and OData Provider (https://docs.ifs.com/techdocs/21r2/050_development/
    050_development_tools/022_user_interface/030_aurena_dev/140_resources/100_odata_provider/
    200_projections_and_odp/): the same code with HTTP 500 and no Retry-After, to be retried at once."""
    connector.http.sleep = lambda seconds: None
    sandbox.control("ifs/metadata-changed", {"times": 1, "status": 500})
    assert len(list(connector.gl_accounts())) == len(canonical.GL_ACCOUNTS)
    assert connector.http.retries == 1


def test_a_long_retry_after_defers_the_run_instead_of_holding_a_worker(connector, sandbox):
    sandbox.control("ifs/metadata-changed", {"times": 1, "retry_after": 600})
    with pytest.raises(Deferred) as excinfo:
        list(connector.approved_invoices())
    assert excinfo.value.until > timezone.now() + timedelta(minutes=9)


def test_the_tenant_answers_429_past_its_limit_and_the_client_waits_for_the_next_minute(connector, sandbox):
    """13 calls against a limit of 10 a minute, started 10 s before the minute turns: the 11th is answered 429
    with Retry-After (the seconds left in the minute), which the client waits out (here: the clock moves)."""
    sandbox.control("ifs/account", {"rate_limit": 10})
    sandbox.control("clock", {"advance_seconds": (50 - sandbox.clock.time() % 60) % 60})
    waits = []

    def wait(seconds):
        waits.append(seconds)
        sandbox.control("clock", {"advance_seconds": seconds})

    connector.http.sleep = wait
    for _ in range(13):
        connector.check()
    now = sandbox.state("ifs")
    assert now["rejected_rate_limited"] == 1 and now["max_calls_in_a_minute"] == 11
    assert len(waits) == 1 and 1 <= waits[0] <= 10


def test_a_read_that_keeps_failing_is_a_passing_failure_the_engine_defers(connector, sandbox):
    """The engine turns it into a deferred run (tests/syncs/test_engine_steps.py)."""
    sandbox.control("faults", {"system": "ifs", "error_rate": 1})
    with pytest.raises(TransientError) as excinfo:
        list(connector.suppliers())
    assert "500" in str(excinfo.value)


def test_ifs_error_codes_become_record_errors_in_words(connector):
    spec = connector.sets["invoices"]
    keys = {"Company": ifs_sandbox.COMPANY, "InvoiceId": 1001}
    _, etag = connector.client.entity(spec, keys)
    with pytest.raises(DataError) as excinfo:
        connector.client.patch(spec, keys, etag, {"TransferStatus": 1})
    message = str(excinfo.value)
    assert "IFS could not read what was sent" in message and "ODP_DESERIALIZATION_ERROR" in message
    assert "TransferStatus" in message and "{" not in message


def test_no_write_is_sent_without_if_match(connector, sandbox):
    spec = connector.sets["invoices"]
    with pytest.raises(DataError, match="never sent without If-Match"):
        connector.client.patch(spec, {"Company": ifs_sandbox.COMPANY, "InvoiceId": 1001}, None,
                               {"TransferStatus": p.TRANSFERRED})
    assert sandbox.state("ifs")["writes"]["refused_no_if_match"] == 0


# --- tokens ----------------------------------------------------------------------------------------------------------
def test_tokens_are_renewed_a_minute_before_ifs_stops_taking_them(ifs_connection, sandbox):
    ifs_connection.connector().check()
    stored = ConnectionToken.objects.get(connection=ifs_connection)
    assert abs((stored.expires_at - timezone.now()).total_seconds() - ifs_sandbox.TOKEN_LIFETIME) < 5
    later = TokenStore(ifs_connection, now=lambda: timezone.now() + timedelta(seconds=125))
    assert later.current(RENEW_BEFORE) is None, "at 125 s of 180 the token is renewed"
    sooner = TokenStore(ifs_connection, now=lambda: timezone.now() + timedelta(seconds=110))
    assert sooner.current(RENEW_BEFORE) is not None


def test_an_unknown_realm_is_a_configuration_error(tenant, sandbox):
    connector = make_ifs_connection(tenant, sandbox.url, realm="no-such-realm").connector()
    with pytest.raises(ConfigurationError, match="no realm 'no-such-realm'"):
        connector.check()


# --- names that change between releases -------------------------------------------------------------------------------
RENAMED = {"invoices": "ManSuppInvoiceHandling/ManSuppInvoiceSet",
           "invoice_lines": "ManSuppInvoiceHandling/ManSuppInvoicePostingSet"}


def test_a_release_with_other_projection_names_is_reached_through_the_option(tenant, sandbox):
    sandbox.control("ifs/seed-canonical")
    sandbox.control("ifs/account", {"names": RENAMED})
    default = make_ifs_connection(tenant, sandbox.url, name="IFS default").connector()
    with pytest.raises(ConfigurationError, match="Projections option"):
        list(default.approved_invoices())
    option = ", ".join(f"{k}={v}" for k, v in RENAMED.items())
    renamed = make_ifs_connection(tenant, sandbox.url, name="IFS renamed", options={"projections": option})
    read = [i for i in renamed.connector().approved_invoices() if isinstance(i, Invoice)]
    assert {i.invoice_number for i in read} == {i.number for i in canonical.APPROVED_INVOICES}


def test_code_parts_map_to_dimension_kinds_as_the_connection_says(tenant, sandbox):
    sandbox.control("ifs/seed", {"code_part_values": [
        {"CodePart": "B", "CodePartValue": "100", "Description": "Operations"},
        {"CodePart": "C", "CodePartValue": "P-7", "Description": "Plant upgrade"},
        {"CodePart": "D", "CodePartValue": "HOU", "Description": "Houston", "ValidUntil": "2001-01-01"}]})
    connection = make_ifs_connection(tenant, sandbox.url, options={"code_parts": "B=department, D=location"})
    assert sorted((d.kind, d.code, d.active) for d in connection.connector().dimensions()) == \
        [("department", "100", True), ("location", "HOU", False)]


def test_unusable_options_are_a_configuration_error(tenant, sandbox):
    connection = make_ifs_connection(tenant, sandbox.url, options={"projections": "invoices=NoSlash"})
    with pytest.raises(ConfigurationError, match="options are not usable"):
        connection.connector()


# --- paging ----------------------------------------------------------------------------------------------------------
def test_rows_removed_ahead_of_the_window_while_paging_are_still_read(connector, sandbox):
    """IFS warns that $top/$skip paging can miss rows when data changes between pages: each window starts a
    row before the last one ended, so a row removed ahead of it shifts nothing out of reach."""
    sandbox.control("ifs/seed", {"suppliers": [{"SupplierId": f"S{n:03d}", "Name": f"Supplier {n}"}
                                               for n in range(25)]})
    rows = sandbox.simulators["ifs"].rows["suppliers"]
    get = connector.client.get
    pages = []

    def get_then_remove(path, params):
        body = get(path, params)
        pages.append(params)
        if len(pages) == 1:
            del rows[("S002",)]
        return body

    connector.client.get = get_then_remove
    read = [r["SupplierId"] for r in connector.client.collection(connector.sets["suppliers"], page_size=10)]
    assert len(read) == len(set(read)) == 25 + len(canonical.SUPPLIERS)


def test_server_driven_paging_is_followed(connector, sandbox):
    sandbox.control("ifs/account", {"max_page": 4})
    read = [r["SupplierId"] for r in connector.client.collection(connector.sets["suppliers"], page_size=5)]
    assert read == sorted(s.source_id for s in canonical.SUPPLIERS)


def test_a_supplier_deleted_while_the_suppliers_are_read_is_that_supplier_s_failure_only(connector, sandbox):
    """Its part of the $batch answers 404, and the read of it on its own says so in words."""
    simulator = sandbox.simulators["ifs"]
    batch = connector.client.batch

    def deleted_meanwhile(root, reads):
        simulator.rows["suppliers"].pop(("V1003",), None)
        return batch(root, reads)

    connector.client.batch = deleted_meanwhile
    read = {s.source_id: s for s in connector.suppliers()}
    assert isinstance(read["V1003"], Unreadable) and "no such record" in read["V1003"].reason
    assert all(isinstance(s, Supplier) for sid, s in read.items() if sid != "V1003")
