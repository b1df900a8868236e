"""Minimal Lower Layer Protocol framing, sans-IO (HL7 v2.5 Appendix C.4.2 / IHE ITI TF-2x §C.2.1).

A block is ``<VT> message <FS><CR>``. :func:`frame` wraps a message; :class:`MllpDecoder` takes
bytes as they arrive (any split) and returns the complete messages, raw, before any parsing.
"""

from __future__ import annotations

START = b"\x0b"  # <VT>, start block
END = b"\x1c\x0d"  # <FS><CR>, end block
MAX_MESSAGE = 64 * 1024 * 1024  # a CR-IMG with its images' report stays far below


class MllpError(ValueError):
    """The byte stream is not MLLP: data outside a block, or a block past the size limit."""


def frame(message: bytes) -> bytes:
    """Wrap one HL7 message in an MLLP block."""
    if START in message or b"\x1c" in message:
        raise MllpError("an HL7 message cannot contain <VT> or <FS> bytes")
    return START + message + END


class MllpDecoder:
    """Feed bytes, get whole messages. Whitespace between blocks is ignored; anything else is an error."""

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._in_block = False
        self._max = max_message

    @property
    def pending(self) -> int:
        """Bytes held for a block not finished yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        messages: list[bytes] = []
        self._buf.extend(data)
        while True:
            if not self._in_block:
                stripped = self._buf.lstrip(b"\r\n \t")
                if not stripped:
                    self._buf.clear()
                    return messages
                if stripped[:1] != START:
                    self._buf.clear()
                    raise MllpError(f"data outside an MLLP block: {bytes(stripped[:20])!r}")
                self._buf = bytearray(stripped[1:])
                self._in_block = True
            end = self._buf.find(END)
            if end < 0:
                if len(self._buf) > self._max:
                    self._buf.clear()
                    self._in_block = False
                    raise MllpError(f"MLLP block larger than {self._max} bytes")
                return messages
            messages.append(bytes(self._buf[:end]))
            self._buf = bytearray(self._buf[end + len(END):])
            self._in_block = False
