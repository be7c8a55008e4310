"""Header keys the tolerant reader (recovery.py) gives: which are dead-lettered, how they are
written back."""

from __future__ import annotations

from worker.stream.codec import (
    DeadLetter,
    DeadLetterReason,
    Source,
    undecodable_header_keys,
    writable_key,
)


def read_leniently(raw: bytes) -> str:
    """A header key as recovery.py reads it."""
    return raw.decode("utf-8", "surrogateescape")


def test_utf8_header_keys_are_not_a_problem_ascii_or_not() -> None:
    assert undecodable_header_keys([("trace", b"1"), ("ключ", b""), ("", b""), ("€", b"x")]) is None


def test_undecodable_header_keys_are_named_by_position_and_byte_never_by_content() -> None:
    headers = [
        ("ok", b"1"),
        (read_leniently(b"secret-\xff"), b"x"),
        (read_leniently("é".encode() + b"\xc3"), b""),
    ]
    assert undecodable_header_keys(headers) == DeadLetter(
        DeadLetterReason.INVALID_HEADER,
        "record header 1: key has invalid UTF-8 at byte 7\n"
        "record header 2: key has invalid UTF-8 at byte 2",
    )


def test_at_most_five_header_keys_are_listed() -> None:
    letter = undecodable_header_keys([(read_leniently(b"\xff"), b"")] * 8)
    assert letter is not None
    lines = letter.detail.splitlines()
    assert lines[:5] == [f"record header {i}: key has invalid UTF-8 at byte 0" for i in range(5)]
    assert lines[5:] == ["(and 3 more header keys)"]


def test_undecodable_keys_are_written_back_with_replacement_characters() -> None:
    assert writable_key("trace") == "trace"
    assert writable_key("ключ") == "ключ"
    assert writable_key(read_leniently(b"k-\xff\xfe")) == "k-\ufffd\ufffd"
    source = Source("t", 0, 5, [(read_leniently(b"\xc3("), b"v"), ("ok", b"")])
    assert source.headers_out()[:2] == [("\ufffd(", b"v"), ("ok", b"")]
    for key, _ in source.headers_out():
        key.encode()  # what the producer does: never fails
