"""Health decisions and failover, driven by a FakeClock and scripted probe results."""

from __future__ import annotations

import logging

import pytest

from common.clock import FakeClock
from load_balancer.backends import BackendSet
from load_balancer.config import BackendConfig, HealthConfig
from load_balancer.health import CheckResult, HealthMonitor

OK = CheckResult(True, "status 200")
REFUSED = CheckResult(False, "Connection refused")


class ScriptedProbe:
    """Answers each backend's checks with whatever the test last set for it."""

    def __init__(self) -> None:
        self.results: dict[str, CheckResult] = {}
        self.calls: list[str] = []

    def __call__(self, backend) -> CheckResult:
        self.calls.append(backend.name)
        return self.results.get(backend.name, OK)


class Harness:
    def __init__(self, *backends: BackendConfig, **health) -> None:
        self.clock = FakeClock()
        self.probe = ScriptedProbe()
        self.backends = BackendSet(backends)
        config = HealthConfig(**{"path": "/health", "interval": 1.0, **health})
        self.monitor = HealthMonitor(self.backends, config, self.clock, self.probe)

    def backend(self, port: int):
        return next(b for b in self.backends if b.port == port)

    def set(self, port: int, result: CheckResult) -> None:
        self.probe.results[self.backend(port).name] = result

    def rounds(self, n: int) -> None:
        """n rounds of checks, one interval apart."""
        for _ in range(n):
            self.monitor.run_due_checks()
            self.clock.advance(self.monitor.config.interval)

    def serving(self) -> list[int]:
        return [b.port for b in self.backends.snapshot.servers]


PRIMARY_1 = BackendConfig("127.0.0.1", 9001)
PRIMARY_2 = BackendConfig("127.0.0.1", 9002)
BACKUP = BackendConfig("127.0.0.1", 9003, backup=True)


def test_backends_start_up_and_backups_stand_by():
    h = Harness(PRIMARY_1, PRIMARY_2, BACKUP)
    assert h.serving() == [9001, 9002]


def test_backend_goes_down_after_fall_consecutive_failed_checks():
    h = Harness(PRIMARY_1, PRIMARY_2, fall=3)
    h.set(9001, REFUSED)
    h.rounds(2)
    assert h.backend(9001).up
    h.rounds(1)
    assert not h.backend(9001).up and h.serving() == [9002]


def test_a_single_good_check_between_failures_keeps_a_flapping_backend_up():
    h = Harness(PRIMARY_1, fall=3)
    for result in (REFUSED, REFUSED, OK, REFUSED, REFUSED, OK):
        h.set(9001, result)
        h.rounds(1)
    assert h.backend(9001).up


def test_down_backend_rejoins_only_after_rise_consecutive_good_checks():
    h = Harness(PRIMARY_1, PRIMARY_2, fall=1, rise=3)
    h.set(9001, REFUSED)
    h.rounds(1)
    h.set(9001, OK)
    h.rounds(2)
    assert h.serving() == [9002]
    h.rounds(1)
    assert h.serving() == [9001, 9002]


def test_checks_run_once_per_interval():
    h = Harness(PRIMARY_1, interval=5.0)
    assert h.monitor.run_due_checks() == 5.0
    h.clock.advance(2.0)
    assert h.monitor.run_due_checks() == 3.0
    assert h.probe.calls == ["127.0.0.1:9001"]
    h.clock.advance(3.0)
    h.monitor.run_due_checks()
    assert len(h.probe.calls) == 2


def test_failed_forwards_take_a_backend_down_without_waiting_for_a_check():
    h = Harness(PRIMARY_1, PRIMARY_2, passive_fails=3)
    for _ in range(3):
        h.monitor.record_forward(h.backend(9001), ok=False, detail="connect: Connection refused")
    assert h.serving() == [9002]
    assert (h.backend(9001).stats.requests, h.backend(9001).stats.errors) == (3, 3)


def test_a_successful_forward_resets_the_count_of_failed_ones():
    h = Harness(PRIMARY_1, passive_fails=3)
    backend = h.backend(9001)
    for ok in (False, False, True, False, False):
        h.monitor.record_forward(backend, ok=ok, detail="reset")
    assert backend.up


def test_passive_checks_can_be_switched_off():
    h = Harness(PRIMARY_1, passive_fails=0)
    for _ in range(10):
        h.monitor.record_forward(h.backend(9001), ok=False, detail="reset")
    assert h.backend(9001).up


def test_passively_downed_backend_needs_rise_good_checks_to_return():
    h = Harness(PRIMARY_1, PRIMARY_2, passive_fails=1, rise=2)
    h.monitor.record_forward(h.backend(9001), ok=False, detail="reset")
    h.rounds(1)
    assert h.serving() == [9002]
    h.rounds(1)
    assert h.serving() == [9001, 9002]


def test_without_active_checks_a_passively_downed_backend_is_retried_after_one_interval():
    h = Harness(PRIMARY_1, PRIMARY_2, path=None, passive_fails=1, interval=10.0)
    h.monitor.record_forward(h.backend(9001), ok=False, detail="reset")
    h.monitor.run_due_checks()
    h.clock.advance(9.0)
    h.monitor.run_due_checks()
    assert h.serving() == [9002]
    h.clock.advance(1.0)
    h.monitor.run_due_checks()
    assert h.serving() == [9001, 9002]
    assert h.probe.calls == []


def test_backups_take_over_when_every_primary_is_down_and_hand_back_after_recovery():
    h = Harness(PRIMARY_1, PRIMARY_2, BACKUP, fall=1, rise=1)
    h.set(9001, REFUSED)
    h.rounds(1)
    assert h.serving() == [9002]  # one primary left: the backup still waits
    h.set(9002, REFUSED)
    h.rounds(1)
    assert h.serving() == [9003] and h.backends.snapshot.backups_active
    h.set(9002, OK)
    h.rounds(1)
    assert h.serving() == [9002] and not h.backends.snapshot.backups_active


def test_nothing_is_served_when_primaries_and_backups_are_all_down():
    h = Harness(PRIMARY_1, BACKUP, fall=1)
    h.set(9001, REFUSED)
    h.set(9003, REFUSED)
    h.rounds(1)
    assert h.serving() == []


def test_state_changes_are_logged_with_their_reason(caplog):
    h = Harness(PRIMARY_1, BACKUP, fall=2, rise=1)
    h.set(9001, REFUSED)
    with caplog.at_level(logging.INFO, logger="load_balancer"):
        h.rounds(2)
        h.set(9001, OK)
        h.rounds(1)
    messages = [record.getMessage() for record in caplog.records]
    assert any("127.0.0.1:9001 is DOWN: 2 failed checks in a row (last: Connection refused)" in m
               for m in messages)
    assert any("failing over to backups 127.0.0.1:9003" in m for m in messages)
    assert any("127.0.0.1:9001 is UP: 1 successful checks in a row (status 200)" in m for m in messages)
    assert any("backups 127.0.0.1:9003 stand by again" in m for m in messages)


@pytest.mark.parametrize("up", [True, False])
def test_setting_the_current_state_again_changes_nothing(up):
    h = Harness(PRIMARY_1, PRIMARY_2)
    backend = h.backend(9001)
    h.backends.set_up(backend, up, "test")
    before = h.backends.snapshot
    assert h.backends.set_up(backend, up, "again") is False
    assert h.backends.snapshot is before
