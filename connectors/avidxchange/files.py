"""The file exchange with AvidXchange, for customers without API access: the layout of every file, written
once here for the connector and the simulator alike, and the folder they travel through.

Public, third-party: AvidXchange integrations without API exchange CSV files — vendors, approved invoices
whose lines map to GL by account number, and payment files back — through a location AvidXchange
provisions during onboarding (https://docs.dualentry.com/accountants/integrations/avid,
https://www.spectra.ca/HelpFiles/AvidXchange.html, where the vendor id on the file is a 10-character
alphanumeric id that must match exactly). The column names, file names, formats and the folder layout below
are ours: UNCONFIRMED (docs/ASSUMPTIONS.md X9, X10), to be replaced by the layouts AvidXchange gives at
onboarding, here and nowhere else.

The folder (the connection's "folder" option):
- outbound/  files for AvidXchange; the customer's transfer job takes them (and may delete them).
- inbound/   payment files from AvidXchange, put there by the transfer job. Read, never changed or removed:
             the payments cursor and the ledger keep each share written once, and a replay reads them again.
- sent/      our own copy of every outbound file, which the transfer job never touches: what was written
             before a crash is found there by the next run instead of being written twice.

Every file is written whole under a temporary name in the same folder and then linked to its final name,
which never exists already (names carry a time and a random part), so a reader never sees half a file and
no file is ever rewritten. A disk that fills up while a file is written leaves no part of it behind: the file fails,
in words (DiskFull), and the next run writes it whole.
"""

import contextlib
import csv
import errno
import hashlib
import io
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from connectors.errors import ConfigurationError, DataError, TransientError

OUTBOUND, INBOUND, SENT = "outbound", "inbound", "sent"
IMAGES = "images"
ENCODING = "utf-8"
# UNCONFIRMED (X9): Spectra's import matches a 10-character alphanumeric VendorID exactly.
VENDOR_ID_LENGTH = 10
CODE_LENGTH = 30
# UNCONFIRMED (X10): one header row, these columns in this order; dates yyyy-MM-dd, times ISO 8601 with offset,
# amounts with a dot and two decimals, Active Y or N.
LAYOUTS = {
    "payees": ("VendorID", "VendorName", "TaxID", "AddressLine1", "AddressLine2", "City", "State", "PostalCode",
               "Country", "Email", "Phone", "Currency"),
    "codes": ("ListType", "Code", "Name", "Active"),
    # One row per invoice line; the header fields repeat on every line of the invoice.
    "invoices": ("VendorID", "InvoiceNumber", "InvoiceDate", "DueDate", "InvoiceAmount", "Currency", "PONumber",
                 "Description", "ExternalID", "LineNumber", "LineAmount", "GLAccount", "Department", "Location",
                 "Class", "Project", "Subaccount", "LineDescription", "LinePONumber"),
    # Which image in outbound/images/ belongs to which invoice.
    "images": ("VendorID", "InvoiceNumber", "FileName", "ContentType", "Size", "SHA256"),
    # Inbound: one row per invoice a payment pays, written again at each change of the payment's status.
    "payments": ("PaymentID", "Status", "StatusTime", "Method", "CheckNumber", "ACHTraceNumber",
                 "CardConfirmationNumber", "SettlementDate", "PaymentAmount", "Currency", "VendorID", "InvoiceNumber",
                 "AmountPaid"),
}
# The order AvidXchange's import takes the kinds in: codes and payees before the invoices that use them.
IMPORT_ORDER = ("codes", "payees", "invoices", "images")
# Invoice line columns per dimension kind (GL accounts have their own).
DIMENSION_COLUMNS = {"department": "Department", "location": "Location", "class": "Class", "project": "Project",
                     "subaccount": "Subaccount"}


def file_name(kind, suffix=".csv"):
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{kind}_{stamp}_{secrets.token_hex(4)}{suffix}"


def kind_of(name):
    return name.split("_", 1)[0]


def bill_id(vendor_id, invoice_number):
    """How the file exchange names an invoice: the vendor id and the invoice number, which is how payment
    files refer to it."""
    return f"{vendor_id}|{invoice_number}"


def csv_text(kind, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LAYOUTS[kind], lineterminator="\r\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, "") for column in LAYOUTS[kind]})
    return out.getvalue().encode(ENCODING)


def confined(path):
    """`path`, once its real location (every symbolic link followed) is known to be inside FILE_EXCHANGE_ROOT.

    The form checks the folder when it is typed, but a subfolder (outbound/, sent/, inbound/) or a file in it can
    be a symbolic link that someone on the server made later; the server must not write or read through it to a
    place outside the root. Checked before every write and every read, not once."""
    root = os.path.realpath(settings.FILE_EXCHANGE_ROOT)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ConfigurationError(f"{path} leads outside {root} (the server's FILE_EXCHANGE_ROOT), through a "
                                 "symbolic link: nothing is written or read there. Replace the link with a folder.")
    return path


# What a write answers when the disk (or the user's quota on it) has no room left.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(TransientError):
    """A file of the exchange could not be written whole for want of space: passing, once someone frees the disk.
    Its words are complete (in_full): the AP platform did not refuse or fail anything, our own disk did."""

    cause = "disk_full"
    in_full = True


@contextlib.contextmanager
def room_on_disk(directory):
    """A write in `directory` that meets a full disk raises DiskFull, in words; any other error as it came."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        raise DiskFull(f"The file for AvidXchange could not be written: the disk is full (the exchange folder "
                       f"{directory}: {exc.strerror or os.strerror(exc.errno)}). Nothing was left under a final name; "
                       "the next run writes it again once there is room.") from None


@contextlib.contextmanager
def staged(directory, write):
    """A file written whole under a temporary name in `directory` by `write(handle)` and synced to disk; the value
    is its path. It is removed when the context ends: `link` it to a name before then to keep it."""
    confined(directory).mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix=".tmp-", delete=False)
    temporary = Path(handle.name)
    try:
        with room_on_disk(directory), handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def link(temporary, final):
    """Give a staged file its final name. The link fails rather than replace a file that exists, so nothing is ever
    rewritten."""
    confined(final)
    try:
        with room_on_disk(final.parent):
            os.link(temporary, final)
    except (FileExistsError, DiskFull):
        raise
    except OSError:
        # No hard links on this filesystem (some network shares): a rename, which replaces silently, so the name is
        # checked first; names are new by construction (file_name), so nothing races for it.
        if final.exists():
            raise FileExistsError(f"{final} exists already.") from None
        os.rename(temporary, final)


def publish(directory, name, write):
    """Write a file whole under a temporary name, then link it to `name`. `write(handle)` fills the file."""
    with staged(directory, write) as temporary:
        link(temporary, directory / name)


@dataclass(frozen=True)
class StagedImage:
    """An image streamed whole into a temporary file in outbound/images/, not yet named."""

    path: Path
    size: int
    sha256: str

    def publish(self, name):
        link(self.path, self.path.parent / name)


def read_rows(path, kind):
    """(line number, row) of a CSV file of `kind`; a file whose header is not the layout is refused whole."""
    with open(confined(path), newline="", encoding=ENCODING) as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != LAYOUTS[kind]:
            raise DataError(f"{path.name} does not have the {kind} layout (columns {', '.join(LAYOUTS[kind])}).")
        for row in reader:
            yield reader.line_num, row


def outside_root(folder):
    """Why `folder` may not be an exchange folder, or None. Staff type it: the server writes under
    FILE_EXCHANGE_ROOT only."""
    root = os.path.realpath(settings.FILE_EXCHANGE_ROOT)
    if not os.path.isabs(folder) or ".." in folder.replace("\\", "/").split("/"):
        return f"The exchange folder is an absolute path without '..', e.g. {root}/acme."
    try:
        confined(folder)
    except ConfigurationError:
        return f"The exchange folder must be inside {root} (the server's FILE_EXCHANGE_ROOT)."
    return None


class Exchange:
    """The connector's side of the folder."""

    def __init__(self, folder):
        if not folder:
            raise ConfigurationError("The AvidXchange connection is in file mode but has no exchange folder. Enter the "
                                     "folder the customer's transfer job uses.")
        problem = outside_root(folder)
        if problem:
            raise ConfigurationError(problem)
        self.folder = Path(folder)
        self.outbound, self.inbound, self.sent = (self.folder / d for d in (OUTBOUND, INBOUND, SENT))
        self._rows = None  # kind -> rows of every file in sent/, in the order written
        self._ready = False

    def ready(self):
        """The folders, made where missing; files left in sent/ but not delivered by a crash, delivered."""
        if self._ready:
            return
        if not self.folder.is_dir():
            raise ConfigurationError(f"The AvidXchange exchange folder {self.folder} does not exist (or is not a "
                                     "folder on this server).")
        try:
            confined(self.folder)
            for directory in (self.outbound, self.inbound, self.sent, self.outbound / IMAGES):
                confined(directory).mkdir(exist_ok=True)
            for path in sorted(self.sent.glob("*.csv")):
                if not (self.sent / f"{path.name}.delivered").exists():
                    self.deliver(path.name)
        except PermissionError as exc:
            raise ConfigurationError(f"The AvidXchange exchange folder {self.folder} cannot be written to "
                                     f"({exc.strerror}).") from None
        self._ready = True

    def deliver(self, name):
        """Hand a file kept in sent/ to the transfer job. A crash before the marker delivers it once more; the
        import takes payees and codes again as they are, and refuses an invoice it already has (X10)."""
        if not (self.outbound / name).exists():
            publish(self.outbound, name, lambda handle: handle.write(confined(self.sent / name).read_bytes()))
        confined(self.sent / f"{name}.delivered").touch()

    def write(self, kind, rows):
        """Write `rows` as one new file of `kind`: kept in sent/ first, then delivered to outbound/."""
        self.ready()
        name = file_name(kind)
        content = csv_text(kind, rows)
        publish(self.sent, name, lambda handle: handle.write(content))
        self.deliver(name)
        if self._rows is not None:
            self._rows.setdefault(kind, []).extend(rows)
        return name

    def sent_rows(self, kind):
        """Every row of every file of `kind` written so far, oldest first."""
        self.ready()
        if self._rows is None:
            self._rows = {}
            for path in sorted(self.sent.glob("*.csv")):
                self._rows.setdefault(kind_of(path.name), []).extend(
                    row for _, row in read_rows(path, kind_of(path.name)))
        return self._rows.get(kind, [])

    @contextlib.contextmanager
    def staged_image(self, chunks, limit, what):
        """Stream an image into a temporary file in outbound/images/, a piece at a time, hashing it as it goes;
        refuse it past `limit` bytes. The value is a StagedImage: what its hash says decides whether it is published
        under a name; it is removed when the context ends either way."""
        self.ready()
        digest, size = hashlib.sha256(), 0

        def write(handle):
            nonlocal size
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise too_large(what, size, limit, exact=False)
                digest.update(chunk)
                handle.write(chunk)

        with staged(self.outbound / IMAGES, write) as temporary:
            yield StagedImage(temporary, size, digest.hexdigest())

    def payment_files(self):
        self.ready()
        return sorted(p for p in self.inbound.glob("payments_*.csv") if p.is_file())


def megabytes(size):
    return f"{size / 1024 / 1024:.1f} MB"


def too_large(what, size, limit, exact=True):
    said = megabytes(size) if exact else f"more than {megabytes(limit)}"
    return DataError(f"{what} is {said}; AvidXchange takes invoice images of at most {megabytes(limit)} "
                     "(the connection's limit). Attach it by hand in AvidSuite, or raise the limit if AvidXchange "
                     "allows more.", field="size")
