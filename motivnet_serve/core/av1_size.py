"""The largest frame an AVIF's AV1 stream may decode to, read from its sequence header before any decoding.

An AVIF states its size twice: the container's `ispe` box, which Pillow reports and admission charges, and
the AV1 sequence header, which sizes what the AV1 decoder allocates. libavif decodes at the second size and
then scales to the first, so a 3 KB file declaring 64x64 over a coded 16384x16384 frame costs the decoder
about 560 MB while 4,096 pixels were charged. The AVIF spec requires the sequence header in the `av1C`
property; its `max_frame_width/height` bound every frame the stream may code (AV1 spec 5.5.1), so charging
them too keeps the pixel budget true.
"""

from __future__ import annotations

SEQUENCE_HEADER_OBU = 1
HEADER_READ = 1024
MAX_ITEMS = 64
"""Items whose start is read: a photo has a handful (image, alpha, thumbnail, Exif, grid tiles); the bound keeps
a hostile item count from costing time."""
MAX_BOXES = 256
"""Boxes read per level of the box tree, for the same reason."""
"""Bytes read from the start of an item: the sequence header comes first, after at most a few short OBUs."""


class _Bits:
    """A big-endian bit reader over bytes; reading past the end raises IndexError (a damaged header)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def read(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | ((self.data[self.at >> 3] >> (7 - (self.at & 7))) & 1)
            self.at += 1
        return value

    def skip(self, count: int) -> None:
        self.at += count
        if self.at > 8 * len(self.data):
            raise IndexError("past the end")

    def uvlc(self) -> None:
        """Skips a variable-length code (timing info's ticks per picture); only its length matters here."""
        zeros = 0
        while not self.read(1):
            zeros += 1
        self.read(min(zeros, 32))


def coded_size(data: bytes) -> tuple[int, int] | None:
    """The largest (width, height) any AV1 sequence header of the file allows, from `av1C` and from the start
    of each item's data (where encoders put it, and where the decoder reads it), or None when none can be
    read (the decoder then refuses the file or decodes it at the size its header declared)."""
    sizes = []
    for obus in _config_obus(data), *_item_starts(data):
        try:
            header = _sequence_header(obus)
            if header is not None:
                sizes.append(_max_frame_size(_Bits(header)))
        except IndexError:
            continue
    return max(sizes, key=lambda size: size[0] * size[1], default=None)


def _boxes(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The boxes directly inside data[start:end], by type: (payload start, end); the first of each type."""
    found: dict[bytes, tuple[int, int]] = {}
    for _ in range(MAX_BOXES):
        if start + 8 > end:
            break
        size, kind = int.from_bytes(data[start : start + 4], "big"), data[start + 4 : start + 8]
        size = end - start if size == 0 else size
        if size < 8:
            break
        found.setdefault(kind, (start + 8, min(end, start + size)))
        start += size
    return found


def _meta_child(data: bytes, kind: bytes) -> bytes:
    """The payload of a box inside the top-level `meta` (a full box), or b"" when there is none."""
    meta = _boxes(data, 0, len(data)).get(b"meta")
    if meta is None:
        return b""
    found = _boxes(data, meta[0] + 4, meta[1])
    if kind in found:
        return data[slice(*found[kind])]
    iprp = found.get(b"iprp")
    ipco = _boxes(data, *iprp).get(b"ipco") if iprp else None
    inner = _boxes(data, *ipco).get(kind) if ipco else None
    return data[slice(*inner)] if inner else b""


def _config_obus(data: bytes) -> bytes:
    return _meta_child(data, b"av1C")[4:]


def _item_starts(data: bytes) -> list[bytes]:
    """The first bytes of each item stored in the file itself (iloc construction method 0), per ISO 14496-12
    8.11.3, for the first MAX_ITEMS items; items built another way are skipped."""
    iloc, starts = _Bits(_meta_child(data, b"iloc")), []
    try:
        version = iloc.read(8)
        iloc.read(24)
        offset_size, length_size, base_size, index_size = (iloc.read(4) * 8 for _ in range(4))
        index_size = index_size if version in (1, 2) else 0
        for _ in range(min(MAX_ITEMS, iloc.read(32 if version == 2 else 16))):
            iloc.read(32 if version == 2 else 16)
            method = iloc.read(16) & 15 if version in (1, 2) else 0
            iloc.read(16)
            base, extents = iloc.read(base_size), iloc.read(16)
            if extents and method == 0:
                iloc.read(index_size)
                offset, length = base + iloc.read(offset_size), iloc.read(length_size)
                starts.append(data[offset : offset + min(length or len(data), HEADER_READ)])
                extents -= 1
            iloc.skip(extents * (index_size + offset_size + length_size))
    except IndexError:
        pass  # a damaged table: the items read before the damage still count
    return starts


def _sequence_header(obus: bytes) -> bytes | None:
    """The payload of the first sequence header OBU among the config OBUs (each with its size field)."""
    at = 0
    while at < len(obus):
        kind, extension, has_size = (obus[at] >> 3) & 15, (obus[at] >> 2) & 1, (obus[at] >> 1) & 1
        at += 1 + extension
        if not has_size:
            return obus[at:] if kind == SEQUENCE_HEADER_OBU else None
        size, at = _leb128(obus, at)
        if kind == SEQUENCE_HEADER_OBU:
            return obus[at : at + size]
        at += size
    return None


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for index in range(8):
        byte = data[at + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, at + index + 1
    return value, at + 8


def _max_frame_size(bits: _Bits) -> tuple[int, int]:
    """AV1 spec 5.5.1 up to max_frame_width_minus_1 and max_frame_height_minus_1."""
    bits.read(4)  # seq_profile, still_picture
    if bits.read(1):  # reduced_still_picture_header
        bits.read(5)
    else:
        _skip_operating_points(bits)
    width_bits, height_bits = bits.read(4) + 1, bits.read(4) + 1
    return bits.read(width_bits) + 1, bits.read(height_bits) + 1


def _skip_operating_points(bits: _Bits) -> None:
    """Timing, decoder model and operating points: read only to reach the frame size fields."""
    decoder_model, delay_bits = False, 0
    if bits.read(1):  # timing_info_present_flag
        bits.read(64)
        if bits.read(1):  # equal_picture_interval
            bits.uvlc()
        decoder_model = bool(bits.read(1))
        if decoder_model:
            delay_bits = bits.read(5) + 1
            bits.read(32 + 5 + 5)
    initial_delay = bits.read(1)
    for _ in range(bits.read(5) + 1):
        bits.read(12)  # operating_point_idc
        if bits.read(5) > 7:  # seq_level_idx
            bits.read(1)
        if decoder_model and bits.read(1):
            bits.read(2 * delay_bits + 1)
        if initial_delay and bits.read(1):
            bits.read(4)
