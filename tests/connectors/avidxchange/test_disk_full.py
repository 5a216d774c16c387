"""A full disk while an AvidXchange exchange file is written (issue "Production that survives", §3): no part of the
file is left under a final name (each is written whole under a temporary name, then linked: connectors/avidxchange/
files.py), the records it carried fail with the reason in words, and the next run writes them. And, in API mode, the
code lists read in a run are read again after a batch of codes whose call failed: what became of it is not known."""

import errno
import os
import tempfile
from types import SimpleNamespace

import pytest

from connectors import canonical
from connectors.avidxchange import client as avid_client
from connectors.avidxchange import files
from connectors.avidxchange.system import MODE_FILES
from connectors.errors import TransientError
from connectors.models import Connection
from syncs.engine import run_integration
from syncs.models import Integration, RecordStatus, RunStatus, SyncRecord
from tests.connectors.avidxchange.conftest import make_avidxchange_connection
from tests.fakes import demo

FULL = "the disk is full"


class Disk:
    """The disk under the exchange folder: `room` bytes left (None: plenty), or full once a file of the kind
    `full_for` is written (its layout's header first). A write past it puts what fits on the disk, then fails with
    ENOSPC, as write(2) does."""

    def __init__(self):
        self.room = None
        self.full_for = None
        self.refused = 0

    def freed(self):
        self.room = self.full_for = None

    def file(self, *args, **kwargs):
        return FillingFile(self, tempfile.NamedTemporaryFile(*args, **kwargs))


class FillingFile:
    """A temporary file whose writes go to a Disk that may fill up."""

    def __init__(self, disk, handle):
        self.disk, self.handle = disk, handle

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        self.handle.__enter__()
        return self

    def __exit__(self, *exc):
        return self.handle.__exit__(*exc)

    def write(self, data):
        if self.disk.full_for and data.startswith(",".join(files.LAYOUTS[self.disk.full_for]).encode()):
            self.disk.room = len(data) // 2
        room = self.disk.room
        if room is not None and len(data) > room:
            self.handle.write(data[:room])
            self.handle.flush()
            self.disk.room = 0
            self.disk.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if room is not None:
            self.disk.room -= len(data)
        return self.handle.write(data)


@pytest.fixture
def disk(monkeypatch):
    """The exchange's temporary files made on a Disk the test fills."""
    disk = Disk()
    monkeypatch.setattr(files, "tempfile", SimpleNamespace(NamedTemporaryFile=disk.file))
    return disk


def every_file(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_file_the_disk_cannot_hold_leaves_nothing_behind_and_is_written_later(files_connection, exchange_folder,
                                                                                 disk):
    with files_connection.connector() as connector:
        connector.exchange.ready()
        before = every_file(exchange_folder)
        disk.room = 40  # less than the header and one payee
        with pytest.raises(TransientError) as failed:
            connector.create_vendors(list(canonical.SUPPLIERS))
    assert disk.refused == 1
    assert FULL in str(failed.value) and str(exchange_folder) in str(failed.value)
    assert failed.value.cause == "disk_full"
    assert every_file(exchange_folder) == before, "no part of the file under any name, not even the temporary one"

    disk.freed()
    with files_connection.connector() as connector:
        assert connector.find_vendors(list(canonical.SUPPLIERS)) == {}, "nothing counts as sent"
        made = connector.create_vendors(list(canonical.SUPPLIERS))
    [sent] = (exchange_folder / "sent").glob("payees_*.csv")
    [delivered] = (exchange_folder / "outbound").glob("payees_*.csv")
    assert sent.read_bytes() == delivered.read_bytes()
    assert len(sent.read_text().splitlines()) == 1 + len(canonical.SUPPLIERS) == 1 + len(made)


def test_an_image_the_disk_cannot_hold_is_not_left_in_the_images_folder(files_connection, exchange_folder, disk):
    with files_connection.connector() as connector:
        connector.exchange.ready()
        disk.room = 1000
        with pytest.raises(TransientError, match=FULL):
            with connector.exchange.staged_image([b"x" * 800, b"y" * 800], 10_000, "Invoice image a.pdf"):
                pass
    assert not list((exchange_folder / "outbound" / files.IMAGES).iterdir())


def test_other_errors_of_the_disk_are_not_called_full(files_connection, exchange_folder, monkeypatch):
    def unreadable(*args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files, "tempfile", SimpleNamespace(NamedTemporaryFile=unreadable))
    with files_connection.connector() as connector, pytest.raises(OSError) as failed:
        connector.create_vendors(list(canonical.SUPPLIERS))
    assert not isinstance(failed.value, TransientError)


# --- a run ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_erp_to_files(fakes, tenant, sandbox, exchange_folder):
    """The fake ERP's demo books sent to AvidXchange through the exchange folder; the run publishes the ERP's codes
    as the lists and maps each to itself."""
    demo.seed_erp()
    return Integration.objects.create(
        tenant=tenant, name="Fake ERP → AvidXchange files", interval_minutes=5,
        source=Connection.objects.create(tenant=tenant, system="fake_erp", name="Fake ERP"),
        target=make_avidxchange_connection(tenant, sandbox.url, name="AvidXchange files", mode=MODE_FILES,
                                           folder=exchange_folder))


def sent_invoice_ids(folder):
    rows = [row for path in sorted((folder / "sent").glob("invoices_*.csv"))
            for _, row in files.read_rows(path, "invoices")]
    return [row["ExternalID"] for row in rows if row["LineNumber"] == "1"]


def test_a_run_that_fills_the_disk_fails_the_records_in_words_and_the_next_run_writes_them(fake_erp_to_files,
                                                                                          exchange_folder, disk):
    integration = fake_erp_to_files
    disk.full_for = "invoices"
    run = run_integration(integration.pk)
    assert disk.refused and run.status == RunStatus.PARTIAL, run.error
    assert not run.error, "the run went on: only the records the file carried failed"
    assert run.counters["vendors_created"] > 0 and not run.counters.get("bills_created")
    bills = SyncRecord.objects.filter(integration=integration, object_type="bill")
    full = bills.filter(status=RecordStatus.FAILED, cause="disk_full")
    assert full.exists()
    for record in full:
        assert record.error_detail.startswith("The file for AvidXchange could not be written: the disk is full")
        assert "did not answer" not in record.error_detail, "AvidXchange did nothing wrong"
    assert not list(exchange_folder.rglob("invoices_*")), "no part of the file under a final name"
    assert not list(exchange_folder.rglob(".tmp-*")), "the temporary file went too"

    disk.freed()
    after = run_integration(integration.pk)
    assert after.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), after.error
    assert not bills.filter(cause="disk_full").exists()
    assert after.counters["bills_created"] == full.count() == len(set(sent_invoice_ids(exchange_folder)))
    assert len(sent_invoice_ids(exchange_folder)) == full.count(), "each invoice written once"


# --- code lists: a call of the batch that failed ---------------------------------------------------------------------
def test_after_a_call_of_codes_failed_the_lists_are_read_again(avid_connection, sandbox, monkeypatch):
    """client._batches keeps the answers of the calls that went through and gives a failed call's error to each of
    its codes (http.fan_out keep=...). That call may have been taken (a timeout after sending): the lists this run
    read are read again rather than trusted."""
    monkeypatch.setattr(avid_client, "BATCH_CODES", 2)
    codes = list(canonical.GL_ACCOUNTS)
    with avid_connection.connector() as connector:
        assert connector.gl_accounts() == [], "the lists read, and kept for the run"
        http = connector.client.http
        send, puts = http.json, []

        def second_call_ends_unknown(method, path, **kwargs):
            answer = send(method, path, **kwargs)
            if method == "PUT":
                puts.append(path)
                if len(puts) == 2:
                    raise TransientError("AvidXchange did not answer in time.", cause="outcome_unknown")
            return answer

        monkeypatch.setattr(http, "json", second_call_ends_unknown)
        answered = connector.publish_codes(codes)
        unknown = [key for key, answer in answered.items() if isinstance(answer, TransientError)]
        assert len(puts) == 3 and len(unknown) == 2, answered
        listed = {account.code for account in connector.gl_accounts()}
    assert listed == {code.code for code in codes}, "the codes of the call that ended unknown were taken all the same"
    assert sandbox.state("avidxchange")["calls_by_path"]["GET /v1/codes"] == 2
