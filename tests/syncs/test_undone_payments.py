"""A payment voided, returned, escheated or reversed after it was written back is not paid: its ledger row is
"undone", and the dashboard (today and this week, the 30-day chart), /metrics and the tie-out count only what
stands as paid and show what was undone apart, the same way. Tried on every pair that can undo a payment, with the
simulators' own controls."""

import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_q.conf import Conf

from connectors import canonical
from connectors.base import ApConnector, ErpConnector
from connectors.models import Connection
from portal.models import Tenant
from syncs import status, tieout
from syncs.engine import run_integration
from syncs.models import Integration, MappingRule, RecordStatus, SyncRecord
from syncs.templatetags.status import day, figure
from tests.connectors.contracts.base import make_connection
from tests.syncs.test_status_pages import world

D = Decimal


def metric(text, name, **labels):
    """The value of one sample of /metrics, or None."""
    said = ",".join(f'{key}="{value}"' for key, value in labels.items())
    found = re.search(rf"^{name}{{{re.escape(said)}}} (\S+)$", text, re.MULTILINE)
    return D(found.group(1)) if found else None


def metrics(client):
    client.force_login(get_user_model().objects.create_superuser("metrics-reader", password="pw-0123456789"))
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def moved_row(integration, label):
    return next(m for m in status.moved([integration])[integration.pk] if m.label == label)


def assert_everything_agrees(client, integration, paid, undone):
    """`paid` and `undone`: the Figure each surface must show."""
    assert status.payment_totals([integration]) == {status.PAID: paid, status.UNDONE: undone}
    # Everything here changed today: the dashboard's today and week figures are the whole ledger.
    for when in ("today", "week"):
        assert getattr(moved_row(integration, "Payments back"), when) == paid, when
        assert getattr(moved_row(integration, "Undone"), when) == undone, when
    days = status.daily([integration])[integration.pk]
    assert sum(d.undone for d in days) == undone.count
    assert tieout.report(integration).payments == {status.PAID: paid, status.UNDONE: undone}
    text = metrics(client)
    for state, expected in ((status.PAID, paid), (status.UNDONE, undone)):
        assert metric(text, "mlc_payments_back", state=state) == expected.count, state
        for currency, amount in expected.amounts.items():
            assert metric(text, "mlc_payments_back_amount", state=state, currency=currency) == amount
    assert metric(text, "mlc_sync_records", object_type="payment", status="undone") == (undone.count or None)


# --- the finance surfaces, on a ledger written by hand ----------------------------------------------------------
@pytest.fixture
def w(db):
    w = world()
    bill = w.bills[1]
    w.undone = SyncRecord.objects.create(
        integration=w.mine, object_type="payment", source_id=f"PAY-2:{bill.target_id}", source_ref="PAY-2",
        number=bill.number, target_id="PAY-2", status=RecordStatus.UNDONE, amount=D("3466.86"), currency="USD",
        data={"posted": "VOIDED", "status": "RETURNED", "amount": "3466.86", "date": "2026-03-18"})
    return w


def test_the_dashboard_counts_what_stands_and_shows_what_was_undone_with_a_link(client, w):
    client.force_login(w.finance)
    html = client.get(reverse("status:home")).content.decode()
    card = html[html.index(f'id="integration-{w.mine.pk}"'):]
    payments = card[card.index("<td>Payments back"):card.index("</tr>", card.index("<td>Payments back"))]
    assert "1 · 101.50 USD" in payments and "3,466.86" not in payments, "the returned payment is not paid"
    undone = card[card.index('<tr class="undone">'):card.index("</tr>", card.index('<tr class="undone">'))]
    assert "Undone" in undone and "1 · 3,466.86 USD" in undone
    link = re.search(r'href="([^"]+)">1 · 3,466.86 USD', undone).group(1).replace("&amp;", "&")
    assert "1 payment undone" in card, "the 30-day chart counts it apart"
    assert 'class="undone"' in card.split("<svg", 1)[1], "and draws it"

    listed = client.get(link).content.decode()
    assert listed.count('<tr class="undone">') == 1 and 'INV-2</a> <span class="muted">(payment)' in listed
    assert '<tr class="synced">' not in listed, "the link lists the undone payments and nothing else"


def dated_cell(html, status_class):
    row = html[html.index(f'<tr class="{status_class}">'):]
    return re.findall(r"<td>(.*?)</td>", row[:row.index("</tr>")])[2]  # number, supplier, then Dated


def test_the_records_list_dates_a_payment_back_by_its_date_undone_or_not(client, w):
    """A payment row has no document date of its own: it is dated by the payment's date, which an undone payment
    keeps."""
    client.force_login(w.finance)
    url = reverse("status:records", args=[w.mine.pk])
    assert dated_cell(client.get(url, {"status": "undone"}).content.decode(), "undone") == "18 Mar 2026"
    html = client.get(url, {"kind": "payment", "status": "synced"}).content.decode()
    assert dated_cell(html, "synced") == "20 Mar 2026"


class NothingOpenErp(ErpConnector):
    def open_invoices(self):
        return iter(())


class NothingOpenAp(ApConnector):
    def open_bills(self):
        return iter(())


@pytest.fixture
def nothing_open(monkeypatch):
    """Both systems answer the tie-out with no open items: what it says of payments comes from the ledger."""
    monkeypatch.setattr(Connection, "connector",
                        lambda self: NothingOpenErp(self) if self.spec.is_erp else NothingOpenAp(self))


def test_the_dashboard_metrics_and_the_tie_out_agree(client, w, nothing_open):
    paid = status.Figure(1, {"USD": D("101.50")})
    undone = status.Figure(1, {"USD": D("3466.86")})
    assert_everything_agrees(client, w.mine, paid, undone)
    out = StringIO()
    call_command("tieout", str(w.mine.pk), stdout=out)
    assert ("Payments back recorded: paid 1 · 101.50 USD; undone (voided, returned, escheated or reversed) "
            "1 · 3,466.86 USD.") in out.getvalue()


def test_the_tie_out_page_shows_paid_and_undone_from_the_ledger(client, w, nothing_open):
    client.force_login(w.finance)
    url = reverse("status:tieout", args=[w.mine.pk])
    client.post(url)
    html = client.get(url).content.decode()
    assert re.search(r"status=synced\">1 · 101.50 USD</a>", html)
    assert re.search(r"status=undone\">1 · 3,466.86 USD</a>", html)


def test_an_undone_payment_last_week_is_in_neither_of_this_week_s_figures(w):
    SyncRecord.objects.filter(pk=w.undone.pk).update(updated_at=timezone.now() - timedelta(days=8))
    assert moved_row(w.mine, "Undone").week == status.Figure()
    assert status.payment_totals([w.mine])[status.UNDONE] == status.Figure(1, {"USD": D("3466.86")})


def test_rows_already_reversed_become_undone_when_migrated(transactional_db):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    before = [("syncs", "0006_follow_up_refusal_indexes")]
    after = [("syncs", "0008_undone_payments_and_number_search")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    tenant = Tenant.objects.create(name="Old Co", slug="old")  # only syncs went back: the others are as they are
    erp = Connection.objects.create(tenant=tenant, system="infor", name="ERP")
    ap = Connection.objects.create(tenant=tenant, system="bill", name="AP")
    integration = apps.get_model("syncs", "Integration").objects.create(
        tenant_id=tenant.pk, name="old", source_id=erp.pk, target_id=ap.pk)
    Record = apps.get_model("syncs", "SyncRecord")
    for source_id, posted in (("P1:b1", "PAID"), ("P2:b2", "VOIDED")):
        Record.objects.create(integration=integration, object_type="payment", source_id=source_id,
                              status="synced", data={"posted": posted})
    executor.loader.build_graph()
    executor.migrate(after)
    assert dict(SyncRecord.objects.values_list("source_id", "status")) == {"P1:b1": "synced", "P2:b2": "undone"}
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("syncs"))


# --- every pair that can undo a payment, through the simulators ------------------------------------------------
def bill_pay(sandbox, bill_id):
    return sandbox.control("bill/canonical-pay", {"bill_id": bill_id})["payment_id"]


def bill_undo(state):
    return lambda sandbox, payment_id: sandbox.control("bill/payment-status",
                                               {"paymentId": payment_id, "singleStatus": state})


def avid_pay(method):
    return lambda sandbox, bill_id: sandbox.control("avidxchange/pay", {"Invoices": [{"InvoiceId": bill_id}],
                                                                          "Method": method})["Id"]


def avid_undo(state):
    return lambda sandbox, payment_id: sandbox.control("avidxchange/payment-status",
                                               {"PaymentId": payment_id, "Status": state})


UNDOING = {
    "infor-bill-voided": ("infor", "bill", bill_pay, bill_undo("VOIDED")),
    "infor-bill-bank-rejected": ("infor", "bill", bill_pay, bill_undo("DISBURSEMENT_FAILED_VENDOR_BANK_REJECTED")),
    "acumatica-bill-voided": ("acumatica", "bill", bill_pay, bill_undo("VOIDED")),
    "ifs-bill-voided": ("ifs", "bill", bill_pay, bill_undo("VOIDED")),
    "syspro-bill-voided": ("syspro", "bill", bill_pay, bill_undo("VOIDED")),
    "infor-avidxchange-voided": ("infor", "avidxchange", avid_pay("Check"), avid_undo("Voided")),
    "infor-avidxchange-returned": ("infor", "avidxchange", avid_pay("ACH"), avid_undo("Returned")),
    "infor-avidxchange-escheated": ("infor", "avidxchange", avid_pay("Check"), avid_undo("Escheated")),
}


def pair(tenant, sandbox, erp, ap):
    """Both simulators on the canonical seed, every code mapped but the one the seed leaves unmapped (Acumatica
    keeps departments as subaccounts)."""
    sandbox.control(f"{erp}/seed-canonical")
    ids = sandbox.control(f"{ap}/seed-canonical")
    integration = Integration.objects.create(tenant=tenant, name=f"{erp} → {ap}",
                                             source=make_connection(erp, tenant, sandbox),
                                             target=make_connection(ap, tenant, sandbox))
    rules = [MappingRule(integration=integration, kind=MappingRule.GL_ACCOUNT, source_code=code, target_id=target)
             for code, target in ids["gl_accounts"].items() if code != canonical.UNMAPPED_ACCOUNT]
    rules += [MappingRule(integration=integration, kind=MappingRule.SUBACCOUNT if erp == "acumatica" else kind,
                          target_kind=kind, source_code=code, target_id=target)
              for kind, by_code in ids["dimensions"].items() for code, target in by_code.items()]
    MappingRule.objects.bulk_create(rules)
    return integration


@pytest.mark.parametrize("case", list(UNDOING))
def test_a_payment_undone_in_the_ap_platform_is_counted_undone_everywhere(case, tenant, sandbox, client,
                                                                        monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)
    erp, ap, pay, undo = UNDOING[case]
    integration = pair(tenant, sandbox, erp, ap)
    run_integration(integration.pk)
    kept, returned = sorted(sandbox.control(f"{ap}/canonical-state")["bills"], key=lambda b: b["invoice_number"])[:2]
    pay(sandbox, kept["id"])
    payment_id = pay(sandbox, returned["id"])
    run = run_integration(integration.pk)
    assert run.counters.get("payments_written_back") == 2, run.counters

    sandbox.control("clock", {"advance_seconds": 60})
    undo(sandbox, payment_id)
    run = run_integration(integration.pk)
    assert run.counters.get("payments_reversed") == 1, run.counters

    shares = {r.source_id.rsplit(":", 1)[1]: r for r in SyncRecord.objects.filter(integration=integration,
                                                                                   object_type="payment")}
    stands, undone = shares[kept["id"]], shares[returned["id"]]
    assert (stands.status, undone.status) == (RecordStatus.SYNCED, RecordStatus.UNDONE)
    assert (undone.data["posted"], undone.amount) == ("VOIDED", D(returned["amount"]))
    if erp != "syspro":  # SYSPRO takes no payments: they are recorded here only
        written = {p["invoice_number"]: p["status"] for p in sandbox.control(f"{erp}/canonical-state")["payments"]}
        assert written == {kept["invoice_number"]: "PAID", returned["invoice_number"]: "VOIDED"}
    assert_everything_agrees(client, integration, status.Figure(1, {stands.currency: D(kept["amount"])}),
                             status.Figure(1, {undone.currency: D(returned["amount"])}))
    listed = client.get(reverse("status:records", args=[integration.pk]), {"status": "undone"}).content.decode()
    assert dated_cell(listed, "undone") == day(undone.data["date"]) != "—", "still dated by its payment's date"

    again = run_integration(integration.pk)
    assert again.counters.get("payments_reversed", 0) == 0
    assert SyncRecord.objects.get(pk=undone.pk).status == RecordStatus.UNDONE, "a re-read leaves it undone"
    assert figure(status.payment_totals([integration])[status.UNDONE]).startswith("1 · ")
