"""The floor of a first run: the least time the documented limits of both systems allow for what it did, so that a
bench can say how far above it a run is.

A run's work falls in levels that the documentation makes sequential, each waiting for the one before: a sign-in
before any call (every system here signs in first: BILL's Login, IFS's IAM token, Infor's ION API token,
Acumatica's login, SYSPRO's logon, AvidXchange's token); then the reads (an ERP's suppliers and invoices must be
read before they are sent; an AP platform's payments before they are written back; an Infor supplier's address
call takes its supplier's id, so it follows the supplier list); then the AP platform's creates (a bill names its
vendor's id, BILL createbulkbills' vendorId, so a bill's bulk call follows its vendor's); then the follow-ups of the
bills made (a transfer mark, a payment written to the ERP). Within a level the two systems work at once. Each level
counts at least one round trip of the simulated latency, or what its calls need under their system's documented
batch sizes and concurrency or rate limit; the floor is the sum of the levels (the critical path).

Only what the documentation forces is counted, never a call our design adds: no reference-data read (a rule's
target id may be known from before), no look-up before a create, no reading of payments on a first run. A limit
given here is what the sources say (docs/ASSUMPTIONS.md and /work/shared/reference name them); a limit nobody
documents is left out, which lowers the floor rather than raising it."""

import math

# BILL (developer.bill.com createbulkvendor, createbulkbills, api-rate-limits): 20 vendors and 100 bills a bulk
# call, 3 calls in flight per developer key and organization (BDC_1322).
BILL_VENDORS_PER_CALL, BILL_BILLS_PER_CALL, BILL_IN_FLIGHT = 20, 100, 3
# AvidXchange (ASSUMPTIONS X3, X4, open): 100 payees or invoices a batch, 4 calls in flight per company.
AVID_PER_BATCH, AVID_IN_FLIGHT = 100, 4
# Infor (Infor OS usage entitlements: at most 3,000 API calls a minute per tenant; CMS100MI custom lists answer
# at most 10,000 records a call; maxrecs=0 answers every row of a standard list). M3 has no list of every
# supplier's address: CRS620MI/LstAddresses takes one supplier (SUNO, required).
INFOR_CALLS_PER_MINUTE, INFOR_CUSTOM_LIST_RECORDS = 3000, 10000
# IFS (ASSUMPTIONS F7, open): 1,000 calls a minute per instance; the largest page is not documented (F8), nor the
# largest $batch (F12): the transfer marks may all go in one.
IFS_CALLS_PER_MINUTE = 1000

# The levels of a run, in the order the documentation makes them follow one another.
SIGN_IN, READS, CREATES, FOLLOW_UPS = "sign-in", "reads", "creates", "follow-ups"
LEVELS = (SIGN_IN, READS, CREATES, FOLLOW_UPS)


def minutes(calls):
    """The minutes of Infor's limit that `calls` calls take."""
    return max(math.ceil(calls / INFOR_CALLS_PER_MINUTE), 1)


def rounds(calls, in_flight):
    """Round trips for `calls` calls at most `in_flight` at a time."""
    return math.ceil(calls / in_flight)


def per_minute(calls, limit, latency):
    """Seconds for `calls` calls under a limit of `limit` calls a minute, nothing else limiting them: the calls past
    each minute's `limit` wait for the next minute; within a minute they may all be in flight at once. UNCONFIRMED
    (docs/ASSUMPTIONS.md C3): a fixed minute, and no limit on calls in flight."""
    return (max(math.ceil(calls / limit), 1) - 1) * 60 + latency


def part(system, calls, levels, how):
    """One system's share: its calls, and the seconds it needs at each level it works in ({level: seconds});
    `seconds` is their sum, the system on its own."""
    levels = {level: round(seconds, 3) for level, seconds in levels.items() if seconds}
    return {"system": system, "calls": calls, "seconds": round(sum(levels.values()), 3), "levels": levels,
            "how": how}


def creates(system, first, then, per_first, per_then, in_flight, latency, what):
    """Bulk creates of `first` objects, then of `then` objects that name them (vendors, then their bills): all at
    most `in_flight` at a time, and, when there are both, at least two round trips (a bill's call waits for its
    vendor's)."""
    calls = math.ceil(first / per_first) + math.ceil(then / per_then)
    trips = max(rounds(calls, in_flight), bool(first) + bool(then))
    how = (f"sign-in; then ceil({first} {what[0]} / {per_first}) + ceil({then} {what[1]} / {per_then}) bulk creates, "
           f"{in_flight} in flight, the {what[1]} after their {what[0]}: {trips} round trips")
    return calls, {SIGN_IN: latency, CREATES: trips * latency}, how


def bill(vendors, bills, latency):
    calls, levels, how = creates("bill", vendors, bills, BILL_VENDORS_PER_CALL, BILL_BILLS_PER_CALL, BILL_IN_FLIGHT,
                                 latency, ("vendors", "bills"))
    return part("bill", calls, levels, how)


def avidxchange(payees, invoices, latency, payments_read=False, code_lists=0, images=0):
    """Batch creates of payees, then invoices, with `code_lists` lists published in the payees' rounds (their codes
    code the invoices); then `images`, one a call, each after its invoice; with `payments_read`, a read of the
    payments to write back."""
    calls, levels, how = creates("avidxchange", payees, invoices, AVID_PER_BATCH, AVID_PER_BATCH, AVID_IN_FLIGHT,
                                 latency, ("payees", "invoices"))
    how += " (ASSUMPTIONS X3, X4)"
    if code_lists:
        trips = max(rounds(calls + code_lists, AVID_IN_FLIGHT), round(levels[CREATES] / latency) if latency else 0)
        calls, levels[CREATES] = calls + code_lists, trips * latency
        how += f"; {code_lists} code lists published beside the payees"
    if images:
        calls, levels[FOLLOW_UPS] = calls + images, rounds(images, AVID_IN_FLIGHT) * latency
        how += f"; then {images} invoice images, one a call, {AVID_IN_FLIGHT} in flight (X4)"
    if payments_read:
        calls, levels[READS] = calls + 1, latency
        how += "; one read of the payments to write back"
    return part("avidxchange", calls, levels, how)


def infor(invoice_rows, suppliers, latency, writes=0, lookups=0):
    """Reading `invoice_rows` invoice lines and `suppliers` suppliers (list, statuses, e-mail addresses: one call
    each at maxrecs=0; then an address call per supplier, which names it), plus `writes` single-record calls
    (payments posted), after the bills they follow. `lookups`: other reads (code lists, a Document Management search
    per invoice and a fetch per image), which go beside those within the same rate."""
    calls, how = lookups, [f"{lookups} other reads"] if lookups else []
    if invoice_rows:
        calls += math.ceil(invoice_rows / INFOR_CUSTOM_LIST_RECORDS)
        how.append(f"ceil({invoice_rows} invoice lines / {INFOR_CUSTOM_LIST_RECORDS})")
    if suppliers:
        calls += 3 + suppliers
        how.append(f"3 supplier lists, then {suppliers} address calls (one supplier each)")
    levels = {SIGN_IN: latency}
    if calls:
        # The address calls wait for the list that names their suppliers: one round trip more.
        levels[READS] = per_minute(calls, INFOR_CALLS_PER_MINUTE, latency) + (latency if suppliers else 0)
    if writes:
        # After what they follow: a round trip, and a minute more should they not fit in the reads' last minute.
        levels[FOLLOW_UPS] = latency + 60 * (minutes(calls + writes) - minutes(calls))
        how.append(f"{writes} writes after what they follow")
        calls += writes
    if not calls:
        return part("infor", 1, {SIGN_IN: latency, READS: latency}, "sign-in; one call to learn that nothing changed")
    return part("infor", calls, levels, f"sign-in; {' + '.join(how)}, at {INFOR_CALLS_PER_MINUTE:,} a minute")


def ifs(acknowledgements, latency, suppliers=0, invoices=0):
    """Each list read once (its largest page is not documented). A supplier's addresses are a collection of the
    supplier, and an address's communication methods a collection of the address (docs/ASSUMPTIONS.md F3, F12):
    for the `suppliers` read in full, one $batch call of each after the other, after the supplier list. Posting
    lines are asked for by their invoices' ids (F4): a round trip after the invoice list, for the `invoices` read.
    The two chains go side by side; the longer counts. After the bills, the transfer marks, each with the ETag its
    invoice's read brought, together in $batch calls (no documented largest batch)."""
    detail_calls = 2 if suppliers else 0
    calls = 2 + detail_calls + (1 if invoices else 0) + (1 if acknowledgements else 0)
    chain = max(1 + detail_calls, 1 + bool(invoices))
    levels = {SIGN_IN: latency, READS: per_minute(calls, IFS_CALLS_PER_MINUTE, latency) + (chain - 1) * latency}
    if acknowledgements:
        levels[FOLLOW_UPS] = latency
    how = "sign-in; 2 list reads"
    if suppliers:
        how += f", then the {suppliers} suppliers' addresses, then their communication methods ($batch, F12)"
    if invoices:
        how += ", beside the invoices' posting lines (by invoice id, F4)"
    return part("ifs", calls, levels,
                f"{how}; after the bills, {acknowledgements} transfer marks in one $batch call (ASSUMPTIONS F12), "
                f"at {IFS_CALLS_PER_MINUTE:,} a minute (F7)")


def unlimited(system, latency):
    """An ERP whose documentation gives neither its largest page nor a limit on calls: one round trip of reads."""
    return part(system, 1, {SIGN_IN: latency, READS: latency},
                "sign-in; no documented page size or call limit: one round trip of reads")


def floor(parts):
    """The critical path: each level's slowest part, level after level, with every part shown and the path said in
    words. `bound_by` is the system whose own share is largest."""
    path = []
    for level in LEVELS:
        at = [(p["levels"].get(level, 0), p["system"]) for p in parts]
        seconds, system = max(at)
        if seconds:
            path.append({"level": level, "seconds": seconds, "by": system})
    seconds = round(sum(step["seconds"] for step in path), 3)
    how = ("the levels the documentation makes sequential, one after another, each its slowest system's share: "
           + "; then ".join(f"{s['level']} {s['seconds']} s ({s['by']})" for s in path) + f" = {seconds} s"
           if path else "nothing to wait for: no latency")
    slowest = max(parts, key=lambda p: p["seconds"])
    return {"seconds": seconds, "bound_by": slowest["system"], "how": how, "path": path, "parts": parts}


def ratio(seconds, floor_seconds):
    return round(seconds / floor_seconds, 2) if floor_seconds else None
