"""What a Space's requirements.txt may hand the shared dependency cache's fill: plain
requirement specifiers only, never an option, a URL or a path that could steer a download
away from the platform's index (builder/wheelhouse.py)."""

from __future__ import annotations

from podium.builder.wheelhouse import WHEEL_RE, specifiers


def test_only_plain_specifiers_reach_the_fill() -> None:
    text = "\n".join([
        "numpy>=1.26  # comment",
        "pandas[performance]==2.2.0 ; python_version >= '3.10'",
        "--index-url http://127.0.0.1:6379/simple",
        "--extra-index-url=http://evil.example/simple",
        "-f ./poison",
        "--find-links /home/user/app/poison",
        "-e .",
        "-r other.txt",
        "-c constraints.txt",
        "six @ file:///home/user/app/poison/six-1.17.0-py2.py3-none-any.whl",
        "six @ https://evil.example/six-1.17.0-py2.py3-none-any.whl",
        "./poison/six-1.17.0-py2.py3-none-any.whl",
        "git+https://evil.example/six.git",
        "scipy",
        "",
        "# just a comment",
    ])
    assert specifiers(text) == [
        "numpy>=1.26",
        'pandas[performance]==2.2.0; python_version >= "3.10"',
        "scipy",
    ]


def test_only_wheel_file_names_are_taken_from_the_fills_output() -> None:
    assert WHEEL_RE.match("numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.whl")
    assert WHEEL_RE.match("six-1.17.0-py2.py3-none-any.whl")
    assert not WHEEL_RE.match("../six-1.17.0-py2.py3-none-any.whl")
    assert not WHEEL_RE.match("six-1.17.0.tar.gz")
