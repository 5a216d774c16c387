"""M3's lists read as key ranges side by side (connectors/infor/reading.py): every record once, whether it lies on a
range boundary or changes while the list is read; a read that goes no further ahead of its reader than a few pages;
the tenant's rate never exceeded; and a list M3 orders otherwise read again one page after another."""

import threading
from collections import Counter
from dataclasses import replace

import pytest

from connectors import limits
from connectors.infor import client as infor_client
from connectors.infor import connector as infor_connector
from connectors.infor import m3, reading
from sandbox.infor import simulator as infor_sandbox

# Dense runs, gaps, letters after digits, keys of several lengths: the ranges' estimates are rough on purpose.
SUPPLIER_KEYS = sorted({*(f"S{n:04d}" for n in range(0, 230, 3)), *(f"S{n:04d}" for n in range(900, 960)),
                        "A1", "B", "K9Z", "S", "S1", "T100", "T2", "X", "Z0000", "ZZ"})


def supplier_calls(sandbox):
    return sandbox.simulators["infor"].transaction_calls.get(str(m3.SUPPLIERS), 0)


def supplier_list(connector, page_size, inputs=None):
    return connector.client.pages(m3.SUPPLIERS, inputs or {}, "SUNO", "FRSU", "TOSU", page_size, ("SUNO", "SUNM"))


def seed(sandbox, keys=SUPPLIER_KEYS):
    sandbox.control("infor/seed", {"suppliers": [{"SUNO": k, "SUNM": f"Supplier {k}", "CUCD": "USD"} for k in keys]})


@pytest.fixture
def spied(infor_connection, sandbox, monkeypatch):
    """A connector whose M3 calls are kept: (transaction, inputs) each."""
    connector = infor_connection.connector()
    sent = []
    execute = connector.client.execute

    def spy(transaction, inputs=None, **kwargs):
        sent.append((str(transaction), dict(inputs or {})))
        return execute(transaction, inputs, **kwargs)

    monkeypatch.setattr(connector.client, "execute", spy)
    connector.sent = sent
    return connector


def test_every_record_is_read_once_across_ranges(spied, sandbox):
    seed(sandbox)
    read = [row["SUNO"] for page in supplier_list(spied, 7) for row in page]
    assert sorted(read) == SUPPLIER_KEYS, "each once, none left out"
    ends = [inputs["TOSU"] for _, inputs in spied.sent if "TOSU" in inputs]
    assert len(ends) >= 5, "read as several ranges"
    pages = len(SUPPLIER_KEYS) / 6  # a page's last key is read again by the next
    assert len(spied.sent) <= 3 * pages, "ranges placed as if keys lay evenly: on keys this uneven, some come empty"


def test_records_on_a_range_boundary_are_read_once(spied, sandbox, monkeypatch):
    """Ranges cut at keys that exist: the record at a range's end belongs to the range after it."""
    seed(sandbox)

    def at_existing_keys(self, rest, keys):
        later = [k for k in SUPPLIER_KEYS if k > rest.start and (rest.end is None or k < rest.end)][2::3][:4]
        starts = [rest.start, *later]
        return [replace(rest, start=a, end=b) for a, b in zip(starts, [*later, rest.end], strict=True)]

    monkeypatch.setattr(reading.KeyRanges, "split", at_existing_keys)
    read = [row["SUNO"] for page in supplier_list(spied, 5) for row in page]
    assert sorted(read) == SUPPLIER_KEYS
    ends = {inputs["TOSU"] for _, inputs in spied.sent if "TOSU" in inputs}
    assert len(ends) >= 5 and ends <= set(SUPPLIER_KEYS), "every range ended on a key that is there"


def invoice(n, lines):
    return {"DIVI": "AAA", "YEA4": 2026, "JRNO": 7000 + n // 40, "JSNO": n % 40 + 1, "SUNO": "V1001",
            "SINO": f"INV-{n}", "IVDT": "20260105", "DUDT": "20260205", "CUCD": "USD", "CUAM": f"{10 * lines}.00",
            "lines": [{"LINO": i, "AIT1": "6100", "LNAM": "10.00", "LNDE": f"line {i}"} for i in range(1, lines + 1)]}


def test_invoices_changed_while_the_list_is_read_are_read_once_with_every_line(infor_connection, sandbox,
                                                                                monkeypatch):
    """A change moves an invoice's stamp, never its key: it stays in its range, read once, whole, before or after
    the change. Pages of 7 rows cut invoices of 1 to 3 lines."""
    monkeypatch.setattr(infor_connector, "LIST_PAGE_SIZE", 7)
    lines = {n: n % 3 + 1 for n in range(120)}
    sandbox.control("infor/seed", {"invoices": [invoice(n, count) for n, count in lines.items()]})
    invoices = infor_connection.connector().approved_invoices(include_held=True)
    read = [next(invoices)]
    for n in (*range(0, 120, 7), 119):  # some already read, some not yet
        sandbox.control("infor/canonical-invoice", {"supplier_id": "V1001", "number": f"INV-{n}", "held": True})
    read += list(invoices)
    numbers = sorted(i.invoice_number for i in read)
    assert numbers == sorted(f"INV-{n}" for n in lines), "each once"
    assert all(len(i.lines) == lines[int(i.invoice_number[4:])] for i in read), "never cut between pages"
    assert read[-1].held or any(i.held for i in read[1:]), "the invoices read after their change say so"


def test_the_first_invoice_comes_before_the_last_page_is_asked_for(infor_connection, sandbox, monkeypatch):
    monkeypatch.setattr(infor_connector, "LIST_PAGE_SIZE", 5)
    sandbox.control("infor/seed", {"invoices": [invoice(n, 1) for n in range(60)]})
    invoices = infor_connection.connector().approved_invoices()
    next(invoices)
    asked = sandbox.simulators["infor"].transaction_calls[str(m3.APPROVED_INVOICES)]
    assert len(list(invoices)) == 59
    assert asked < sandbox.simulators["infor"].transaction_calls[str(m3.APPROVED_INVOICES)] / 4


@pytest.fixture
def threads(monkeypatch):
    """In threads, as on a database file (the suite's in-memory database keeps a read to one call at a time)."""
    monkeypatch.setattr(reading, "threads_allowed", lambda: True)


def test_in_threads_the_workers_stop_a_few_results_ahead_of_their_reader(threads):
    done = []

    def work(task):
        done.append(task)
        return task, []

    with reading.Pool(range(100), work, workers=4, ahead=6) as pool:
        results = iter(pool)
        taken = [next(results)]
        with pool.cond:  # the workers, all waiting for the reader
            assert pool.cond.wait_for(lambda: not pool.running and len(pool.results) >= pool.ahead, timeout=10)
            assert len(done) == 1 + len(pool.results) <= 1 + pool.ahead + 3
        taken += results
    assert sorted(taken) == list(range(100)), "then every task, once"


@pytest.mark.django_db(transaction=True)
def test_in_threads_a_read_closed_early_stops_its_workers(infor_connection, sandbox, threads):
    seed(sandbox, [f"S{n:04d}" for n in range(400)])
    pages = supplier_list(infor_connection.connector(), 5)
    assert next(pages) and next(pages)  # the first page read in this thread, the second by the workers
    pages.close()  # stops the workers, once the calls under way are answered
    asked = supplier_calls(sandbox)
    # The pages taken, up to LIST_WORKERS waiting to be taken, as many under way, and a few ranges found empty; the
    # whole list is 100 pages.
    assert asked <= 3 * reading.LIST_WORKERS + 1
    assert sandbox.state("infor")["max_in_flight"] <= reading.LIST_WORKERS


@pytest.mark.django_db(transaction=True)
def test_the_tenant_s_rate_is_never_exceeded_nor_a_call_refused(tenant, sandbox, threads, monkeypatch):
    """A tenant allowed 20 calls a second here (3,000 a minute in earnest): the limiter counts 19 a second (RATE
    keeps a twentieth back for calls that arrive in Infor's next window), the pacer spreads them. 90 suppliers make
    about 100 calls, five seconds' worth; at 150 ms a call, several are under way at once. The limit is checked where
    it is held, in the limiter's windows: the simulator's arrivals, bucketed by the second, would also count how
    late a loaded machine delivers a call, which says nothing of the limiter."""
    from tests.connectors.infor.conftest import make_infor_connection

    monkeypatch.setattr(infor_client, "RATE", (19, 1))
    counter, serial, counted, newest = limits._rate_counter(), threading.Lock(), Counter(), {}

    def counting(key, limit, window):
        """The real counter, each call's window kept: on the file, the newest the file holds (a thread whose clock
        read lagged counts in it)."""
        with serial:
            result = counter(key, limit, window)
            if result is True:
                if counter is limits._count_in_file:
                    window = newest[key] = max(window, newest.get(key, window))
                counted[key, window] += 1
            return result

    monkeypatch.setattr(limits, "_rate_counter", lambda: counting)
    seed(sandbox, [f"S{n:04d}" for n in range(90)])
    sandbox.control("faults", {"system": "infor", "latency_ms": 150})
    connector = make_infor_connection(tenant, sandbox.url).connector()
    assert len(list(connector.suppliers())) == 90
    sim = sandbox.simulators["infor"].tenants[infor_sandbox.TENANT]
    per_second = {}
    for arrived in sim.arrivals:
        per_second[int(arrived)] = per_second.get(int(arrived), 0) + 1
    assert max(counted.values()) <= 19 and sum(counted.values()) >= len(sim.arrivals), counted
    assert len(per_second) >= 4, f"paced over seconds: {per_second}"
    assert 2 <= sim.counts["max_in_flight"] <= infor_connector.DETAIL_WORKERS + reading.LIST_WORKERS
    assert connector.http.retries == 0, "nothing refused"


def test_a_list_m3_orders_otherwise_is_read_again_one_page_after_another(spied, sandbox, monkeypatch, caplog):
    """UNCONFIRMED (docs/ASSUMPTIONS.md I17): the ranges take M3's keys in code-point order. Should M3 sort digits
    after letters (EBCDIC), a page shows it, and the list is read again relying on M3's own order only."""
    seed(sandbox)
    sim = sandbox.simulators["infor"]

    def ebcdic(key):
        return [(c.isdigit(), c) for c in key]

    def listed(inputs, division):
        start, end = ebcdic(inputs.get("FRSU", "")), inputs.get("TOSU")
        return [{"CONO": infor_sandbox.COMPANY, **sim.data.suppliers[k]}
                for k in sorted(sim.data.suppliers, key=ebcdic)
                if ebcdic(k) >= start and (end is None or ebcdic(k) <= ebcdic(end))]

    monkeypatch.setattr(sim, "list_suppliers", listed)
    read = [row["SUNO"] for page in supplier_list(spied, 6) for row in page]
    assert set(read) == set(SUPPLIER_KEYS), "every one, some twice"
    assert "reading CRS620MI/LstSuppliers again from its start, one page after another" in caplog.text
