"""Bad data from every remote system fails only the record it is in (issue "Production that survives", §4).

For every registered system, the streams a sync reads (an ERP's suppliers and approved invoices, an AP platform's
payments) are read once from its simulator, loaded with the canonical seed, and every JSON answer is kept. Then
Hypothesis reads them again many times from those answers, each time with a few values anywhere in them replaced
by any JSON value (or removed): the read must still end in records and Unreadable records with a reason in words,
or, when the answer's own envelope is broken, in a ConnectorError in words. Never a KeyError, a TypeError or
another bug of ours that would stop a run.

Every answer goes through the one HTTP client (connectors.http.HttpClient.json), so this reaches every
connector's parsing without naming one."""

import copy
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import canonical
from connectors.errors import ConnectorError, TransientError
from connectors.http import HttpClient
from connectors.records import Invoice, Payment, Supplier, Unreadable
from connectors.registry import SYSTEMS, get_system
from connectors.spec import ERP
from tests.connectors.contracts.ap import coding, invoice_record
from tests.connectors.contracts.base import contract_for

REMOVED = object()
# Values a remote system sends where a well-formed one was expected: wrong types, empty, overlong, dates and
# amounts in other formats, nested where flat was expected.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 20), max_value=10 ** 20),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from(["", " ", "0", "-1", "1.005", "1e400", "NaN", "Infinity", "12,50", "2026-02-30", "2026-13-01",
                     "31/12/2026", "2026-01-01T25:00:00Z", "20261301", "/Date(1700000000000)/", "true", "null",
                     "x" * 300]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                              max_size=3),
                      max_leaves=6)
# Where a change goes: an index into the answer's places (taken modulo their number), and what it becomes.
MUTATIONS = st.lists(st.tuples(st.integers(min_value=0, max_value=10 ** 6), st.one_of(VALUES, st.just(REMOVED))),
                     min_size=1, max_size=4)


def places(value, path=()):
    """Every place in a JSON answer below its top: (container, key) pairs, in a stable order."""
    found = []
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            found.append((value, key))
            found.extend(places(value[key], (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found.extend(places(item, (*path, index)))
    return found


def mutated(answer, mutations):
    answer = copy.deepcopy(answer)
    for where, value in mutations:
        spots = places(answer)
        if not spots:
            return value if value is not REMOVED else None
        container, key = spots[where % len(spots)]
        if value is REMOVED:
            if isinstance(container, dict):
                del container[key]
            else:
                container.pop(key)
        else:
            container[key] = copy.deepcopy(value)
    return answer


def call_key(method, path, kwargs):
    return method.upper(), path, json.dumps({k: kwargs.get(k) for k in ("params", "json", "data")}, sort_keys=True,
                                            default=str)


class Answers:
    """The JSON answers of one read, kept by request, then given back (changed) instead of calling again."""

    def __init__(self):
        self.kept = {}
        self.mutations = None

    def install(self, monkeypatch):
        real = HttpClient.json
        answers = self

        def json_answer(client, method, path, **kwargs):
            key = call_key(method, path, kwargs)
            if answers.mutations is None:
                answer = real(client, method, path, **kwargs)
                answers.kept[key] = copy.deepcopy(answer)
                return answer
            if key not in answers.kept:
                # A read that went another way than the recorded one (a changed page size, a key that now parses
                # differently): answered as a transport failure, which the property allows.
                raise TransientError(f"{client.name}: {method} {path} was not recorded in this test.")
            return mutated(answers.kept[key], answers.mutations)

        monkeypatch.setattr(HttpClient, "json", json_answer)


def in_words(text):
    return isinstance(text, str) and text.strip() and not text.lstrip().startswith(("{", "[", "Traceback"))


def read_is_safe(read, kinds):
    """The read ends in records of `kinds` and Unreadables with a reason in words, or in a ConnectorError."""
    try:
        items = list(read())
    except ConnectorError as exc:
        assert in_words(str(exc)), f"the read stopped with a message not in words: {exc!r}"
        return
    for item in items:
        if isinstance(item, Unreadable):
            assert in_words(item.reason), f"an unreadable record says {item.reason!r}"
            assert isinstance(item.source_id, str)
        else:
            assert isinstance(item, kinds), f"the read gave {item!r}"
            for value in vars(item).values():
                assert not isinstance(value, float), f"money or a number read as a float: {item!r}"
            amount = getattr(item, "total", None) or getattr(item, "amount", None)
            assert amount is None or isinstance(amount, Decimal)


def check_stream(connector, answers, read, kinds):
    answers.mutations = None
    clean = list(read())
    assert clean and all(isinstance(item, kinds) for item in clean), "the unchanged answers must read cleanly"
    assert answers.kept, "the read made no JSON call through the HTTP client"

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(MUTATIONS)
    def property(mutations):
        answers.mutations = mutations
        read_is_safe(read, kinds)

    property()


ERP_SYSTEMS = [s for s in SYSTEMS if get_system(s).kind == ERP]
AP_SYSTEMS = [s for s in SYSTEMS if get_system(s).kind != ERP]


@pytest.mark.parametrize("stream", ["suppliers", "approved_invoices"])
@pytest.mark.parametrize("system", ERP_SYSTEMS)
def test_an_erp_answer_of_any_shape_fails_only_its_record(system, stream, tenant, sandbox, monkeypatch):
    contract = contract_for(system)
    contract.seed_canonical(sandbox)
    connection = contract.make_connection(tenant, sandbox)
    answers = Answers()
    answers.install(monkeypatch)
    with connection.connector() as connector:
        check_stream(connector, answers, getattr(connector, stream),
                     Supplier if stream == "suppliers" else Invoice)


@pytest.mark.parametrize("system", AP_SYSTEMS)
def test_an_ap_payment_of_any_shape_fails_only_its_record(system, tenant, sandbox, monkeypatch):
    contract = contract_for(system)
    connection = contract.make_connection(tenant, sandbox)
    ids = contract.canonical_ids(sandbox, connection)
    with connection.connector() as connector:
        vendors = connector.create_vendors(list(canonical.SUPPLIERS))
        seeds = canonical.GOOD_INVOICES[:3]
        bills = connector.create_bills([(vendors[seed.supplier_id], invoice_record(seed), coding(seed, ids))
                                        for seed in seeds])
    for seed in seeds[:2]:
        sandbox.control("clock", {"advance_seconds": 60})
        contract.pay(sandbox, bills[invoice_record(seed).source_id])
    answers = Answers()
    answers.install(monkeypatch)
    with connection.connector() as connector:
        if not hasattr(connector, "payments"):
            pytest.skip(f"{system} reports payments another way")
        check_stream(connector, answers, connector.payments, Payment)
