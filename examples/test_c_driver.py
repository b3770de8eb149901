"""A driver written in C, built with the system's gcc and pointed at the module's TCP port."""

import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent / "c" / "at_ok.c"


@pytest.fixture
def at_ok(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed, so the C driver cannot be built (apt-get install gcc)")
    exe = tmp_path / "at_ok"
    subprocess.run([gcc, "-std=c11", "-Wall", "-Werror", "-O2", "-o", exe, SOURCE], check=True)
    return exe


@pytest.mark.w800at(transport="tcp")
def test_the_c_driver_gets_ok(w800at, at_ok):
    host, port = w800at.tcp
    run = subprocess.run([at_ok, host, str(port)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == "OK\n"
    assert "host    cmd       AT\n" in w800at.transcript  # what the driver sent, as a row
