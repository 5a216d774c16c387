"""The sync engine: the one way an integration runs, whatever triggered it.

Order of work (DESIGN.md "How a sync runs"): reference data and mapping validation; then the plan's steps
(syncs.steps, chosen by syncs.plan; the reference data is read while the steps that need no mapping rules run, and
the rules checked before the first that does), each given this run's context (Sync): both connectors open, the ledger's
bookkeeping (syncs.ledger), the counters, and the mapping rules that code invoice lines. The run's lifecycle
around it (lock, heartbeat, outcome) is syncs.run's. The engine names no system: it asks each connection for its
connector, and the plan asks what each system declares.
"""

from collections import Counter
from concurrent.futures import CancelledError, Future, wait
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from itertools import chain

from django.utils import timezone

from connectors.assumptions import stopped_capabilities
from connectors.http import begin, fan_out, threads_allowed
from syncs import reference
from syncs.ledger import Ledger
from syncs.models import Integration, MappingRule, RunStatus, ap_account
from syncs.pair import system_name
from syncs.plan import plan_for
from syncs.run import ACTOR, Heartbeat, Lease, conclude, finish, start_run, stopped_by
from syncs.steps.base import Problem, Read, target_lock


def run_integration(integration_id, trigger="manual", dry_run=False, since=None, actor=ACTOR, began=None):
    """Run one integration now and return its SyncRun. `since` (a datetime) re-reads from that moment
    instead of the cursors (replay, resync); the ledger keeps it from creating anything twice."""
    integration = Integration.objects.select_related("tenant", "source", "target").get(pk=integration_id)
    run = start_run(integration, trigger, dry_run)
    if began:  # a person's request names the run it became (syncs.requests)
        began(run)
    if run.status == RunStatus.SKIPPED:
        return run
    lease = Lease(run)
    sync = Sync(integration, run, dry_run=dry_run, since=since, lease=lease)
    next_run = timezone.now() + timedelta(minutes=integration.interval_minutes)
    try:
        with Heartbeat(run.pk, progress=sync.progress, lease=lease):
            sync.execute()
        run.status = RunStatus.PARTIAL if sync.failures or sync.stopped_steps else RunStatus.SUCCEEDED
        run.error = " ".join(sync.stopped_steps)
    except Exception as exc:  # the run must end recorded, whatever happened
        next_run = stopped_by(exc, run, next_run)
    finally:
        sync.counters["api_calls"] = sync.api_calls()
        finish(run, sync.counters, sync.plan, lease)
    conclude(run, next_run, actor)
    return run


def sign_in(connector):
    """Sign the connector in now (or take the token it holds), ahead of its first call, where that call needs it: a
    connector that talks through one client, which signs in by a token session. One with several clients may never
    call the one that signs in (a session kept for writes), so it signs in at its first call that needs it."""
    clients = connector.http_clients()
    if len(clients) == 1 and clients[0].auth is not None:
        clients[0].auth.headers()


class Ahead:
    """A source's first records, read ahead: `first`, the rest unread (`rest`, an iterator that goes on where they
    stopped, or raises what stopped the read after them: the records read before an error go through as they would
    have), and whether `first` is the whole of it (`whole`)."""

    def __init__(self, source, count):
        records = iter(source)
        self.read_at = getattr(source, "read_at", None)  # a Read's (steps.base)
        self.first, self.rest, self.whole = [], records, False
        try:
            for record in records:
                self.first.append(record)
                if len(self.first) >= count:
                    return
        except Exception as exc:  # raised where the records are taken, after those read before it
            self.rest = raising(exc)
            return
        self.whole = True


def raising(exc):
    raise exc
    yield  # a generator: raises when first iterated


def kind_in_words(kind):
    """"department", "GL account": a kind as it reads inside a sentence."""
    label = dict(MappingRule.KINDS)[kind]
    return label if label.startswith("GL") else label.lower()


class Sync:
    """One run's context, handed to each step: the integration, both connectors once open, the ledger, what the
    run has counted and failed, the dry run's plan of what would be sent, and the confirmed mapping rules."""

    def __init__(self, integration, run, *, dry_run=False, since=None, lease=None):
        self.integration = integration
        self.run = run
        self.lease = lease  # run.Lease: the run's hold on its integration, checked by fence()
        self.dry_run = dry_run
        self.since_override = since
        self.counters = Counter()
        self.plan = []
        self.planned_vendors = {}  # dry run: supplier id -> placeholder for the vendor it would create
        self.failures = 0
        self.account = None  # the AP account (models.ap_account), once the AP connector is open
        self.erp = None
        self.ap = None
        self.source_name = system_name(integration.source)
        self.target_name = system_name(integration.target)
        self.rules = {}  # kind -> {source code: (target kind, target id)}, of the rules that can be used
        self.mapping_problems = {}  # (kind, source code) -> why its rule cannot be used
        self.ledger = Ledger(self)
        self.stopped_steps = []  # why a step did not run: an assumption of its found contradicted (stopped_by)
        self.ahead = {}  # step class -> future of its source's first records (Ahead), read ahead (read_ahead)
        self.signing_out = None  # the ERP's sign-out, begun once no step still to run calls it (sign_out_early)
        self.steps = []  # the steps this run takes, in order (execute)
        self.begun = {}  # key -> future of work begun for a step still to come (begin), taken by it (begun_result)
        self.started = []  # futures of the work begun on threads of its own (start)

    def api_calls(self):
        return sum(c.calls for c in (self.erp, self.ap) if c is not None)

    def progress(self):
        """The counters so far, read from the heartbeat's thread while this one adds to them."""
        while True:
            try:
                return dict(self.counters)
            except RuntimeError:  # changed size while being copied: copy again
                continue

    @property
    def batch_size(self):
        """How many records the AP connector takes at once."""
        return max(1, getattr(self.ap, "batch_size", 1))

    def execute(self):
        """The plan's steps, in order, with both connectors open (and closed, logged out, after)."""
        with ExitStack() as stack:
            self.erp = stack.enter_context(self.integration.source.connector())
            self.ap = stack.enter_context(self.integration.target.connector())
            self.ap.vendor_key_prefix = self.integration.vendor_key_prefix
            self.account = ap_account(self.integration.target, self.ap)
            stack.callback(self.wait_for_started)
            reading = self.read_reference_ahead()
            steps = self.steps = [step for step in plan_for(self.integration) if step.in_dry_run or not self.dry_run]
            self.read_ahead(steps[1:])
            for at, step in enumerate(steps):
                why = self.stopped_by(step)
                if why:
                    self.stopped_steps.append(why)
                    self.counters["steps_stopped"] += 1
                    continue
                if reading is not None and step.uses_mapping_rules:
                    self.load_reference_data(reading)
                    reading = None
                self.sign_out_early(steps[at:])
                with self.turn(step):
                    step().run(self)
            if reading is not None:
                self.load_reference_data(reading)

    def stopped_by(self, step):
        """Why `step` must not run, in words, or "": a capability it needs of either system stands on an assumption
        that system's last check found contradicted, with no safe alternative and no override confirmed
        (connectors.assumptions). Checked before the step's first write; a dry run writes nothing and goes on."""
        if self.dry_run:
            return ""
        for connection, required in ((self.integration.source, (*step.erp_requires, *step.erp_uses)),
                                     (self.integration.target, step.ap_requires)):
            stopped = stopped_capabilities(connection)
            ids = sorted({i for capability in required for i in stopped.get(capability, ())})
            if ids:
                return (f"{step.__name__} stopped before writing: the last assumption check of {connection.name} "
                        f"found {', '.join(ids)} contradicted. Confirm an override on the connection once the "
                        "customer agrees the runs may go on.")
        return ""

    def read_reference_ahead(self):
        """The AP platform's reference lists being read, with the ERP signing in meanwhile (read_reference), in a
        thread of its own while the steps that need no mapping rules run: a future whose result load_reference_data
        takes. Where another thread could not see this run's rows (threads_allowed), read here and now, before any
        step. An error it met is raised when its result is taken."""
        reading = self.start(self.read_reference)
        if reading is None:
            reading = Future()
            reading.set_result(self.read_reference())
        return reading

    def read_reference(self):
        """(GL accounts, dimensions) of the AP platform, the ERP signed in meanwhile for the steps after. The lists one
        after the other: a connector may read both in one call it keeps, or its lists at once within its own
        limits."""
        (accounts, dimensions), _ = fan_out(lambda work: work(), (
            lambda: (list(self.ap.gl_accounts()), list(self.ap.dimensions())), lambda: sign_in(self.erp)), 2)
        return accounts, dimensions

    def start(self, work):
        """`work()` begun on a thread of its own (connectors.http.begin), or None where threads could not see this
        run's rows; waited for before the connectors close, whatever stopped the run (wait_for_started)."""
        future = begin(work)
        if future is not None:
            self.started.append(future)
        return future

    def wait_for_started(self):
        """What was begun for the run finishes before its connectors close; what was read ahead for a step that never
        took it is closed unread (a generator's own clean-up runs), and what was begun for one is dropped."""
        wait(self.started)
        for future in self.ahead.values():
            if future.exception() is None:
                getattr(future.result().rest, "close", lambda: None)()
        self.ahead, self.begun = {}, {}

    def read_ahead(self, steps):
        """The first records of each of `steps` that has a source (Step.source), read on a thread of their own from the
        run's start, while the steps before it run: a first run's reads no longer wait for the writes before them.
        Not for a step whose source reads what a step before it writes (Step.writes: the suppliers after vendor
        edits written back to them), nor where another thread could not see this run's rows (threads_allowed): those
        read at their turn."""
        if not threads_allowed():
            return
        for step in steps:
            before = self.steps[:self.steps.index(step)]
            if self.stopped_by(step) or any(step.source_reads in earlier.writes for earlier in before):
                continue  # it reads at its turn, after what the steps before write
            try:
                source = step.source(self)
            except Exception:  # raised again at the step's own turn, after the steps before it have run
                continue
            if source is not None:
                self.ahead[step] = self.start(lambda source=source: Ahead(source, self.batch_size))

    def records(self, step):
        """What `step`'s source gives, its first records read ahead where they were (read_ahead), else read now; an
        error the read met ahead is raised here, after the records read before it."""
        future = self.ahead.pop(type(step), None)
        if future is None:
            source = step.source(self)
            return source if isinstance(source, Read) else Read(source)
        ahead = future.result()
        return Read(chain(ahead.first, ahead.rest), ahead.read_at)

    def ahead_of_bills(self, invoices):
        """The invoices about to be sent as bills, handed to each step of the run that can begin its own work on them
        while they are sent (Step.ahead_of_bills)."""
        for step in self.steps:
            if not self.stopped_by(step):
                step.ahead_of_bills(self, invoices)

    def begin(self, work, futures):
        """`work()` begun now on a thread of its own (start), setting `futures` ({key: Future}) for a step still to come
        to take by key (begun_result); one it leaves unset is cancelled when it ends, and the step then does that part
        itself. Nothing is begun where threads could not see this run's rows."""
        def setting():
            try:
                work()
            finally:
                for future in futures.values():
                    future.cancel()  # only one still pending: the others are done

        if self.start(setting) is not None:
            self.begun.update(futures)

    def begun_result(self, key):
        """What the work begun under `key` gave (or the error it met, raised here), or None where none was begun or
        it was left undone."""
        future = self.begun.pop(key, None)
        try:
            return None if future is None else future.result()
        except CancelledError:
            return None

    def read_whole(self, step):
        """Every record `step`'s source gives, when they have all been read ahead already, else None: never waits."""
        future = self.ahead.get(step if isinstance(step, type) else type(step))
        if future is None or not future.done() or future.exception() is not None or not future.result().whole:
            return None
        return future.result().first

    def sign_out_early(self, steps):
        """Sign out of the ERP on a thread of its own, while `steps` (those still to run) run, when none of them will
        call it (Step.done_with_erp): a session holds a licence seat, and its sign-out is a round trip the run no
        longer waits for. Once; waited for before the ERP's connector closes, which then signs out only a session
        used since (a step that called the ERP after all signs in again: a round trip more, nothing lost)."""
        if self.signing_out is None and all(step.done_with_erp(self) for step in steps):
            # closes as the run's end does: never raises
            self.signing_out = self.start(lambda: self.erp.__exit__(None, None, None))

    def fence(self):
        """Stop the run (run.TakenOver) unless it still holds its integration. Called before each step, and by a step
        between its batches: a run held up past its lease never writes beside the run that took over."""
        if self.lease is not None:
            self.lease.check()

    @contextmanager
    def turn(self, step):
        """A step's turn: the run still holding its integration, and, for a step that declares it (`lock`, a step
        that does not take its own), the AP account's lock, held for the whole step and checked again once taken:
        a run waiting for it may have been taken over meanwhile."""
        self.fence()
        with ExitStack() as stack:
            if step.lock and not self.dry_run:
                stack.enter_context(target_lock(self, step.lock))
                self.fence()
            yield

    # --- mapping rules ------------------------------------------------------------------------------------
    def load_reference_data(self, reading=None):
        """The AP platform's accounts and dimensions (as `reading`, a future of read_reference, read them, or read
        now), and every confirmed rule checked against the right kind of them. A rule that cannot be used says why,
        on the rule (the Integration page lists them)."""
        accounts, dimensions = reading.result() if reading is not None else self.read_reference()
        targets = {MappingRule.GL_ACCOUNT: {a.id: a for a in accounts}}
        for dimension in dimensions:
            targets.setdefault(dimension.kind, {})[dimension.id] = dimension
        self.rules = {}
        self.mapping_problems = {}
        now = timezone.now()
        checked = []
        erp_list, ap_list = reference.cached(self.integration.source), reference.cached(self.integration.target)
        for rule in MappingRule.objects.filter(integration=self.integration, confirmed=True):
            problem = self.rule_problem(rule, targets, ap_list)
            if problem:
                self.mapping_problems[(rule.kind, rule.source_code)] = problem
            else:
                self.rules.setdefault(rule.kind, {})[rule.source_code] = (rule.target_kind or rule.kind, rule.target_id)
                # Flagged, yet applied: the ERP's list may be older than the code.
                problem = reference.unlisted_source(rule, erp_list, self.source_name)
            if rule.problem != (problem or "") or rule.checked_at is None:
                rule.problem, rule.checked_at = problem or "", now
                checked.append(rule)
        if checked and not self.dry_run:
            MappingRule.objects.bulk_update(checked, ["problem", "checked_at"])
        self.counters["mapping_rules_invalid"] = len(self.mapping_problems)

    def rule_problem(self, rule, targets, ap_list):
        """Why a rule cannot be used, in words, or None. `ap_list`: the AP platform's list as last loaded, which
        names a target that has gone since."""
        target_kind = rule.target_kind or rule.kind
        if rule.kinds_problem():
            return f"{rule.get_kind_display()} {rule.source_code}: {rule.kinds_problem()}"
        if target_kind == MappingRule.VENDOR:
            return None
        label = kind_in_words(target_kind)
        what = f"{rule.get_kind_display()} {rule.source_code}"
        if target_kind not in targets:
            return f"{what} is mapped to a {label} in {self.target_name}, which has no {label}s"
        target = targets[target_kind].get(rule.target_id)
        if target is None:
            elsewhere = next((kind_in_words(kind) for kind, known in targets.items() if rule.target_id in known),
                             None)
            if elsewhere:
                return (f"{what} is mapped to {self.target_name} id {rule.target_id}, which is a {elsewhere} there, "
                        f"not a {label}")
            return reference.gone_target(rule, ap_list, self.target_name, label)
        if not target.active:
            return f"{what} is mapped to {self.target_name} {label} {target.name or rule.target_id}, which is archived"
        return None

    def coding_for(self, invoice):
        """Each line's target GL account and dimensions, or the list of Problems that keep it from being coded."""
        problems, coding = [], {}
        gl_rules = self.rules.get(MappingRule.GL_ACCOUNT, {})
        kinds = dict(MappingRule.KINDS)
        for index, line in enumerate(invoice.lines):
            code = line.gl_account
            if not code:
                problems.append(Problem(cause="line_without_gl_account", subject="",
                                        words=f"Line {index + 1} has no GL account"))
                continue
            if (MappingRule.GL_ACCOUNT, code) in self.mapping_problems:
                problems.append(Problem(cause="mapping_rule_unusable", subject=f"GL account {code}",
                                        words=self.mapping_problems[(MappingRule.GL_ACCOUNT, code)]))
                continue
            if code not in gl_rules:
                problems.append(Problem(cause="gl_unmapped", subject=code,
                                        words=f"GL account {code} is not mapped to a {self.target_name} account"))
                continue
            coding[index] = {"gl_account": gl_rules[code][1]}
            for kind, value in line.dimensions.items():
                if (kind, value) in self.mapping_problems:
                    problems.append(Problem(cause="mapping_rule_unusable", subject=f"{kinds.get(kind, kind)} {value}",
                                            words=self.mapping_problems[(kind, value)]))
                    continue
                kind_rules = self.rules.get(kind)
                if not kind_rules:
                    continue  # this integration does not carry that dimension across
                if value not in kind_rules:
                    problems.append(Problem(cause="code_unmapped", subject=f"{kind.capitalize()} {value}",
                                            words=f"{kind.capitalize()} {value} is not mapped to anything in "
                                                  f"{self.target_name}"))
                else:
                    target_kind, target_id = kind_rules[value]
                    if target_kind in coding[index]:
                        problems.append(Problem(cause="codes_collide", subject="",
                                                words=f"Line {index + 1}: two of its codes map to the "
                                                      f"{self.target_name} {kind_in_words(target_kind)}; only one can"))
                    else:
                        coding[index][target_kind] = target_id
        return list(dict.fromkeys(problems)), coding
