"""The access point drops the station; the driver must join again by itself.

Uses the module's control API (``w800at.control``, the test bench): its coroutines run
on the module's loop through ``w800at.run`` (wait for the result) and ``w800at.submit``
(start it now, collect the result later).
"""

import pytest
from atdriver import AtDriver

LAB = {"access_point": [{"ssid": "lab", "password": "lab-secret"}]}


@pytest.mark.w800at(config=LAB)
def test_the_driver_joins_again_after_a_wifi_drop(w800at):
    control = w800at.control
    driver = AtDriver(w800at.port)
    driver.join("lab", "lab-secret")
    driver.command("AT+CWAUTOCONN=0")  # the module must not rejoin by itself: the driver does
    # wait_for looks at the events after the last control operation, so it sees the
    # drop's URC whether it starts before the drop (here) or after it
    dropped = w800at.submit(control.wait_for("urc", "WIFI DISCONNECT"))
    w800at.run(control.wifi_drop(duration=1))  # the AP is back after 1 s
    dropped.result(timeout=5)
    driver.service(until=lambda: driver.joins == 2, timeout=10)
    assert driver.joins == 2
    assert driver.connected
