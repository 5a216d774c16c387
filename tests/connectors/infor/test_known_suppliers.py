"""Which suppliers the caller holds as they are (ChangeFloors.unchanged): the same marker, and nothing changed them
after they were read, which M3 is asked about only where the marker cannot say it, in a few list calls at most."""

from datetime import timedelta

from connectors.infor import connector as infor
from connectors.infor.connector import ChangeFloors, grid_time, iso_to_lmts


class Lists:
    """LstSuppliers as ChangeFloors calls it: the suppliers changed after LMTS, from {supplier: change time}."""

    def __init__(self, changes):
        self.changes = changes
        self.asked = []

    def pages(self, transaction, inputs, *args, **kwargs):
        self.asked.append(inputs["LMTS"])
        return iter([[{"SUNO": suno} for suno, moment in self.changes.items() if iso_to_lmts(moment) > inputs["LMTS"]]])


CELL = grid_time(2_900_000)
MARKER = CELL.isoformat()


def test_a_supplier_read_after_its_marker_s_step_closed_is_known_without_a_call():
    lists = Lists({"A": CELL + timedelta(minutes=3)})
    read = CELL + infor.CHANGE_GRID + infor.CLOCK_MARGIN
    assert ChangeFloors(lists).unchanged({"A": MARKER}, {"A": (MARKER, read.isoformat())}) == {"A"}
    assert lists.asked == []


def test_a_change_after_the_read_within_the_same_step_is_not_taken_for_unchanged():
    read = CELL + timedelta(minutes=2)
    lists = Lists({"A": CELL + timedelta(minutes=1), "B": CELL + timedelta(minutes=3)})  # B changed again after
    known = {"A": (MARKER, read.isoformat()), "B": (MARKER, read.isoformat())}
    assert ChangeFloors(lists).unchanged({"A": MARKER, "B": MARKER}, known) == {"A"}
    assert len(lists.asked) == 1


def test_another_marker_or_none_known_is_read_again():
    lists = Lists({})
    later = grid_time(2_900_001).isoformat()
    read = (CELL + timedelta(hours=1)).isoformat()
    assert ChangeFloors(lists).unchanged({"A": later, "B": MARKER, "C": MARKER},
                                         {"A": (MARKER, read), "B": (MARKER, "")}) == set()


def test_many_read_times_cost_at_most_a_few_calls_and_miss_no_change():
    reads = {f"S{n}": CELL + timedelta(seconds=10 * n + 5) for n in range(20)}
    changes = {suno: moment - timedelta(seconds=1) for suno, moment in reads.items()}
    changes["S7"] = reads["S7"] + timedelta(seconds=1)  # changed again just after its read
    lists = Lists(changes)
    unchanged = ChangeFloors(lists).unchanged(dict.fromkeys(reads, MARKER),
                                              {suno: (MARKER, moment.isoformat()) for suno, moment in reads.items()})
    assert "S7" not in unchanged and "S19" in unchanged
    assert len(lists.asked) <= infor.TIME_CHECKS


def test_where_m3_ignores_the_lmts_filter_every_supplier_is_read_again():
    lists = Lists({"A": CELL})
    floors = ChangeFloors(lists)
    lists.pages = lambda transaction, inputs, *args, **kwargs: iter([[{"SUNO": "A"}]])  # whatever LMTS says
    markers = floors.markers({"A"}, None, CELL + timedelta(days=1))
    read = (CELL + timedelta(days=1)).isoformat()
    assert floors.unchanged(markers, {"A": (markers["A"], read)}) == set()
