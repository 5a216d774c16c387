"""The remote answers that are not JSON, held to the same rule as tests/property/test_remote_data.py (issue
"Production that survives", §4): AvidXchange's payment files (CSV in the transfer folder) and SYSPRO e.net's COMFND
query answers (XML). Any file or any answer fails only the payment or row it belongs to, in words; a file or an answer
that cannot be read at all is refused whole, in words; never another error."""

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.avidxchange import files
from connectors.avidxchange.system import MODE_FILES
from connectors.errors import ConnectorError
from connectors.records import Payment, Unreadable
from connectors.syspro import tables
from connectors.syspro.client import BadValue, comfnd_rows, typed
from tests.connectors.avidxchange.conftest import make_avidxchange_connection
from tests.property.test_remote_data import in_words

PAYMENT_ROW = {"PaymentID": "PAY-1", "Status": "Cleared", "StatusTime": "2026-12-01T10:00:00+00:00", "Method": "Check",
               "CheckNumber": "10001", "ACHTraceNumber": "", "CardConfirmationNumber": "",
               "SettlementDate": "2026-12-01", "PaymentAmount": "100.00", "Currency": "USD", "VendorID": "V1",
               "InvoiceNumber": "INV-1", "AmountPaid": "100.00"}
TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["", "-", "1e9", "NaN", "12,50", "2026-02-30", "Cleared",
                                                         "Voided", "ACH", "2026-12-01T10:00:00", "x" * 200]))
ROWS = st.lists(st.dictionaries(st.sampled_from(files.LAYOUTS["payments"]), TEXT, max_size=4)
                .map(lambda changes: {**PAYMENT_ROW, **changes}), min_size=1, max_size=5)


def payment_file(rows, header):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in files.LAYOUTS["payments"]])
    return out.getvalue()


def test_a_payment_file_of_any_content_fails_only_what_it_cannot_read(tenant, sandbox, tmp_path):
    folder = tmp_path / "avidxchange"
    folder.mkdir()
    sandbox.control("avidxchange/files", {"folder": str(folder)})
    connection = make_avidxchange_connection(tenant, sandbox.url, mode=MODE_FILES, folder=folder)
    with connection.connector() as connector:
        inbound = connector.exchange.inbound
        inbound.mkdir(parents=True, exist_ok=True)

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(ROWS, st.one_of(st.just(files.LAYOUTS["payments"]), st.lists(st.text(max_size=8), max_size=4)),
               st.binary(max_size=60))
        def property(rows, header, junk):
            for old in inbound.glob("payments_*.csv"):
                old.unlink()
            (inbound / "payments_1.csv").write_text(payment_file(rows, header), encoding="utf-8")
            (inbound / "payments_2.csv").write_bytes(junk)
            items = list(connector.payments())
            assert items, "a file was passed over in silence"
            for item in items:
                assert isinstance(item, Payment | Unreadable), item
                if isinstance(item, Unreadable):
                    assert in_words(item.reason), item.reason

        property()


XML = st.one_of(
    st.text(max_size=80),
    st.lists(st.dictionaries(st.sampled_from(tables.SUPPLIERS.names), TEXT, max_size=6), max_size=4).map(
        lambda rows: "<Query>" + "".join(
            "<Row>" + "".join(f"<{k}>{v.replace('&', '&amp;').replace('<', '&lt;')}</{k}>" for k, v in row.items())
            + "</Row>" for row in rows) + "</Query>"))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(XML)
def test_a_comfnd_answer_of_any_shape_is_rows_of_text_or_refused_in_words(text):
    try:
        rows = comfnd_rows(text, tables.SUPPLIERS)
    except ConnectorError as exc:
        assert in_words(str(exc))
        return
    for row in rows:
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in row.items())
        try:
            typed(tables.SUPPLIERS, row)
        except BadValue as exc:
            assert in_words(str(exc))
