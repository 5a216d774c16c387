"""The pacer spends a minute's budget as the limiter counts it (a fixed minute): all but a twentieth at once, the rest
in the minute's last `hold` seconds, so that the limiter never holds a call longer than a call waits."""

from connectors.infor.client import Pacer


class Clock:
    def __init__(self, now):
        self.now = now
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(round(seconds, 3))
        self.now += seconds


def test_a_minute_s_budget_less_a_twentieth_goes_at_once_the_rest_in_its_last_half():
    clock = Clock(600.0 + 5)  # five seconds into a minute
    pacer = Pacer(2850, 60, hold=30)
    for _ in range(2850 - 142):
        pacer.wait(clock.sleep, clock=clock)
    assert clock.slept == []
    pacer.wait(clock.sleep, clock=clock)
    assert clock.slept == [25.0] and clock.now == 630.0  # the minute's last 30 seconds
    for _ in range(141):
        pacer.wait(clock.sleep, clock=clock)
    assert clock.slept == [25.0]


def test_the_next_minute_starts_a_budget_of_its_own():
    clock = Clock(600.0)
    pacer = Pacer(100, 60, hold=30)
    for _ in range(95):
        pacer.wait(clock.sleep, clock=clock)
    clock.now = 660.5
    for _ in range(95):
        pacer.wait(clock.sleep, clock=clock)
    assert clock.slept == []


def test_a_wait_longer_than_the_minute_holds_nothing_back():
    clock = Clock(0.2)
    pacer = Pacer(19, 1, hold=30)
    for _ in range(19):
        pacer.wait(clock.sleep, clock=clock)
    assert clock.slept == []  # the limiter, which counts the same second, holds the 20th
