"""Both backends turn the engine's log stream into lines with ``base.log_lines``."""

from podium.scheduler.base import log_lines


def test_chunks_cut_mid_line_and_mid_character_join_into_whole_lines() -> None:
    snowman = "☃".encode()
    chunks = [b"first\r\nsec", b"ond " + snowman[:1], snowman[1:] + b"\n", b"last"]
    assert list(log_lines(chunks)) == ["first", "second ☃", "last"]


def test_a_broken_byte_from_a_space_is_replaced_not_fatal() -> None:
    assert list(log_lines([b"bad \xff byte\n"])) == ["bad \ufffd byte"]


def test_an_empty_stream_has_no_lines() -> None:
    assert list(log_lines([])) == []
    assert list(log_lines([b""])) == []
