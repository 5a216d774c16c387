"""Infor CloudSuite (M3) as an ERP: suppliers, GL accounts, approved invoices out; payments in."""

import logging
from collections import Counter
from concurrent.futures import Future
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from connectors import capabilities as can
from connectors.assumptions import contradicted, held, probe, unchecked
from connectors.base import ErpConnector
from connectors.errors import ConfigurationError, DataError, TransientError
from connectors.http import fan_out
from connectors.infor import idm, m3
from connectors.infor.client import InforClient
from connectors.infor.reading import Pool
from connectors.records import (
    Address,
    Dimension,
    Document,
    GlAccount,
    Invoice,
    InvoiceLine,
    OpenItem,
    Supplier,
    Unreadable,
)
from connectors.reversals import reversal_text
from connectors.tokens import TokenStore
from connectors.values import amount_value, money

logger = logging.getLogger(__name__)

# Rows asked for in one call of a list. UNCONFIRMED (docs/ASSUMPTIONS.md I18): M3 answers up to this many; Infor
# documents no cap for MI list transactions (maxrecs=0 is "all"). A cap below it would end each range early, unseen.
LIST_PAGE_SIZE = 500
# Suppliers whose statuses one CRS620MI/LstByNumber call reads.
PAGE_SIZE = 100
# Suppliers whose address (and, where a list page does not cover them, status) is read at once: M3 has
# no list of every supplier's address, so it is one LstAddresses call per supplier read. The client's
# rate limit keeps every process together under the tenant's 3,000 calls a minute, whatever this is.
DETAIL_WORKERS = 32
# Suppliers read in detail that may wait for the caller: a few MB. Far enough ahead that the reads go on while the
# caller makes their vendors, and use a minute's budget while it is there (client.Pacer), not when the caller is done.
DETAILS_AHEAD = 25 * PAGE_SIZE
# The fields of the supplier list a Supplier is made of: the list is read for these only (returncols).
SUPPLIER_COLUMNS = ("SUNO", "SUNM", "TINO", "CUCD", "PHNO", "CSCD", "ECAR")
# The fields of a supplier's addresses postal_address() reads.
ADDRESS_COLUMNS = ("ADTE", "ADID", "STDT", "ADR1", "ADR2", "TOWN", "ECAR", "PONO", "CSCD")

# Supplier change markers (ChangeFloors) are points on this grid, counted from EARLIEST.
CHANGE_GRID = timedelta(minutes=10)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# How far M3's clock may run behind ours, and the most list calls that ask which suppliers changed after the times
# they were read (ChangeFloors.unchanged). UNCONFIRMED (docs/ASSUMPTIONS.md I20).
CLOCK_MARGIN = timedelta(minutes=1)
TIME_CHECKS = 4
# A LstSuppliers call asking for changes after this far ahead must come back empty, or M3 is not
# filtering on LMTS at all.
FILTER_CHECK_AHEAD = timedelta(days=365)
# The task of a page of suppliers that reads their statuses (Infor's supplier_work).
STATUSES = object()
# Grid points a first read's search asks at once, going back from now (ChangeFloors.newest_first).
POINTS_AT_ONCE = 3
# Suppliers whose own change stamps the I5 probe compares LstSuppliers' filter with.
STAMPS_PROBED = 3
# The CRS111 e-mail types the I8 probe looks through for addresses keyed by supplier numbers. UNCONFIRMED: Infor's
# public pages we found do not list the e-mail types; these are the two-digit ones a tenant is likeliest to use.
EMAIL_TYPES_PROBED = tuple(f"{n:02d}" for n in range(1, 11))
# A payment id no one records: the I4 probe looks it up to see how the extension says "not found".
PROBE_PAYMENT_ID = "ML-CONNECTOR-ASSUMPTION-CHECK"


def lmts_to_iso(value):
    """M3's LMTS (yyyyMMddHHmmssfff) as an ISO timestamp; '' when absent. UNCONFIRMED: M3 writes LMTS
    in UTC (docs/ASSUMPTIONS.md I6)."""
    if not value:
        return ""
    try:
        return datetime.strptime(value[:17].ljust(17, "0"), "%Y%m%d%H%M%S%f").replace(tzinfo=UTC).isoformat()
    except ValueError:
        return ""


def iso_to_lmts(moment):
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")[:17] if moment else ""


def grid_index(moment):
    return (moment - EARLIEST) // CHANGE_GRID


def grid_time(index):
    return EARLIEST + index * CHANGE_GRID


def m3_date(value, field, ref):
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except (TypeError, ValueError):
        raise DataError(f"{ref}: {field} {value!r} is not a date (yyyyMMdd).", field=field) from None


def m3_amount(value, field, ref):
    return amount_value(value, lambda: DataError(f"{ref}: {field} {value!r} is not an amount.", field=field))


def payment_stop(value, ref):
    """IVBL as the reason an invoice must not be paid now, or None when it may be (blank or 0)."""
    value = (value or "").strip()
    if value in ("", m3.NO_PAYMENT_STOP):
        return None
    if len(value) != 1 or not value.isdigit():
        raise DataError(f"{ref}: IVBL {value!r} is not a payment stop code (one digit).", field="IVBL")
    return f"payment stop {value} (IVBL)"


def m3_number(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def postal_address(addresses, supplier, today=None):
    """The supplier's postal address (address type 01, m3.POSTAL_ADDRESS_TYPE) valid today, from its
    CRS620MI/LstAddresses records. UNCONFIRMED (docs/ASSUMPTIONS.md I11): that it is where payments go;
    of several, the one with the latest start date, then the lowest address number; without one, only
    the country and state of the supplier record."""
    today = (today or date.today()).strftime("%Y%m%d")
    postal = [a for a in addresses if m3_number(a.get("ADTE")) == m3.POSTAL_ADDRESS_TYPE]
    current = [a for a in postal if (a.get("STDT") or "") <= today] or postal
    if not current:
        return Address(region=supplier.get("ECAR", ""), country=supplier.get("CSCD", ""))
    chosen = sorted(current, key=lambda a: a.get("ADID") or "")
    chosen = max(chosen, key=lambda a: a.get("STDT") or "")
    return Address(line1=chosen.get("ADR1", ""), line2=chosen.get("ADR2", ""), city=chosen.get("TOWN", ""),
                   region=chosen.get("ECAR", ""), postal_code=chosen.get("PONO", ""), country=chosen.get("CSCD", ""))


def line_number(row, ref):
    """An invoice line's number (LINO), which orders the lines."""
    text = row.get("LINO") or "0"
    if not (text.isascii() and text.isdigit()):
        raise DataError(f"{ref}: line number LINO {text!r} is not a whole number.", field="LINO")
    return int(text)

class ChangeFloors:
    """Each supplier's change marker: the last point of the CHANGE_GRID before its change, found by
    asking CRS620MI/LstSuppliers which suppliers changed after chosen grid points.

    M3 returns no change stamp for suppliers: LstSuppliers only takes one as a filter (LMTS, "Last
    import's timestamp"), and GetBasicData, LstByNumber and LstAddresses return none (m3.py). A marker
    must still be (a) no later than the change, so a record that failed is read again from just before
    its marker; (b) the same every time an unchanged supplier is read again (the caller knows a supplier
    it holds as done by it, `known`); and (c) move the cursor on as suppliers change. The read time gives
    (c) only. The grid point before the change gives all three, for the price of a few list calls per
    read: a binary search over grid points, each answered by one filtered list.

    UNCONFIRMED (docs/ASSUMPTIONS.md I5): LMTS selects the suppliers whose supplier record changed
    strictly after it."""

    def __init__(self, client, unfiltered=False):
        self.client = client
        self.changed = {}  # grid point -> the suppliers changed after it
        self.changed_since = {}  # ISO time -> the suppliers changed after it
        # M3's LstSuppliers LMTS filter is not to be relied on (seen by this read, or by the assumption check: I5).
        self.unfiltered = unfiltered

    def after(self, index):
        """The suppliers changed after grid point `index` (read once per read)."""
        if index not in self.changed:
            inputs = {"LMTS": iso_to_lmts(grid_time(index))}
            self.changed[index] = {r["SUNO"] for page in self.client.pages(
                m3.SUPPLIERS, inputs, "SUNO", "FRSU", "TOSU", LIST_PAGE_SIZE, columns=("SUNO",)) for r in page}
        return self.changed[index]

    def since_read(self, read_at):
        """The suppliers changed after `read_at` (an ISO time), once per read."""
        if read_at not in self.changed_since:
            inputs = {"LMTS": iso_to_lmts(datetime.fromisoformat(read_at))}
            self.changed_since[read_at] = {r["SUNO"] for page in self.client.pages(
                m3.SUPPLIERS, inputs, "SUNO", "FRSU", "TOSU", LIST_PAGE_SIZE, columns=("SUNO",)) for r in page}
        return self.changed_since[read_at]

    def unchanged(self, markers, known):
        """The suppliers of `markers` ({supplier: marker}) that are as the caller holds them: `known` ({supplier:
        (marker, ISO time read)}) gives them the same marker, and nothing changed them after that time. The marker
        alone cannot say: two changes in one grid step share it. One read after its marker's grid step had closed
        (CLOCK_MARGIN later) would have a later marker had it changed since; for the others M3 is asked which changed
        after the time they were read, at most TIME_CHECKS list calls (one read earlier than a time asked about is
        checked against the time before it, which can only find more). UNCONFIRMED (docs/ASSUMPTIONS.md I20): a
        change to a supplier's address alone moves neither, as I5 assumes of LMTS."""
        settled, check = set(), {}
        if self.unfiltered:
            return settled  # the markers never move: only a read in detail tells a change
        for suno, marker in markers.items():
            held = known.get(suno)
            if not held or held[0] != marker or not held[1]:
                continue
            try:
                read_at = datetime.fromisoformat(held[1])
                closed = grid_time(grid_index(datetime.fromisoformat(marker)) + 1) + CLOCK_MARGIN
                after_closing = read_at >= closed
            except (TypeError, ValueError):
                continue
            if after_closing:
                settled.add(suno)
            else:
                check[suno] = read_at
        times = sorted(set(check.values()))
        asked = times[:1] + times[1:][-(TIME_CHECKS - 1):]
        for suno, read_at in check.items():
            point = max(t for t in asked if t <= read_at)
            if suno not in self.since_read(point.isoformat()):
                settled.add(suno)
        return settled

    def ask_at_once(self, indexes):
        """The suppliers changed after each of these grid points, asked side by side: lists that depend on nothing
        but their point, which after() then answers from what they brought."""
        wanted = [index for index in dict.fromkeys(indexes) if index not in self.changed]
        fan_out(self.after, wanted, len(wanted))

    def markers(self, members, since, now):
        """{supplier: ISO marker} for the suppliers a read since `since` (None: all) returned."""
        hi = grid_index(now) + 1  # a little room for M3's clock being ahead of ours
        ahead = grid_index(now + FILTER_CHECK_AHEAD)
        if not self.unfiltered:
            # The filter's check beside the search's first points, which come whatever the check finds but where it
            # finds M3 ignoring the filter (then calls spent for nothing, once). A read since a cursor asks its first
            # point; a first read, now and its first points back (newest_first).
            if since is None:
                points = [hi, *self.points_back(hi, 0, 1)]
            else:
                lo = max(0, grid_index(since))
                first = lo + 1 if lo + 1 < hi else (lo + hi + 1) // 2
                points = [first] if lo < first < hi else []
            self.ask_at_once([ahead, *points])
        if not self.unfiltered and self.after(ahead):
            # UNCONFIRMED (docs/ASSUMPTIONS.md I5): M3 filters LstSuppliers on LMTS. If it does not,
            # every read is a full read: markers that never move keep every run reading everything.
            logger.warning("Infor: CRS620MI/LstSuppliers ignores its LMTS filter; every run reads every supplier.")
            self.unfiltered = True
        if self.unfiltered:
            return dict.fromkeys(members, EARLIEST.isoformat())
        floors = {}
        if since is None:
            self.newest_first(set(members), 0, hi, floors)
        else:
            self.oldest_first(set(members), max(0, grid_index(since)), hi, floors)
        return {suno: grid_time(index).isoformat() for suno, index in floors.items()}

    @staticmethod
    def points_back(hi, lo, step):
        """The next POINTS_AT_ONCE points a search back from `hi` in doubling steps asks, from `step` on."""
        return [hi - step * 2 ** k for k in range(POINTS_AT_ONCE) if hi - step * 2 ** k > lo]

    def newest_first(self, members, lo, hi, floors):
        """A full read: the most recently changed suppliers get exact grid points, found by going back
        from now in doubling steps; everyone older gets EARLIEST, which is no later than any change. The steps are
        asked POINTS_AT_ONCE at a time: a call or so past the one that finds the newest change is spent, once per
        first read, for a search that would otherwise go back one round trip at a time (twenty for suppliers unchanged
        for years)."""
        upper, step = hi, 1
        while members:
            index = hi - step
            if index <= lo:  # nothing changed since EARLIEST (records without LMTS)
                floors.update(dict.fromkeys(members, lo))
                return
            if index not in self.changed:
                self.ask_at_once(self.points_back(hi, lo, step))
            recent = members & self.after(index)
            if recent:
                self.search(recent, index, upper, floors)
                floors.update(dict.fromkeys(members - recent, lo))
                return
            upper, step = index - 1, step * 2

    def oldest_first(self, members, lo, hi, floors):
        """A read since a cursor: every supplier an exact grid point, found by going forward from the
        cursor in doubling steps (the suppliers read again since the last change sit just after it)."""
        base, step = lo, 1
        while members:
            index = lo + step
            if index >= hi:
                self.search(members, base, hi, floors)
                return
            later = members & self.after(index)
            self.search(members - later, base, index - 1, floors)
            members, base, step = later, index, step * 2

    def search(self, members, lo, hi, floors):
        """Binary search: each of `members` changed after grid point lo and at the latest just after hi."""
        if not members:
            return
        if lo >= hi:
            floors.update(dict.fromkeys(members, lo))
            return
        mid = (lo + hi + 1) // 2
        later = members & self.after(mid)
        self.search(later, mid, hi, floors)
        self.search(members - later, lo, mid - 1, floors)


@probe("I5", "infor", fallback="reads every supplier in full on each run, without LstSuppliers' LMTS filter (every "
                             "change marker 2000-01-01)")
def check_lmts_filter(connector):
    """I5, read-only: LstSuppliers lists nothing as changed a year from now, and of a few suppliers whose own change
    stamps the supplier master holds (m3.EXPORT), each is listed as changed after a millisecond before its stamp and
    not after the stamp itself."""
    client = connector.client
    ahead = iso_to_lmts(timezone.now() + FILTER_CHECK_AHEAD)
    listed = client.execute(m3.SUPPLIERS, {"LMTS": ahead}, maxrecs=1, columns=("SUNO",))
    if listed:
        return contradicted(f"{m3.SUPPLIERS} listed supplier {listed[0]['SUNO']} as changed after "
                            f"{lmts_to_iso(ahead)[:10]}, a year from now: it ignores its LMTS filter.")
    try:
        rows = client.execute(m3.EXPORT, {"QERY": m3.supplier_stamps_query(client.company),
                                          "SEPC": m3.EXPORT_SEPARATOR, "HDRS": "0"}, maxrecs=STAMPS_PROBED)
    except (ConfigurationError, DataError) as exc:
        return unchecked(f"{m3.SUPPLIERS} lists nothing as changed a year from now, so it filters on LMTS; whether "
                         "it selects changes after the value given or at it too could not be told, because the "
                         f"suppliers' own change stamps could not be read ({exc}).")
    stamps = []
    for row in rows:
        suno, _, stamp = (row.get("REPL") or "").partition(m3.EXPORT_SEPARATOR)
        if suno.strip() and lmts_to_iso(stamp.strip()):
            stamps.append((suno.strip(), datetime.fromisoformat(lmts_to_iso(stamp.strip()))))
    if not stamps:
        return unchecked("There is no supplier with a change stamp yet to compare the filter with.")
    for suno, moment in stamps:
        only = {"FRSU": suno, "TOSU": suno}
        if client.execute(m3.SUPPLIERS, {**only, "LMTS": iso_to_lmts(moment)}, maxrecs=1, columns=("SUNO",)):
            return contradicted(f"Supplier {suno}, changed at {moment.isoformat()}, is listed as changed after that "
                                "very stamp: LMTS selects changes at or after the value given.")
        before = iso_to_lmts(moment - timedelta(milliseconds=1))
        if not client.execute(m3.SUPPLIERS, {**only, "LMTS": before}, maxrecs=1, columns=("SUNO",)):
            return contradicted(f"Supplier {suno}, changed at {moment.isoformat()}, is not listed as changed after a "
                                "millisecond before that: LMTS does not select on the supplier's own change stamp.")
    return held(f"Nothing is listed as changed a year from now, and each of suppliers "
                f"{', '.join(suno for suno, _ in stamps)} is listed as changed after a millisecond before its own "
                "change stamp and not after the stamp itself.")


def transaction_there(client, transaction, inputs, what):
    """Whether M3 has `transaction`, asked read-only: any answer, rows or an MI error of its own, says it is there;
    a 404 says it is not."""
    try:
        rows = client.execute(transaction, inputs, maxrecs=1)
    except ConfigurationError:
        return contradicted(f"M3 answered 404 for {transaction} ({what}): this tenant has no such program or "
                            "transaction. Ask the customer whether it is built in this tenant, and under which name; "
                            "if they say it is, check that the connection's .ionapi file is this tenant's.")
    except DataError as exc:
        return held(f"M3 has {transaction} ({what}): it answered with an error of its own ({exc}).")
    return held(f"M3 has {transaction} ({what}): it answered with {len(rows)} row(s).")


class InforConnector(ErpConnector):
    def __init__(self, connection):
        super().__init__(connection)
        self.client = InforClient(connection)
        self.http = self.client.http

    def check(self):
        self.client.execute(m3.SUPPLIERS, {}, maxrecs=1)
        return (f"Signed in to Infor tenant {self.client.ionapi['ti']}; M3 answered for company "
                f"{self.client.company}.")

    def forget_token(self):
        """Revoke and drop the cached token (the credentials changed)."""
        store = TokenStore(self.connection)
        token = store.current()
        if token:
            self.client.revoke(token)
        store.clear()

    # --- reference data -------------------------------------------------------------------------------
    def gl_accounts(self):
        return [GlAccount(code=r["AITM"], name=r.get("TX40", ""), active=r.get("LCCD", "") != m3.BLOCKED_ACCOUNT)
                for r in self.client.execute(m3.GL_ACCOUNTS, {"AITP": m3.ACCOUNT_DIMENSION}, maxrecs=0)]

    def dimensions(self):
        return [Dimension(kind="department", code=r["AITM"], name=r.get("TX40", ""),
                          active=r.get("LCCD", "") != m3.BLOCKED_ACCOUNT)
                for r in self.client.execute(m3.GL_ACCOUNTS, {"AITP": m3.DEPARTMENT_DIMENSION}, maxrecs=0)]

    # --- suppliers ------------------------------------------------------------------------------------
    def suppliers(self, since=None, known=None):
        """Suppliers changed since `since` (all when None), each as soon as it is read. The supplier list
        (CRS620MI/LstSuppliers: name, tax id, currency, phone) is read first, in key ranges side by side, only the
        fields a Supplier takes (SUPPLIER_COLUMNS): the markers (ChangeFloors) need the whole list. Then, while the
        markers and the e-mail addresses (one CRS111MI/List per read) are read, in threads: per PAGE_SIZE
        suppliers the statuses from one CRS620MI/LstByNumber call (GetBasicData for any it missed), and each
        supplier's postal address (CRS620MI/LstAddresses), DETAIL_WORKERS calls at a time, DETAILS_AHEAD ahead of
        the caller at most.

        `known`: {supplier: (marker, ISO time it was read)} of the suppliers the caller holds as done. One listed
        again with that marker and unchanged since that time (ChangeFloors.unchanged) is neither read in detail nor
        handed back: an unchanged re-read within the cursor's overlap costs no call per supplier. The markers are
        then found before the details are read.

        Where the last assumption check found the LMTS filter not as assumed (I5), every supplier is read in full,
        without the filter, each with the marker EARLIEST: nothing is left out whichever way M3 selects."""
        unfiltered = self.connection.assumption_contradicted("I5")
        if unfiltered or (since is not None and since <= EARLIEST):
            since = None  # before any marker we hand out: read everything, including records without LMTS
        now = timezone.now()
        inputs = {"LMTS": iso_to_lmts(since)} if since else {}
        rows = sorted((r for page in self.client.pages(m3.SUPPLIERS, inputs, "SUNO", "FRSU", "TOSU", LIST_PAGE_SIZE,
                                                       SUPPLIER_COLUMNS) for r in page), key=lambda r: r["SUNO"])
        floors = ChangeFloors(self.client, unfiltered=unfiltered)
        markers = None
        if rows and known:
            markers = floors.markers({r["SUNO"] for r in rows}, since, now)
            unchanged = floors.unchanged(markers, known)
            rows = [r for r in rows if r["SUNO"] not in unchanged]
        if not rows:
            return
        chunks = (rows[start:start + PAGE_SIZE] for start in range(0, len(rows), PAGE_SIZE))
        with Pool(chunks, self.supplier_work, DETAIL_WORKERS, ahead=DETAILS_AHEAD) as details:
            # The markers and the e-mail addresses depend on nothing but the list: read side by side.
            markers, emails = fan_out(lambda read: read(), (
                lambda: markers or floors.markers({r["SUNO"] for r in rows}, since, now), self.supplier_emails), 2)
            for row, detail in details:
                yield self._supplier(row, detail, emails, markers[row["SUNO"]])

    def supplier_work(self, task):
        """A page of suppliers: a task for their statuses, and one per supplier, at once (a supplier's address does
        not wait for the statuses: it takes them when it has its own); the statuses: read; a supplier: its (row,
        details)."""
        if isinstance(task, list):
            statuses = Future()
            return None, [(STATUSES, task, statuses), *((row, statuses) for row in task)]
        if task[0] is STATUSES:
            _, chunk, statuses = task
            try:
                statuses.set_result(self.listed_statuses(chunk))
            except BaseException as exc:  # the page's suppliers wait on it: they fail with it, as the read does
                statuses.set_exception(exc)
                raise
            return None, []
        row, statuses = task
        return (row, self.supplier_details(row, statuses)), []

    def listed_statuses(self, chunk):
        """{supplier: STAT} for a page of suppliers, from one LstByNumber call starting at its first."""
        try:
            records = self.client.execute(m3.SUPPLIERS_BY_NUMBER, {"SUNO": chunk[0]["SUNO"]}, maxrecs=len(chunk),
                                          columns=("SUNO", "STAT"))
        except DataError:
            return {}
        return {r["SUNO"]: r.get("STAT", "") for r in records}

    @probe("I9", "infor", stops=(can.READS_SUPPLIERS,))
    def check_supplier_statuses(self):
        """I9, read-only: the statuses of the first page of suppliers (LstByNumber) include 20, the one taken as
        active; every other one seen is said, as not active."""
        first = self.client.execute(m3.SUPPLIERS, {}, maxrecs=1, columns=("SUNO",))
        if not first:
            return unchecked("M3 lists no supplier yet, so no supplier status can be seen.")
        records = self.client.execute(m3.SUPPLIERS_BY_NUMBER, {"SUNO": first[0]["SUNO"]}, maxrecs=LIST_PAGE_SIZE,
                                      columns=("SUNO", "STAT"))
        counts = Counter(r.get("STAT", "") for r in records)
        seen = ", ".join(f"{status or 'blank'} ({n})" for status, n in sorted(counts.items()))
        others = sorted(set(counts) - m3.ACTIVE_SUPPLIER_STATUSES)
        if not set(counts) & m3.ACTIVE_SUPPLIER_STATUSES:
            return contradicted(f"None of the first {len(records)} suppliers has status "
                                f"{', '.join(sorted(m3.ACTIVE_SUPPLIER_STATUSES))}, the one taken as active (statuses "
                                f"seen: {seen}): every supplier would be taken as inactive.")
        return held(f"Statuses of the first {len(records)} suppliers: {seen}"
                    + (f"; taken as not active: {', '.join(s or 'blank' for s in others)}." if others else "."))

    def supplier_details(self, row, statuses):
        """(status, address) of one supplier, or the error that stopped its reads: the DataError M3 answered, or a
        TransientError after the call's retries (that supplier alone fails, to be read again by the next run). Its
        status comes from its page's (`statuses`, a future of {supplier: STAT}: a failure there fails the read), or is
        read here if the page's did not have it."""
        suno = row["SUNO"]
        try:
            addresses = self.client.execute(m3.SUPPLIER_ADDRESSES, {"SUNO": suno}, maxrecs=0, columns=ADDRESS_COLUMNS)
        except (DataError, TransientError) as exc:
            return exc
        status = statuses.result().get(suno)
        try:
            if status is None:
                records = self.client.execute(m3.SUPPLIER, {"SUNO": suno}, maxrecs=1, columns=("STAT",))
                status = records[0].get("STAT", "") if records else ""
        except (DataError, TransientError) as exc:
            return exc
        return status, postal_address(addresses, row)

    def supplier_emails(self):
        records = self.client.execute(m3.EMAILS, {"EMTP": m3.SUPPLIER_EMAIL_TYPE}, maxrecs=0)
        return {r["EMKY"]: r.get("EMAL", "") for r in records if r.get("EMKY")}

    @probe("I8", "infor", stops=(can.READS_SUPPLIERS,))
    def check_supplier_email_type(self):
        """I8, read-only: which of the e-mail types EMAIL_TYPES_PROBED hold addresses keyed by the first page of
        supplier numbers (one CRS111MI/List per type, from the first of them on)."""
        suppliers = {r["SUNO"] for r in self.client.execute(m3.SUPPLIERS, {}, maxrecs=LIST_PAGE_SIZE,
                                                            columns=("SUNO",))}
        if not suppliers:
            return unchecked("M3 lists no supplier yet, so no e-mail address can be matched to one.")
        keyed = {}
        for emtp in EMAIL_TYPES_PROBED:
            try:
                records = self.client.execute(m3.EMAILS, {"EMTP": emtp, "EMKY": min(suppliers)},
                                              maxrecs=LIST_PAGE_SIZE)
            except DataError:
                continue  # a type this tenant does not have
            hits = sum(r.get("EMKY") in suppliers for r in records)
            if hits:
                keyed[emtp] = hits
        which = f"the first {len(suppliers)} supplier numbers"
        found = ", ".join(f"type {emtp} ({n})" for emtp, n in keyed.items())
        if m3.SUPPLIER_EMAIL_TYPE in keyed:
            return held(f"E-mail addresses keyed by {which}: {found}.")
        if keyed:
            return contradicted(f"No e-mail address of type {m3.SUPPLIER_EMAIL_TYPE} is keyed by {which}; these "
                                f"types are: {found}.")
        return unchecked(f"No e-mail address of types {EMAIL_TYPES_PROBED[0]} to {EMAIL_TYPES_PROBED[-1]} is keyed "
                         f"by {which}: the suppliers may have none, or they are kept elsewhere (supplier references, "
                         "CRS620MI/LstSupplierRef).")

    def _supplier(self, row, detail, emails, marker):
        suno = row["SUNO"]
        if isinstance(detail, DataError):
            return Unreadable("vendor", suno, f"{suno} {row.get('SUNM', '')}".strip(),
                              f"Infor supplier {suno}: {detail}", marker)
        if isinstance(detail, TransientError):
            return Unreadable("vendor", suno, f"{suno} {row.get('SUNM', '')}".strip(),
                              f"Infor did not answer properly about supplier {suno} after retries: {detail}", marker,
                              error_class=detail.error_class, cause=detail.cause)
        status, address = detail
        return Supplier(source_id=suno, name=row.get("SUNM", ""), tax_id=row.get("TINO", ""),
                        currency=row.get("CUCD") or "USD", email=emails.get(suno, ""), phone=row.get("PHNO", ""),
                        active=status in m3.ACTIVE_SUPPLIER_STATUSES, address=address, updated_marker=marker)

    # --- invoices -------------------------------------------------------------------------------------
    def approved_invoices(self, since=None, include_held=False):
        """Approved invoices changed since `since`, a page of the custom list at a time, read in key ranges side by
        side (pages in the order they come in). One with a payment stop (IVBL) is held: yielded, marked `held`,
        only with `include_held` (the list returns it either way). Where the last assumption check found F_LMTS not as
        assumed (I2), every approved invoice is read, without it."""
        if self.connection.assumption_contradicted("I2"):
            since = None
        inputs = {"F_LMTS": iso_to_lmts(since)} if since else {}
        for page in self.client.pages(m3.APPROVED_INVOICES, inputs, "KEY", "F_KEY", "T_KEY", LIST_PAGE_SIZE):
            grouped = {}
            for row in page:  # an invoice's lines all come in one page
                grouped.setdefault(row["KEY"], []).append(row)
            for key, lines in grouped.items():
                invoice = self._invoice(key, lines)
                if include_held or getattr(invoice, "held", None) is None:
                    yield invoice

    @probe("I1", "infor", stops=(can.READS_APPROVED_INVOICES, can.REPORTS_HELD_INVOICES))
    def check_approved_invoices_list(self):
        """I1, read-only: the custom list of approved invoices answers (one row asked for)."""
        return transaction_there(self.client, m3.APPROVED_INVOICES, {}, "the custom list of approved invoices")

    @probe("I2", "infor", fallback="reads every approved invoice on each run, without the list's F_LMTS filter")
    def check_invoice_change_filter(self):
        """I2, read-only, the F_LMTS part of it: the list gives nothing as changed a year from now, and gives its first
        invoice as changed after a millisecond before the invoice's own LMTS and not after that LMTS itself."""
        ahead = iso_to_lmts(timezone.now() + FILTER_CHECK_AHEAD)
        try:
            listed = self.client.execute(m3.APPROVED_INVOICES, {"F_LMTS": ahead}, maxrecs=1)
        except ConfigurationError:
            return unchecked(f"There is no approved invoice list to ask: M3 has no {m3.APPROVED_INVOICES} (I1).")
        if listed:
            return contradicted(f"{m3.APPROVED_INVOICES} gave invoice {listed[0].get('KEY', '?')} as changed after "
                                f"{lmts_to_iso(ahead)[:10]}, a year from now: it ignores F_LMTS.")
        first = self.client.execute(m3.APPROVED_INVOICES, {}, maxrecs=1)
        stamp = lmts_to_iso(first[0].get("LMTS")) if first else ""
        if not stamp or not first[0].get("KEY"):
            return unchecked("There is no approved invoice with a KEY and a change stamp (LMTS) yet to compare the "
                             "filter with.")
        key, moment = first[0]["KEY"], datetime.fromisoformat(stamp)
        only = {"F_KEY": key, "T_KEY": key}
        if self.client.execute(m3.APPROVED_INVOICES, {**only, "F_LMTS": iso_to_lmts(moment)}, maxrecs=1):
            return contradicted(f"Invoice {key}, changed at {stamp}, is given as changed after that very stamp: F_LMTS "
                                "selects changes at or after the value given.")
        before = iso_to_lmts(moment - timedelta(milliseconds=1))
        if not self.client.execute(m3.APPROVED_INVOICES, {**only, "F_LMTS": before}, maxrecs=1):
            return contradicted(f"Invoice {key}, changed at {stamp}, is not given as changed after a millisecond "
                                "before that: F_LMTS does not select on the invoice's LMTS.")
        return held(f"Nothing is given as changed a year from now, and invoice {key} is given as changed after a "
                    "millisecond before its LMTS and not after that LMTS itself.")

    def _invoice(self, key, rows):
        head = rows[0]
        ref = f"Infor invoice {head.get('SINO', '?')} of supplier {head.get('SUNO', '?')}"
        try:
            lines = tuple(
                InvoiceLine(amount=m3_amount(r.get("LNAM"), "LNAM", ref), gl_account=r.get(m3.ACCOUNT_FIELD, ""),
                            description=r.get("LNDE", ""),
                            dimensions={"department": r[m3.DEPARTMENT_FIELD]} if r.get(m3.DEPARTMENT_FIELD) else {},
                            po_number=r.get("PUNO", ""))
                for r in sorted(rows, key=lambda r: line_number(r, ref)))
            if not head.get("SUNO"):
                raise DataError(f"{ref} names no supplier (SUNO).", field="SUNO")
            return Invoice(
                source_id=key, supplier_id=head["SUNO"], invoice_number=head.get("SINO", ""),
                invoice_date=m3_date(head.get("IVDT"), "IVDT", ref), due_date=m3_date(head.get("DUDT"), "DUDT", ref),
                total=m3_amount(head.get("CUAM"), "CUAM", ref), currency=head.get("CUCD") or "USD", lines=lines,
                po_number=next((line.po_number for line in lines if line.po_number), ""),
                description=f"Infor voucher {key.replace(m3.INVOICE_KEY_SEPARATOR, ' ')}",
                updated_marker=lmts_to_iso(head.get("LMTS")),
                reference={k: head.get(k, "") for k in (*m3.INVOICE_KEY_FIELDS, "SUNO", "SINO")},
                held=payment_stop(head.get("IVBL"), ref))
        except DataError as exc:
            number = str(head.get("SINO") or "")
            return Unreadable("bill", key, f"{number or key} ({head.get('SUNO', '?')})", str(exc),
                              lmts_to_iso(head.get("LMTS")), number=number)

    def open_invoices(self):
        """Every approved invoice not fully paid, for what is still to pay on it (CUAM - PAAM), from the open
        invoices list (m3.OPEN_INVOICES, UNCONFIRMED I15), a page at a time. Its source_id is the KEY
        approved_invoices() gives the invoice. A row that cannot be read fails the whole read: a total that left
        it out would mislead. Where the last assumption check found no such list (I15), M3 is not asked."""
        if self.connection.assumption_contradicted("I15"):
            raise ConfigurationError(f"The last assumption check found that M3 has no {m3.OPEN_INVOICES} (I15), the "
                                     "list of what is still to pay on each invoice. Check the assumptions again once "
                                     "the customer has it.")
        for page in self.client.pages(m3.OPEN_INVOICES, {}, "KEY", "F_KEY", "T_KEY", LIST_PAGE_SIZE):
            for row in page:
                item = self._open_item(row)
                if item is not None:
                    yield item

    @probe("I15", "infor", fallback="the open payables tie-out says the tenant has no open invoices list, without "
                                    "asking M3")
    def check_open_invoices_list(self):
        """I15, read-only: the custom list of open invoices answers (one row asked for)."""
        return transaction_there(self.client, m3.OPEN_INVOICES, {}, "the custom list of open invoices")

    def _open_item(self, row):
        ref = f"Infor invoice {row.get('SINO') or '?'} of supplier {row.get('SUNO') or '?'} ({row.get('KEY')})"
        state = row.get("PYST", "")
        if state not in m3.INVOICE_PAYMENT_STATES:
            raise DataError(f"{ref}: PYST {state!r} is not one of {', '.join(m3.INVOICE_PAYMENT_STATES)}, so what is "
                            "still to pay on it is not known.", field="PYST")
        total, paid = m3_amount(row.get("CUAM"), "CUAM", ref), m3_amount(row.get("PAAM") or "0", "PAAM", ref)
        if state == m3.INVOICE_PAID:
            return None
        if not row.get("KEY") or not row.get("SUNO"):
            raise DataError(f"{ref}: the open invoices list gives it without its KEY or supplier.")
        if paid >= total:
            currency = row.get("CUCD") or "USD"
            raise DataError(f"{ref}: the open invoices list has it {state} with {money(paid, currency)} of "
                            f"{money(total, currency)} paid, which does not say what is still to pay.", field="PAAM")
        return OpenItem(source_id=row["KEY"], number=row.get("SINO", ""), supplier_id=row["SUNO"],
                        amount=total - paid, currency=row.get("CUCD") or "USD", total=total)

    # --- invoice images -------------------------------------------------------------------------------
    def invoice_documents(self, invoice_reference):
        """The invoice's images in Infor Document Management, where the connection keeps them there (option
        document_store); [] where it has no document store, or IDM has no image of this invoice. Each is
        downloaded only when read, a piece at a time."""
        options = self.connection.options or {}
        if options.get("document_store") != idm.DOCUMENT_STORE:
            return []
        missing = [k for k in ("DIVI", "SUNO", "SINO") if not invoice_reference.get(k)]
        if missing:
            raise DataError(f"The invoice's Infor reference lacks {', '.join(missing)}, so its image cannot be looked "
                            "up in Infor Document Management.")
        values = {"CONO": self.client.company, **{k: str(invoice_reference[k]) for k in ("DIVI", "SUNO", "SINO")}}
        query = idm.query(options.get("idm_document_type") or idm.DOCUMENT_TYPE, values)
        if query is None:
            raise DataError(f"Invoice {values['SINO']} of supplier {values['SUNO']} has a double quote in its number, "
                            "which an Infor Document Management query cannot hold.")
        return [self._document(item, values) for item in self.client.idm_items(query)]

    def _document(self, item, values):
        where = f"Infor Document Management item of invoice {values['SINO']} (supplier {values['SUNO']})"
        if not isinstance(item, dict) or not isinstance(item.get("pid"), str) or not item["pid"]:
            raise DataError(f"{where}: the item has no pid.")
        pid = item["pid"]
        resource = idm.main_resource(item)
        if resource is None:
            raise DataError(f"{where} {pid}: the item has no file.")
        name, mimetype, size = resource.get("filename"), resource.get("mimetype"), resource.get("size")
        if not isinstance(name, str) or not name or not isinstance(mimetype, str) or not mimetype:
            raise DataError(f"{where} {pid}: its file has no filename or mimetype.")
        try:
            size = None if size in (None, "") else int(size)
        except (TypeError, ValueError):
            raise DataError(f"{where} {pid}: its size {size!r} is not a number of bytes.") from None
        return Document(name=name, content_type=mimetype, size=size,
                        chunks=lambda: self.client.idm_content(pid, name))

    # --- payments back --------------------------------------------------------------------------------
    def post_payment(self, invoice_reference, payment):
        """Record an AP payment's share on the invoice, looked up first (the extension's Add is not idempotent).
        A payment the AP platform undid (voided, returned, escheated: paid False, reversed True) is reversed on
        the row recorded before, with what happened, why, when and the reference in words in RVTX
        (reversals.reversal_text); one never recorded has nothing to reverse."""
        # The reference is a check number, trace or transaction number: text from the AP platform, but whatever
        # comes is made text before it is cut to the extension's field length.
        reference = "" if payment.reference is None else str(payment.reference)
        reversal = not payment.paid and payment.reversed
        inputs = {**{k: str(invoice_reference[k]) for k in m3.INVOICE_KEY_FIELDS},
                  "PYID": str(payment.payment_id), "PYAM": f"{payment.amount:.2f}",
                  "PYDT": (payment.process_date or timezone.now().date()).strftime("%Y%m%d"),
                  "PYST": m3.PAYMENT_PAID if payment.paid else m3.PAYMENT_VOIDED,
                  "REFE": reference[:m3.REFERENCE_LENGTH],
                  "RVTX": reversal_text(payment, limit=m3.REASON_LENGTH) if reversal else ""}
        key = {k: inputs[k] for k in (*m3.INVOICE_KEY_FIELDS, "PYID")}
        existing = self._payment(key)
        if existing is None:
            if reversal:
                return f"payment {payment.payment_id} was never recorded, so there is nothing to reverse"
            try:
                self.client.execute(m3.ADD_PAYMENT, inputs)
                return f"added payment {payment.payment_id}"
            except DataError as exc:
                if m3.ALREADY_EXISTS not in str(exc):
                    raise
                existing = self._payment(key)
        if existing and all(existing.get(k) == inputs[k] for k in ("PYDT", "PYST", "RVTX")) \
                and existing.get("PYAM") == payment.amount:
            return f"payment {payment.payment_id} already recorded"
        self.client.execute(m3.UPDATE_PAYMENT, inputs)
        if reversal:
            return f"reversed payment {payment.payment_id}: {inputs['RVTX']}"
        return f"updated payment {payment.payment_id} to {inputs['PYST']}"

    @probe("I3", "infor", stops=(can.WRITES_PAYMENTS_BACK,))
    def check_payments_extension(self):
        """I3, read-only: the payments extension answers GetPayment (asked for a payment id no one records)."""
        return transaction_there(self.client, m3.GET_PAYMENT, {"PYID": PROBE_PAYMENT_ID}, "the payments extension")

    @probe("I4", "infor", stops=(can.WRITES_PAYMENTS_BACK,))
    def check_payment_not_found_message(self):
        """I4, read-only: looking up a payment no one recorded, on a real invoice, answers "does not exist" (or no
        row), as _payment() needs to add one."""
        try:
            invoices = self.client.execute(m3.APPROVED_INVOICES, {}, maxrecs=1)
        except ConfigurationError:
            return unchecked(f"There is no approved invoice list to take an invoice from: M3 has no "
                             f"{m3.APPROVED_INVOICES} (I1).")
        if not invoices:
            return unchecked("There is no approved invoice yet to look a payment up on.")
        key = {k: invoices[0].get(k, "") for k in m3.INVOICE_KEY_FIELDS}
        where = f"payment {PROBE_PAYMENT_ID} of invoice {m3.invoice_key(*key.values())}"
        try:
            records = self.client.execute(m3.GET_PAYMENT, {**key, "PYID": PROBE_PAYMENT_ID})
        except ConfigurationError:
            return unchecked(f"The payments extension is not there to ask: M3 has no {m3.GET_PAYMENT} (I3).")
        except DataError as exc:
            if m3.DOES_NOT_EXIST in str(exc):
                return held(f"Asked for {where}, which no one records, {m3.GET_PAYMENT} answered: {exc}")
            return contradicted(f"Asked for {where}, which no one records, {m3.GET_PAYMENT} answered \"{exc}\", "
                                f"without \"{m3.DOES_NOT_EXIST}\": no payment could be added.")
        if records:
            return unchecked(f"{m3.GET_PAYMENT} answered a row for {where}, which no one should record.")
        return held(f"Asked for {where}, which no one records, {m3.GET_PAYMENT} answered no row.")

    def _payment(self, key):
        """The extension's row for one invoice and payment id, or None."""
        try:
            records = self.client.execute(m3.GET_PAYMENT, key)
        except DataError as exc:
            if m3.DOES_NOT_EXIST in str(exc):
                return None
            raise
        if not records:
            return None
        record = records[0]
        try:
            record["PYAM"] = Decimal(record["PYAM"])
        except (InvalidOperation, KeyError):
            record["PYAM"] = None
        return record
