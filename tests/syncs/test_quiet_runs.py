"""What a run costs each system, counted by the simulators per endpoint (the state's calls_by_path): a run with
nothing changed stays within 10 calls per system, a first run makes its objects in bulk, and a record changed after
the first run is still read and sent. On the demos, as seed_demo loads them: Acumatica → BILL, SYSPRO → BILL and
the AvidXchange side of Infor → AvidXchange (the Infor side is Infor's connector's own)."""

from collections import Counter

from sandbox import demo
from syncs.engine import run_integration

QUIET_LIMIT = 10  # remote calls per system on a run that finds nothing changed (issue 24)


def calls(sandbox, system):
    return Counter(sandbox.state(system)["calls_by_path"])


def run_counted(sandbox, integration, *systems):
    """A scheduled run, and the calls it made to each of `systems` by endpoint."""
    before = {system: calls(sandbox, system) for system in systems}
    run = run_integration(integration.pk, trigger="schedule")
    return run, {system: calls(sandbox, system) - before[system] for system in systems}


def total(counted):
    return sum(counted.values())


# --- SYSPRO → BILL ----------------------------------------------------------------------------------------------
def test_syspro_reads_its_four_tables_once_then_a_quiet_run_stays_within_six_calls(seeded, sandbox):
    integration = seeded("syspro")
    first, made = run_counted(sandbox, integration, "syspro", "bill")
    assert made["syspro"] == {f"GET /odata/{table}": 1 for table in
                              ("ApSupplier", "ApSupplierAddr", "ApInvoice", "ApJnlDistrib")}
    created = first.counters["vendors_created"] + first.counters["bills_created"]
    assert total(made["bill"]) / created <= 0.1

    quiet, made = run_counted(sandbox, integration, "syspro", "bill")
    assert quiet.counters.get("vendors_updated", 0) == quiet.counters.get("bills_created", 0) == 0
    # Each table once for what changed within the cursor's overlap (every row, in a demo this small), and each detail
    # table once more, in key order, for the lines of the records re-read: not one call per 20 records.
    assert made["syspro"] == {"GET /odata/ApSupplier": 1, "GET /odata/ApSupplierAddr": 2, "GET /odata/ApInvoice": 1,
                              "GET /odata/ApJnlDistrib": 2}
    assert total(made["bill"]) <= QUIET_LIMIT, made["bill"]


def test_a_syspro_address_changed_after_the_first_run_reaches_bill(seeded, sandbox):
    integration = seeded("syspro")
    run_integration(integration.pk, trigger="schedule")
    sandbox.control("syspro/update", {"table": "ApSupplierAddr", "key": ["MIL0001"], "changes": {"SupAddr3": "Fargo"}})
    line = next(row for row in sandbox.state("syspro")["tables"]["ApJnlDistrib"] if row["Invoice"] == "SI-70001")
    sandbox.control("syspro/update", {"table": "ApJnlDistrib", "key": [line["Supplier"], "SI-70001", line["DistrLine"]],
                                      "changes": {"Comment": "Flour, corrected"}})
    run, made = run_counted(sandbox, integration, "syspro", "bill")
    assert run.counters["vendors_updated"] == 1
    assert run.counters["bills_changed_after_sending"] == 1  # read again, and said; a bill is never sent twice
    vendors = sandbox.state("bill")["organizations"][demo.bill_organization("syspro-demo")]["vendors"]
    assert [v["address"]["city"] for v in vendors if v.get("shortName") == "MIL0001"] == ["Fargo"]
    assert total(made["syspro"]) <= QUIET_LIMIT


# --- Acumatica → BILL -------------------------------------------------------------------------------------------
def test_an_acumatica_quiet_run_signs_in_reads_vendors_and_bills_and_signs_out(seeded, sandbox):
    integration = seeded("acumatica")
    first, made = run_counted(sandbox, integration, "acumatica", "bill")
    assert total(made["acumatica"]) <= QUIET_LIMIT
    assert total(made["bill"]) / (first.counters["vendors_created"] + first.counters["bills_created"]) <= 0.1
    quiet, made = run_counted(sandbox, integration, "acumatica", "bill")
    assert quiet.counters.get("vendors_updated", 0) == quiet.counters.get("bills_created", 0) == 0
    # The sign-in and sign-out stay: a session holds one of the licence's API logins until it is signed out (AC7).
    assert made["acumatica"] == {"POST /identity/connect/token": 1, "GET /entity/Default/24.200.001/Vendor": 1,
                                 "GET /entity/Default/24.200.001/Bill": 2, "POST /entity/auth/logout": 1}
    assert total(made["bill"]) <= QUIET_LIMIT, made["bill"]


def test_an_acumatica_vendor_changed_after_the_first_run_reaches_bill(seeded, sandbox):
    integration = seeded("acumatica")
    run_integration(integration.pk, trigger="schedule")
    vendor = sandbox.state("acumatica")["vendors"][0]["VendorID"]
    sandbox.control("acumatica/update-vendor", {"VendorID": vendor, "VendorName": "Renamed Supplies Inc"})
    run, made = run_counted(sandbox, integration, "acumatica", "bill")
    assert run.counters["vendors_updated"] == 1
    vendors = sandbox.state("bill")["organizations"][demo.bill_organization("acumatica-demo")]["vendors"]
    assert [v["name"] for v in vendors if v.get("shortName") == vendor] == ["Renamed Supplies Inc"]
    assert total(made["acumatica"]) <= QUIET_LIMIT


# --- Infor → AvidXchange, its AvidXchange side ------------------------------------------------------------------
def test_avidxchange_first_run_creates_in_batches_and_lists_no_attachments_of_invoices_it_just_made(seeded,
                                                                                                     sandbox):
    integration = seeded("avidxchange")  # seed_demo runs it once, so that the demo has invoices to pay
    made = calls(sandbox, "avidxchange")
    company = sandbox.state("avidxchange")["companies"]["AVX-DEMO"]
    first = integration.runs.get()
    created = first.counters["vendors_created"] + first.counters["bills_created"] + first.counters["codes_published"]
    assert (created, len(company["payees"]), len(company["invoices"])) == (83, 24, 51)
    assert made["POST /v1/payees/batch"] == made["POST /v1/invoices/batch"] == 1
    assert made["PUT /v1/codelists/GlAccount/codes"] == made["PUT /v1/codelists/Department/codes"] == 1
    # One call per image: the API we assume (X2) takes one file per call, and AvidXchange publishes no bulk upload.
    images = sum(len(attached) for attached in company["attachments"].values())
    assert made["POST /v1/invoices/{invoice_id}/attachments"] == images == 11
    assert made["GET /v1/invoices/{invoice_id}/attachments"] == 0
    # Once for the run (published codes are kept as they were sent) and once for seed_demo's reference lists.
    assert made["GET /v1/codes"] == 2
    # Invoices are looked for only under the payee that was there before the run (the one on hold).
    assert made["GET /v1/invoices"] == 1


def test_avidxchange_side_of_a_quiet_run_reads_codes_and_payments(seeded, sandbox):
    integration = seeded("avidxchange")
    run_integration(integration.pk, trigger="schedule")  # brings back the payments the demo made
    quiet, made = run_counted(sandbox, integration, "avidxchange")
    assert quiet.counters.get("payments_written_back", 0) == quiet.counters.get("bills_created", 0) == 0
    avid = made["avidxchange"]
    assert avid["GET /v1/codes"] == avid["GET /v1/payments"] == 1
    assert not {path for path in avid if "payees" in path or "attachments" in path or "codelists" in path}
    # Infor hands over again the invoices whose payee is inactive (AvidXchange may have activated it since): one look
    # up and one batch for them, until Infor reads only what changed.
    assert total(avid) <= 4


def test_an_infor_supplier_changed_after_the_first_run_reaches_its_avidxchange_payee(seeded, sandbox):
    integration = seeded("avidxchange")
    run_integration(integration.pk, trigger="schedule")
    sandbox.control("infor/update-supplier", {"tenant": "MLC_AVD", "SUNO": "S20001", "SUNM": "Renamed Paper Co"})
    run, made = run_counted(sandbox, integration, "avidxchange")
    assert run.counters["vendors_updated"] == 1
    payees = sandbox.state("avidxchange")["companies"]["AVX-DEMO"]["payees"]
    assert [p["Name"] for p in payees if p["ExternalId"] == "S20001"] == ["Renamed Paper Co"]
    assert total(made["avidxchange"]) <= QUIET_LIMIT
