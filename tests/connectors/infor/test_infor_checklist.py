"""The Infor simulator (and connector) against what is documented, one test per behaviour, each naming
its source. M3H5 = GaryWayneSmith/M3H5, M3H5Lib.Api (generated from M3 metadata): <PROGRAM>Resource.cs
for a transaction's inputs and which are "(Required)", <PROGRAM>/<Transaction>Response.cs for its
output fields with type and length. REF = Infor's M3 MI REST documentation and its Odin client
(infor-cloud/m3-odin). Where the sources are silent
the test says UNCONFIRMED and names the docs/ASSUMPTIONS.md entry where the choice is recorded.

The field lists asserted here are written out again on purpose: they are the documented facts, so an
edit of connectors/infor/m3.py that drifts from them fails here."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
import requests

from connectors import canonical
from connectors.infor import m3
from connectors.infor.connector import postal_address
from connectors.records import Address, Payment
from sandbox.infor import simulator as infor_sandbox


@pytest.fixture
def token(sandbox):
    sandbox.control("infor/seed-canonical")
    response = requests.post(f"{sandbox.url}/infor/{infor_sandbox.TENANT}/as/token.oauth2", timeout=10, data={
        "grant_type": "password", "username": infor_sandbox.SERVICE_ACCESS_KEY,
        "password": infor_sandbox.SERVICE_SECRET_KEY, "client_id": infor_sandbox.CLIENT_ID,
        "client_secret": infor_sandbox.CLIENT_SECRET})
    return response.json()["access_token"]


@pytest.fixture
def mi(sandbox, token):
    """GET one MI transaction on the simulator as a client would: (status, JSON body)."""

    def call(transaction, inputs=None, matrix=f";cono={infor_sandbox.COMPANY}"):
        program, name = transaction
        response = requests.get(f"{sandbox.url}/infor/{infor_sandbox.TENANT}/M3/m3api-rest/v2/execute/"
                                f"{program}/{name}{matrix}", params=inputs or {}, timeout=10,
                                headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.json()

    return call


def records(answer):
    status, body = answer
    assert status == 200, body
    return body["results"][0]["records"]


def layout(record):
    return list(record)


# --- CRS620MI: suppliers -------------------------------------------------------------------------------------
def test_lstsuppliers_returns_its_documented_fields_and_no_status_address_email_or_stamp(mi):
    """Source: M3H5 CRS620MI/LstSuppliersResponse.cs (71 fields, CONO first, SCIS last)."""
    rows = records(mi(m3.SUPPLIERS))
    assert len(rows) == len(canonical.SUPPLIERS)
    assert layout(rows[0]) == list(m3.SUPPLIERS.output_names) and len(rows[0]) == 71
    assert layout(rows[0])[:7] == ["CONO", "SUNO", "SUNM", "LNCD", "PHNO", "CSCD", "ECAR"]
    assert {"TINO", "CUCD", "PRSU", "TEPY", "PYME"} <= set(rows[0]) and layout(rows[0])[-1] == "SCIS"
    assert not {"STAT", "ADR1", "TOWN", "PONO", "EMAL", "LMTS", "LMDT"} & set(rows[0])


def test_lstsuppliers_takes_cono_frsu_tosu_and_lmts_none_required(mi):
    """Source: M3H5 CRS620MIResource.cs, LstSuppliers(m3CONO, m3FRSU, m3TOSU, m3LMTS "Last import's
    timestamp"), none marked Required. What LMTS selects is UNCONFIRMED (docs/ASSUMPTIONS.md I5)."""
    assert [f.name for f in m3.SUPPLIERS.inputs] == ["CONO", "FRSU", "TOSU", "LMTS"] and not m3.SUPPLIERS.required
    rows = records(mi(m3.SUPPLIERS, {"CONO": infor_sandbox.COMPANY, "FRSU": "V1002", "TOSU": "V1004"}))
    assert [r["SUNO"].strip() for r in rows] == ["V1002", "V1003", "V1004"]
    assert records(mi(m3.SUPPLIERS, {"LMTS": "99991231235959999"})) == []


def test_getbasicdata_returns_the_status_and_requires_suno(mi):
    """Source: M3H5 CRS620MIResource.cs GetBasicData(m3SUNO Required, m3CONO);
    CRS620MI/GetBasicDataResponse.cs: STAT "Status" A2, no address lines, e-mail or LMTS."""
    [row] = records(mi(m3.SUPPLIER, {"SUNO": canonical.INACTIVE_SUPPLIER}))
    assert layout(row) == list(m3.SUPPLIER.output_names) and len(row) == 95
    assert m3.SUPPLIER.output("STAT") == m3.Field("STAT", "A", 2) and row["STAT"] == m3.BLOCKED_SUPPLIER_STATUS
    assert not {"ADR1", "TOWN", "PONO", "EMAL", "LMTS"} & set(row)
    assert m3.SUPPLIER.required == {"SUNO"}


def test_lstbynumber_lists_statuses_in_number_order_from_suno(mi):
    """Source: M3H5 CRS620MIResource.cs LstByNumber(m3SUNO Required, m3CONO), "List Supplier in supplier
    number order"; CRS620MI/LstByNumberResponse.cs (33 fields with STAT; no TINO, CUCD or LMTS)."""
    rows = records(mi(m3.SUPPLIERS_BY_NUMBER, {"SUNO": "V1004"}))
    assert [r["SUNO"].strip() for r in rows] == ["V1004", "V1005", "V1006"]
    assert layout(rows[0]) == list(m3.SUPPLIERS_BY_NUMBER.output_names) and len(rows[0]) == 33
    assert "STAT" in rows[0] and not {"TINO", "CUCD", "LMTS"} & set(rows[0])


def test_lstaddresses_returns_the_address_fields_and_requires_suno(mi):
    """Source: M3H5 CRS620MIResource.cs LstAddresses(m3SUNO Required) "List addresses linked to
    supplier"; CRS620MI/LstAddressesResponse.cs: ADTE N2, ADID A6, STDT D10, ADR1-ADR4 A36, TOWN A20,
    ECAR A2, PONO A10, CSCD A3 (24 fields, no LMTS)."""
    [row] = records(mi(m3.SUPPLIER_ADDRESSES, {"SUNO": "V1001"}))
    assert layout(row) == list(m3.SUPPLIER_ADDRESSES.output_names) and len(row) == 24
    assert [(f.name, f.type, f.length) for f in m3.SUPPLIER_ADDRESSES.outputs
            if f.name in ("ADTE", "ADR1", "ADR4", "TOWN", "PONO")] == \
        [("ADTE", "N", 2), ("ADR1", "A", 36), ("ADR4", "A", 36), ("TOWN", "A", 20), ("PONO", "A", 10)]
    assert (row["ADR1"].strip(), row["TOWN"].strip(), row["PONO"].strip()) == ("100 Congress Ave", "Austin", "78701")
    assert "LMTS" not in row


def test_the_postal_address_is_address_type_01():
    """Source: Infor, 'Configuration guidelines for Supplier. Connect Address (CRS622/E)': "the supplier
    address with the address type 01-Postal address", https://docs.infor.com/m3core/latest/en-us/
    locallib_cloud/m3cvitcg/tqo1539010235169.html. Of several of that type, the latest start date
    (then the lowest address number) is our choice."""
    addresses = [{"ADTE": "2", "ADID": "", "STDT": "20200101", "ADR1": "Dock 4", "TOWN": "Elsewhere"},
                 {"ADTE": "1", "ADID": "", "STDT": "20200101", "ADR1": "Old St 1", "TOWN": "Austin"},
                 {"ADTE": "01", "ADID": "", "STDT": "20240101", "ADR1": "New St 2", "TOWN": "Austin"},
                 {"ADTE": "1", "ADID": "", "STDT": "29990101", "ADR1": "Future St", "TOWN": "Austin"}]
    assert postal_address(addresses, {}, today=date(2026, 1, 1)).line1 == "New St 2"
    assert postal_address([addresses[0]], {"ECAR": "TX", "CSCD": "US"}) == Address(region="TX", country="US")


def test_street_lines_are_adr1_and_adr2_and_town_postal_code_country_have_their_own_fields():
    """Source: Infor, 'M3 Address Structure': line 1 street and building number, line 2 its continuation,
    lines 3-4 postal code, town and country, which "must be defined in their dedicated M3 fields
    regardless of how the address lines are used", https://docs.infor.com/m3core/latest/en-us/
    locallib_cloud/m3cvskcg/lev1541509929055.html."""
    address = postal_address([{"ADTE": "1", "STDT": "20000101", "ADR1": "100 Main St", "ADR2": "Suite 5",
                               "ADR3": "78701 Austin", "ADR4": "US", "TOWN": "Austin", "ECAR": "TX",
                               "PONO": "78701", "CSCD": "US"}], {})
    assert address == Address("100 Main St", "Suite 5", "Austin", "TX", "78701", "US")


# --- CRS111MI: e-mail addresses -------------------------------------------------------------------------------
def test_crs111mi_list_returns_e_mail_type_key_and_address_and_requires_the_type(mi):
    """Source: M3H5 CRS111MIResource.cs List(m3EMTP Required, m3EMKY), "List available adresses";
    CRS111MI/ListResponse.cs: EMTP A2, EMKY A10, EMAL A60. UNCONFIRMED: suppliers' addresses are kept
    under e-mail type 04 keyed by supplier number (docs/ASSUMPTIONS.md I8)."""
    rows = records(mi(m3.EMAILS, {"EMTP": m3.SUPPLIER_EMAIL_TYPE}, f";cono={infor_sandbox.COMPANY};maxrecs=0"))
    assert [f"{f.name} {f.type}{f.length}" for f in m3.EMAILS.outputs] == ["EMTP A2", "EMKY A10", "EMAL A60"]
    assert {r["EMKY"].strip(): r["EMAL"].strip() for r in rows} == \
        {s.source_id: s.email for s in canonical.SUPPLIERS if s.email}
    assert all(len(r["EMAL"]) == 60 for r in rows)


# --- CRS630MI: GL accounts -------------------------------------------------------------------------------------
def test_lstaccountid_requires_the_accounting_dimension_and_returns_lccd_and_lmts(mi):
    """Source: M3H5 CRS630MIResource.cs LstAccountID(m3AITP Required, m3DIVI, m3AITM, m3LNCD);
    CRS630MI/LstAccountIDResponse.cs: AITM A10, TX40 A40, LCCD "Blocked accounting identity" N1, LMTS N18."""
    rows = records(mi(m3.GL_ACCOUNTS, {"AITP": m3.ACCOUNT_DIMENSION}, f";cono={infor_sandbox.COMPANY};maxrecs=0"))
    assert sorted(r["AITM"].strip() for r in rows) == sorted(a.code for a in canonical.GL_ACCOUNTS)
    assert layout(rows[0]) == list(m3.GL_ACCOUNTS.output_names) and len(rows[0]) == 79
    assert (m3.GL_ACCOUNTS.output("AITM").length, m3.GL_ACCOUNTS.output("LCCD").type) == (10, "N")
    assert "CONO" not in m3.GL_ACCOUNTS.input_names


# --- the MI protocol ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transaction,field", [(t, f) for t in m3.TRANSACTIONS for f in sorted(t.required)],
                         ids=lambda v: str(v))
def test_a_missing_required_input_is_refused_with_an_mi_error(mi, transaction, field):
    """Source: M3H5 <PROGRAM>Resource.cs, the parameters marked "(Required)"; REF 1.4: v2 answers an
    error with HTTP 400 and errorMessage, errorCode, errorField (Odin parseResponseV2/parseMessageV2).
    UNCONFIRMED: M3's wording; the custom and extension transactions' required fields are ours (I2, I4)."""
    inputs = {"SUNO": "V1001", "EMTP": m3.SUPPLIER_EMAIL_TYPE, "AITP": "1", "DIVI": "AAA", "YEA4": "2026",
              "JRNO": "7000", "JSNO": "1", "PYID": "PAY-1", "PYAM": "1.00", "PYDT": "20260101",
              "PYST": m3.PAYMENT_PAID}
    inputs = {k: v for k, v in inputs.items() if k in transaction.input_names and k != field}
    status, body = mi(transaction, inputs, f";cono={infor_sandbox.COMPANY}")
    assert status == 400
    assert body["errorField"] == field and "must be entered" in body["errorMessage"]
    assert body["errorCode"] and body["errorType"] == "ServerReturnedNOK"


def test_values_come_back_as_text_right_padded_to_the_field_length(mi):
    """Source: REF 1.4, "All values are strings, right-padded with blanks" (Odin trimEnd()s each value,
    M3H5Lib trims results). UNCONFIRMED: numeric and date fields padded the same way (I10)."""
    [row] = records(mi(m3.SUPPLIER, {"SUNO": "V1002"}))
    assert row["SUNO"] == "V1002".ljust(10) and row["SUNM"] == "Summit Freight LLC".ljust(36)
    assert row["TINO"] == "36-7654321".ljust(15) and row["STAT"] == "20"
    assert all(isinstance(v, str) and len(v) == m3.SUPPLIER.output(k).length for k, v in row.items())


def test_the_v2_answer_is_results_records_with_the_vendors_spelling(mi):
    """Source: REF 1.4 (Odin parseResponseV2): {"results": [{"transaction", "records"}], "wasTerminated",
    "nrOfSuccessfullTransactions" (sic), "nrOfFailedTransactions"}."""
    status, body = mi(m3.SUPPLIERS)
    assert status == 200 and body["results"][0]["transaction"] == "LstSuppliers"
    assert (body["wasTerminated"], body["nrOfSuccessfullTransactions"], body["nrOfFailedTransactions"]) == \
        (False, 1, 0)


def test_maxrecs_caps_the_records_and_zero_means_all(mi):
    """Source: REF 1.4, Odin m3-odin types.ts IMIOptions.maxReturnedRecords: "0 means that all rows should
    be returned"; Odin's default is 100."""
    company = f";cono={infor_sandbox.COMPANY}"
    assert len(records(mi(m3.SUPPLIERS, {}, f"{company};maxrecs=2"))) == 2
    assert len(records(mi(m3.SUPPLIERS, {}, f"{company};maxrecs=0"))) == len(canonical.SUPPLIERS)


def test_returncols_returns_only_the_fields_named(mi):
    """Source: REF 1.4, Odin createUrl (";returncols=SUNO,SUNM") and M3H5Lib M3Request.cs (a "matrix parameter").
    Refusing a field the transaction does not return is the simulator's strictness (I10)."""
    company = f";cono={infor_sandbox.COMPANY}"
    rows = records(mi(m3.SUPPLIERS, {}, f"{company};returncols=SUNO,TINO"))
    assert len(rows) == len(canonical.SUPPLIERS) and all(layout(r) == ["SUNO", "TINO"] for r in rows)
    status, body = mi(m3.SUPPLIERS, {}, f"{company};returncols=SUNO,STAT")
    assert status == 400 and body["errorField"] == "STAT"


def test_the_custom_lists_take_a_from_and_a_to_key_each_included(mi):
    """UNCONFIRMED (I2, I15, I17): F_KEY/T_KEY, the from/to pair of a CMS100MI custom list's filter field."""
    keys = [m3.invoice_key(infor_sandbox.CANONICAL_DIVISION, 2026, infor_sandbox.CANONICAL_JOURNAL, n) for n in (2, 4)]
    matrix = f";cono={infor_sandbox.COMPANY};divi=AAA;maxrecs=0"
    for transaction in (m3.APPROVED_INVOICES, m3.OPEN_INVOICES):
        rows = records(mi(transaction, {"F_KEY": keys[0], "T_KEY": keys[1]}, matrix))
        listed = sorted({r["KEY"].strip() for r in rows})
        assert listed[0] == keys[0] and listed[-1] == keys[1] and len(listed) == 3, transaction


def test_a_company_the_user_may_not_use_is_refused_naming_cono(mi):
    """Source: REF 1.4 and M3H5Lib M3Response.cs: {"@code": "XAU0008", "@field": "CONO", "Message": "Not
    authorized for company 0 ..."}. Our simulator refuses a call with no company at all the same way."""
    status, body = mi(m3.SUPPLIERS, {}, ";cono=999")
    assert status == 400 and (body["errorCode"], body["errorField"]) == ("XAU0008", "CONO")
    assert "Not authorized for company 999" in body["errorMessage"]
    status, body = mi(m3.SUPPLIERS, {"CONO": "999"}, "")
    assert status == 400 and body["errorCode"] == "XAU0008"
    status, body = mi(m3.SUPPLIERS, {}, "")
    assert status == 400 and body["errorField"] == "CONO"


def test_the_connector_sends_the_company_as_input_where_the_transaction_has_cono(infor_connection, sandbox):
    """Source: M3H5 CRS620MIResource.cs: LstSuppliers, GetBasicData and LstByNumber take m3CONO;
    LstAddresses, CRS111MI/List and CRS630MI/LstAccountID do not (they run in the session company,
    the cono matrix parameter of Odin's createUrl, REF 1.4)."""
    sandbox.control("infor/seed-canonical")
    connector = infor_connection.connector()
    sent = []
    json = connector.client.http.json

    def spy(method, path, **kwargs):
        sent.append((path.split("/execute/")[1].split(";")[0], dict(kwargs.get("params") or {}), path))
        return json(method, path, **kwargs)

    connector.client.http.json = spy
    list(connector.suppliers())
    connector.gl_accounts()
    for transaction, params, path in sent:
        assert f";cono={infor_sandbox.COMPANY}" in path
        documented = next(t for t in m3.TRANSACTIONS if str(t) == transaction)
        assert set(params) <= documented.input_names, transaction
        assert ("CONO" in params) == ("CONO" in documented.input_names), transaction
        if "CONO" in params:
            assert params["CONO"] == infor_sandbox.COMPANY


def test_an_input_a_transaction_does_not_have_is_refused(mi):
    """Simulator strictness, not a documented M3 behaviour (I10): it keeps the connector to the inputs
    M3H5 documents for each transaction."""
    status, body = mi(m3.SUPPLIER_ADDRESSES, {"SUNO": "V1001", "ADTE": "1"})
    assert status == 400 and body["errorField"] == "ADTE"


def test_a_program_or_transaction_m3_does_not_have_is_404(mi, infor_connection):
    """Source: REF 1.4 (URL shape /m3api-rest/v2/execute/{PROGRAM}/{TRANSACTION}); CRS622MI is not in
    M3H5Lib's program list. The connector reports a 404 as a configuration problem."""
    from connectors.errors import ConfigurationError

    status, _ = mi(m3.transaction("CRS622MI", "LstAddress", "", "", "", ""))
    assert status == 404
    with pytest.raises(ConfigurationError):
        infor_connection.connector().client.execute(m3.transaction("CRS622MI", "LstAddress", "", "", "", ""))


# --- UNCONFIRMED choices, each decided once in connectors/infor/m3.py ------------------------------------------
def test_status_20_is_active_and_any_other_is_not(infor_connection, sandbox):
    """UNCONFIRMED (I9): M3H5 documents STAT "Status" A2 but not its values; 20 active, 90 blocked."""
    sandbox.control("infor/seed-canonical")
    sandbox.control("infor/update-supplier", {"SUNO": "V1002", "STAT": "10"})
    read = {s.source_id: s.active for s in infor_connection.connector().suppliers()}
    assert read == {s.source_id: s.active and s.source_id != "V1002" for s in canonical.SUPPLIERS}
    assert m3.ACTIVE_SUPPLIER_STATUSES == {"20"} and m3.BLOCKED_SUPPLIER_STATUS == "90"


def test_the_custom_invoice_list_returns_exactly_its_layout(mi):
    """UNCONFIRMED (I1, I2): the CMS100MI custom list, its fields and KEY decided in m3.py."""
    rows = records(mi(m3.APPROVED_INVOICES, {}, f";cono={infor_sandbox.COMPANY};divi=AAA;maxrecs=0"))
    assert layout(rows[0]) == list(m3.APPROVED_INVOICES.output_names)
    assert not {"APRV", "SPYN", "PYST", "PAAM"} & set(rows[0]), "the ledger's other fields are not in the list"
    first = canonical.INVOICES[0]
    assert rows[0]["KEY"].strip() == m3.invoice_key(infor_sandbox.CANONICAL_DIVISION, 2026,
                                                    infor_sandbox.CANONICAL_JOURNAL, 1)
    assert rows[0][m3.ACCOUNT_FIELD].strip() == first.lines[0].gl_account
    assert rows[0][m3.DEPARTMENT_FIELD].strip() == first.lines[0].dimensions["department"]


def test_the_dimensions_are_decided_once_for_connector_and_simulator(infor_connection, sandbox, monkeypatch):
    """UNCONFIRMED (I7): which accounting dimension is the department. Changing it in m3.py moves both
    the simulator's data and the connector's reading."""
    monkeypatch.setattr(m3, "DEPARTMENT_DIMENSION", "3")
    monkeypatch.setattr(m3, "DEPARTMENT_FIELD", m3.dimension_field("3"))
    sandbox.control("infor/seed-canonical")
    connector = infor_connection.connector()
    read = {i.invoice_number: i for i in connector.approved_invoices()}
    assert read["INV-1001"].lines == canonical.INVOICES[0].lines
    assert sorted(d.code for d in connector.dimensions()) == sorted(d.code for d in canonical.DEPARTMENTS)
    raw = [line for inv in sandbox.simulators["infor"].invoices.values() for line in inv["lines"]]
    assert all(line["AIT3"] and "AIT2" not in line for line in raw)


def test_the_payment_extension_layout_values_and_messages(mi):
    """UNCONFIRMED (I3, I4): EXT200MI's fields, PYST values and messages, decided in m3.py."""
    add = {"DIVI": "AAA", "YEA4": "2026", "JRNO": str(infor_sandbox.CANONICAL_JOURNAL), "JSNO": "1",
           "PYID": "PAY-1", "PYAM": "100.00", "PYDT": "20260201", "PYST": m3.PAYMENT_PAID, "REFE": "1234"}
    assert records(mi(m3.ADD_PAYMENT, add)) == []
    status, body = mi(m3.ADD_PAYMENT, add)
    assert status == 400 and m3.ALREADY_EXISTS in body["errorMessage"]
    invoice = {k: add[k] for k in m3.INVOICE_KEY_FIELDS}
    [row] = records(mi(m3.GET_PAYMENT, {**invoice, "PYID": "PAY-1"}))
    assert layout(row) == list(m3.GET_PAYMENT.output_names)
    assert (row["PYAM"].strip(), row["PYST"].strip(), row["REFE"].strip()) == ("100.00", "PAID", "1234")
    status, body = mi(m3.GET_PAYMENT, {**invoice, "PYID": "PAY-2"})
    assert status == 400 and m3.DOES_NOT_EXIST in body["errorMessage"]
    # One payment paying several invoices is one row per invoice: the same PYID on another invoice is new.
    other = {**add, "JSNO": "2", "PYAM": "30.25"}
    assert records(mi(m3.ADD_PAYMENT, other)) == []
    [share] = records(mi(m3.GET_PAYMENT, {**invoice, "JSNO": "2", "PYID": "PAY-1"}))
    assert share["PYAM"].strip() == "30.25"
    status, body = mi(m3.UPDATE_PAYMENT, {**add, "PYST": "CLEARED"})
    assert status == 400 and body["errorField"] == "PYST"
    status, body = mi(m3.ADD_PAYMENT, {**add, "PYID": "PAY-3", "REFE": "x" * 31})
    assert status == 400 and body["errorField"] == "REFE"


def test_post_payment_makes_the_reference_text_and_cuts_it_to_the_field(infor_connection, sandbox):
    """UNCONFIRMED (I4): REFE is A30. Whatever the AP platform gives as reference (BILL's check number
    is a number) is made text before it is cut."""
    sandbox.control("infor/seed-canonical")
    connector = infor_connection.connector()
    invoice = next(i for i in connector.approved_invoices() if i.invoice_number == "INV-1001")
    payment = Payment(payment_id="stp-1", bill_ids=("b",), amount=invoice.total, currency="USD", status="CLEARED",
                      paid=True, process_date=date(2026, 2, 2), reference=1234567)
    connector.post_payment(invoice.reference, payment)
    connector.post_payment(invoice.reference, replace(payment, payment_id="stp-2", reference="R" * 40))
    connector.post_payment(invoice.reference, replace(payment, payment_id="stp-3", reference=None))
    stored = {p["PYID"]: p for p in sandbox.simulators["infor"].payments.values()}
    assert (stored["stp-1"]["REFE"], stored["stp-2"]["REFE"], stored["stp-3"]["REFE"]) == ("1234567", "R" * 30, "")
    assert Decimal(stored["stp-1"]["PYAM"]) == invoice.total
