"""Alerts from pool changes: which ones, when a server flaps, and how they are delivered."""

from __future__ import annotations

import logging

import pytest

from common.clock import FakeClock
from load_balancer.alerts import Alert, Alerter, DeliveryFailed
from load_balancer.backends import BackendSet
from load_balancer.config import AlertConfig, BackendConfig

PRIMARY_1 = BackendConfig("127.0.0.1", 9001)
PRIMARY_2 = BackendConfig("127.0.0.1", 9002)
BACKUP = BackendConfig("127.0.0.1", 9003, backup=True)


class Harness:
    """A pool's BackendSet wired to an Alerter whose deliveries are recorded, not sent."""

    def __init__(self, *servers: BackendConfig, **alerts) -> None:
        self.clock = FakeClock()
        self.delivered: list[tuple[str, Alert]] = []
        config = AlertConfig(**{"command": ("page-oncall",), "webhook": "http://127.0.0.1:1/alerts", **alerts})
        self.alerter = Alerter(config, self.clock,
                               command=lambda _, alert: self.delivered.append(("command", alert)),
                               webhook=lambda _, alert: self.delivered.append(("webhook", alert)))
        self.backends = BackendSet(servers, self.clock,
                                   on_change=lambda backend, change: self.alerter.server_changed("web", backend, change))
        self.alerter.start()

    def set(self, port: int, up: bool) -> None:
        backend = next(b for b in self.backends if b.port == port)
        self.backends.set_up(backend, up, "test")

    def kinds(self) -> list[str]:
        self.alerter.flush()
        return [alert.kind for how, alert in self.delivered if how == "command"]

    def close(self) -> None:
        self.alerter.stop()


@pytest.fixture
def harness():
    made: list[Harness] = []

    def make(*servers: BackendConfig, **alerts) -> Harness:
        made.append(Harness(*servers, **alerts))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_losing_the_last_server_raises_no_server_and_its_return_recovered(harness):
    h = harness(PRIMARY_1, PRIMARY_2)
    h.set(9001, False)
    assert h.kinds() == []  # one primary left: no alert
    h.set(9002, False)
    h.set(9002, True)
    assert h.kinds() == ["no-server", "recovered"]


def test_failing_over_to_backups_raises_backups(harness):
    h = harness(PRIMARY_1, BACKUP)
    h.set(9001, False)
    h.set(9001, True)
    assert h.kinds() == ["backups", "recovered"]


def test_every_alert_goes_to_the_command_and_the_webhook_with_the_same_payload(harness):
    h = harness(PRIMARY_1)
    h.set(9001, False)
    h.alerter.flush()
    (how_1, alert_1), (how_2, alert_2) = h.delivered
    assert (how_1, how_2) == ("command", "webhook") and alert_1 is alert_2
    payload = alert_1.payload()
    assert payload["kind"] == "no-server" and payload["pool"] == "web" and payload["server"] == "127.0.0.1:9001"
    assert payload["time"] == "2023-11-14T22:13:20.000+00:00"  # FakeClock's wall clock, as ISO 8601


def test_a_server_changing_state_often_within_the_window_is_flapping(harness):
    h = harness(PRIMARY_1, PRIMARY_2, flap_changes=4, flap_window=60.0)
    for up in (False, True, False):
        h.set(9001, up)
        h.clock.advance(10)
    assert h.kinds() == []
    h.set(9001, True)  # the fourth change within 60 s
    assert h.kinds() == ["flapping"]
    for up in (False, True, False, True):  # still flapping: reported once per burst
        h.set(9001, up)
        h.clock.advance(1)
    assert h.kinds() == ["flapping"]


def test_changes_spread_wider_than_the_window_are_not_flapping(harness):
    h = harness(PRIMARY_1, PRIMARY_2, flap_changes=4, flap_window=60.0)
    for up in (False, True, False, True, False, True):
        h.set(9001, up)
        h.clock.advance(25)
    assert h.kinds() == []


def test_alerts_are_always_logged_even_without_command_or_webhook(harness, caplog):
    h = harness(PRIMARY_1, command=(), webhook=None)
    with caplog.at_level(logging.INFO, logger="load_balancer.alerts"):
        h.set(9001, False)
    assert h.kinds() == []
    (record,) = [r for r in caplog.records if r.name == "load_balancer.alerts"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == ("ALERT no-server pool=web server=127.0.0.1:9001: no server is up "
                                   "(127.0.0.1:9001 was the last): requests get 503")


def test_a_failed_delivery_is_logged_and_the_next_alert_still_goes_out(caplog):
    clock = FakeClock()
    sent = []

    def broken(_, alert):
        raise DeliveryFailed("exit status 1 pager offline")

    alerter = Alerter(AlertConfig(command=("page",), webhook="http://127.0.0.1:1/"), clock,
                      command=broken, webhook=lambda _, alert: sent.append(alert.kind))
    alerter.start()
    with caplog.at_level(logging.WARNING, logger="load_balancer.alerts"):
        alerter.alert("backups", "web", "127.0.0.1:9001", "serving from backups")
        alerter.alert("recovered", "web", "127.0.0.1:9001", "primaries serve again")
        alerter.flush()
    alerter.stop()
    assert sent == ["backups", "recovered"]
    assert "alert backups pool=web: command failed: exit status 1 pager offline" in caplog.text
