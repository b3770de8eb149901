"""The five-line driver test: the driver under test opens the emulated module's PTY."""

from atdriver import AtDriver


def test_driver_joins_the_lab_access_point(w800at):
    driver = AtDriver(w800at.port)
    driver.join("lab", "lab-secret")
    assert driver.connected
