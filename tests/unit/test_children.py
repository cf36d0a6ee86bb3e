"""``die_with_parent``: a child started after its parent died (between the fork and the
prctl) must not run on, since the parent-death signal would never come."""

from __future__ import annotations

import os
import subprocess
import sys

from podium.children import die_with_parent


def test_a_child_of_a_living_parent_runs() -> None:
    done = subprocess.run([sys.executable, "-c", "print('ran')"], preexec_fn=die_with_parent(),
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, "ran\n")


def test_a_child_whose_parent_is_already_gone_exits_before_running() -> None:
    hook = die_with_parent()  # made here: this process is the parent it watches
    reader, writer = os.pipe()
    middle = os.fork()
    if middle == 0:  # a child of ANOTHER process than the hook's parent runs the hook
        code = 2
        try:  # never return into pytest from a forked copy of it
            grandchild = os.fork()
            if grandchild == 0:
                try:
                    hook()
                    os.write(writer, b"ran on")
                finally:
                    os._exit(0)
            _, status = os.waitpid(grandchild, 0)
            code = os.waitstatus_to_exitcode(status)
        finally:
            os._exit(code)
    os.close(writer)
    _, status = os.waitpid(middle, 0)
    output = os.read(reader, 64)
    os.close(reader)
    assert os.waitstatus_to_exitcode(status) == 1
    assert output == b""
