#!/usr/bin/python3
"""Generates the io/ reader fixtures (tests/data/io/) and the fuzz seed
corpora (tests/fuzz/corpus/). Run with Debian's /usr/bin/python3 (numpy):

    /usr/bin/python3 tools/gen_io_fixtures.py

The outputs are committed; rerunning rewrites them byte for byte (zip
timestamps are fixed). The safetensors files are written here by hand
(struct + json), independently of mir's writer.

Values: element i of an array (in C order) is value(i) below, so the C++
tests can recompute them: (i % 97) * 0.5 - 7 for floats (exact in F16 and
BF16), i % 3 == 0 for BOOL, (7 * i) % 256 for U8.
"""
import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "io")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
DATE = (2024, 1, 1, 0, 0, 0)


def values(shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    i = np.arange(n, dtype=np.int64)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        v = (i % 3) == 0
    elif dt.kind == "u":
        v = (7 * i) % 256
    else:
        v = (i % 97) * 0.5 - 7
    return v.astype(dt.newbyteorder("=")).reshape(shape)


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def zip_bytes(members, compression=zipfile.ZIP_STORED, force_zip64=False):
    """members: list of (name, bytes). Fixed timestamps, like numpy.savez."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression, allowZip64=True) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=DATE)
            info.compress_type = compression
            with zf.open(info, "w", force_zip64=force_zip64) as f:
                f.write(data)
    return buf.getvalue()


def savez_bytes(compressed, **arrays):
    # numpy 1.24 writes fixed 1980-01-01 timestamps and ZIP64 extra fields
    # in the local headers (zipf.open(..., force_zip64=True)).
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def zip64_full_bytes(members, compression=zipfile.ZIP_STORED):
    """A ZIP64 archive written by hand, as a writer does past 4 GiB: every
    size and offset in the local and central headers is 0xFFFFFFFF with the
    values in ZIP64 extra fields, and the end of the central directory is a
    ZIP64 record plus locator (the classic record holds 0xFFFF/0xFFFFFFFF)."""
    out = bytearray()
    central = bytearray()
    dos_time, dos_date = 0, (2024 - 1980) << 9 | 1 << 5 | 1
    for name, raw in members:
        nb = name.encode()
        crc = zlib.crc32(raw)
        if compression == zipfile.ZIP_DEFLATED:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = c.compress(raw) + c.flush()
        else:
            data = raw
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, len(raw), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, compression, dos_time, dos_date, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(extra)) + nb + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, len(raw), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, compression, dos_time, dos_date,
                               crc, 0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(cextra), 0, 0, 0, 0,
                               0xFFFFFFFF) + nb + cextra
    cd_offset = len(out)
    out += central
    eocd64_offset = len(out)
    n = len(members)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64_offset, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(out)


def safetensors_bytes(tensors, metadata=None, header_order=None, pad_to=8, data_at=None):
    """tensors: list of (name, dtype_str, shape, raw bytes) laid out in order."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    entries = {}
    for name, dt, shape, raw in tensors:
        entries[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    for name in header_order or [t[0] for t in tensors]:
        header[name] = entries[name]
    text = json.dumps(header, separators=(",", ":")).encode()
    if data_at is not None:  # pad so that the data section begins at data_at (mod 8)
        text += b" " * ((data_at - 8 - len(text)) % 8)
    elif pad_to:
        text += b" " * ((-len(text)) % pad_to)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def bf16_bits(a):
    """float32 values exactly representable in BF16 -> their BF16 bit patterns."""
    return (np.asarray(a, dtype="<f4").view("<u4") >> 16).astype("<u2")


def main():
    shape = (2, 3, 4)
    npy = os.path.join(OUT, "npy")
    # Versions 1.0, 2.0, 3.0 of the same array.
    a32 = values(shape, "<f4")
    write(os.path.join(npy, "f32_v1.npy"), npy_bytes(a32, (1, 0)))
    write(os.path.join(npy, "f32_v2.npy"), npy_bytes(a32, (2, 0)))
    write(os.path.join(npy, "f32_v3.npy"), npy_bytes(a32, (3, 0)))
    # Every supported dtype, little- and big-endian.
    for dt in ("<f2", "<f8", ">f2", ">f4", ">f8", "|b1", "|u1"):
        tag = {"<": "le", ">": "be", "|": ""}[dt[0]]
        name = {"f2": "f16", "f4": "f32", "f8": "f64", "b1": "bool", "u1": "u8"}[dt[1:]]
        fname = f"{name}_{tag}.npy" if tag else f"{name}.npy"
        write(os.path.join(npy, fname), npy_bytes(values(shape, dt).astype(dt)))
    # Fortran order (3-D), also combined with big-endian; 2-D.
    write(os.path.join(npy, "f64_fortran.npy"), npy_bytes(np.asfortranarray(values(shape, "<f8"))))
    write(os.path.join(npy, "f32_fortran_be.npy"),
          npy_bytes(np.asfortranarray(values(shape, "<f4")).astype(">f4")))
    write(os.path.join(npy, "f16_fortran_2d.npy"), npy_bytes(np.asfortranarray(values((5, 7), "<f2"))))
    # Zero elements, a scalar, a 1-D array.
    write(os.path.join(npy, "empty.npy"), npy_bytes(np.zeros((0, 5), dtype="<f4")))
    write(os.path.join(npy, "scalar.npy"), npy_bytes(np.array(2.5, dtype="<f8")))
    write(os.path.join(npy, "vector.npy"), npy_bytes(values((6,), "<f4")))
    # Unsupported dtypes.
    write(os.path.join(npy, "i32.npy"), npy_bytes(np.arange(6, dtype="<i4")))
    write(os.path.join(npy, "structured.npy"),
          npy_bytes(np.zeros(3, dtype=[("a", "<f4"), ("b", "<i2")])))

    npz = os.path.join(OUT, "npz")
    hs = values((3, 5, 4), "<f2")
    mask = np.array([True, True, False, False, False])
    write(os.path.join(npz, "savez.npz"), savez_bytes(False, hidden_states=hs, vision_mask=mask))
    write(os.path.join(npz, "savez_compressed.npz"), savez_bytes(True, hidden_states=hs, vision_mask=mask))
    members = [("hidden_states.npy", npy_bytes(hs)), ("vision_mask.npy", npy_bytes(mask))]
    # ZIP64 extra fields in the local headers only (Python's force_zip64),
    # and full ZIP64 archives (central directory and end record too).
    write(os.path.join(npz, "zip64_local.npz"), zip_bytes(members, zipfile.ZIP_DEFLATED, force_zip64=True))
    write(os.path.join(npz, "zip64_full_stored.npz"), zip64_full_bytes(members, zipfile.ZIP_STORED))
    write(os.path.join(npz, "zip64_full_deflated.npz"), zip64_full_bytes(members, zipfile.ZIP_DEFLATED))
    for f in ("zip64_full_stored.npz", "zip64_full_deflated.npz"):  # cross-check with numpy's reader
        with np.load(os.path.join(npz, f)) as z:
            assert z.files == ["hidden_states", "vision_mask"], z.files
            assert (z["hidden_states"] == hs).all() and (z["vision_mask"] == mask).all()
    # Non-.npy members are ignored; a directory entry too.
    write(os.path.join(npz, "extra_members.npz"),
          zip_bytes([("README.txt", b"not an array\n"), ("sub/", b"")] + members))
    # A member that is not .npy data.
    write(os.path.join(npz, "bad_member.npz"),
          zip_bytes([("hidden_states.npy", b"this is not an npy file"), members[1]]))
    # A stored member whose data no longer match their CRC.
    good = bytearray(zip_bytes(members))
    at = good.index(b"\x93NUMPY") + 200
    good[at] ^= 0x55
    write(os.path.join(npz, "bad_crc.npz"), bytes(good))
    # Truncated archive (end of central directory cut off).
    write(os.path.join(npz, "truncated.npz"), zip_bytes(members)[:-30])
    # Two members of one name (zipfile warns, and writes both).
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write(os.path.join(npz, "duplicate.npz"), zip_bytes(members + [members[1]]))
    # A dump with an unused member whose data fail their CRC: never
    # inflated, so the dump reads (lazy members).
    logits = npy_bytes(values((64, 8), "<f4"))
    unused = bytearray(zip_bytes(members + [("logits.npy", logits)]))
    at = unused.rindex(b"\x93NUMPY") + 1000
    unused[at] ^= 0x55
    write(os.path.join(npz, "unused_bad_crc.npz"), bytes(unused))
    # A deflated member whose directory entries (local and central, so they
    # agree) claim 0xF0000000 bytes: more than deflate can produce from it.
    bomb = bytearray(zip_bytes(members, zipfile.ZIP_DEFLATED))
    claim = struct.pack("<I", 0xF0000000)
    local = bomb.index(b"PK\x03\x04")
    bomb[local + 22:local + 26] = claim
    central = bomb.index(b"PK\x01\x02")
    bomb[central + 24:central + 28] = claim
    write(os.path.join(npz, "ratio_bomb.npz"), bytes(bomb))

    st = os.path.join(OUT, "safetensors")
    f16 = values(shape, "<f2").tobytes()
    bf16 = bf16_bits(values(shape, "<f4")).tobytes()
    f32 = values(shape, "<f4").tobytes()
    f64 = values(shape, "<f8").tobytes()
    b1 = values((7,), "|b1").tobytes()
    u8 = values((7,), "|u1").tobytes()
    tensors = [
        ("f64", "F64", shape, f64),
        ("f32", "F32", shape, f32),
        ("bf16", "BF16", shape, bf16),
        ("f16", "F16", shape, f16),
        ("empty", "F32", (0, 4), b""),
        ("mask_bool", "BOOL", (7,), b1),
        ("mask_u8", "U8", (7,), u8),
    ]
    write(os.path.join(st, "all_dtypes.safetensors"),
          safetensors_bytes(tensors, metadata={"format": "pt", "note": "mir io fixture"},
                            header_order=sorted(t[0] for t in tensors)))
    # The data section begins at 2 (mod 8) and a 3-byte U8 tensor comes
    # first: the F32 data begin at 5 (mod 8), misaligned in memory (the
    # reader must still read them).
    write(os.path.join(st, "misaligned.safetensors"),
          safetensors_bytes([("mask", "U8", (3,), bytes([1, 0, 1])), ("x", "F32", (2, 3), values((2, 3), "<f4").tobytes())],
                            data_at=2))
    # Scalar (shape []) and an empty file (no tensors at all).
    write(os.path.join(st, "scalar.safetensors"),
          safetensors_bytes([("s", "F64", (), np.array(2.5, "<f8").tobytes())]))
    write(os.path.join(st, "no_tensors.safetensors"), safetensors_bytes([]))
    # An unsupported dtype next to a supported one.
    write(os.path.join(st, "i64.safetensors"),
          safetensors_bytes([("hidden_states", "F32", (2,), f32[:8]), ("input_ids", "I64", (2,), bytes(16))]))

    # Fuzz seed corpora: small valid and invalid inputs.
    cs = os.path.join(CORPUS, "safetensors")
    small = safetensors_bytes([("hidden_states", "F16", (2, 2, 3), values((2, 2, 3), "<f2").tobytes()),
                               ("vision_mask", "U8", (2,), bytes([1, 0]))], metadata={"k": "v"})
    write(os.path.join(cs, "valid_small"), small)
    write(os.path.join(cs, "valid_misaligned"), open(os.path.join(st, "misaligned.safetensors"), "rb").read())
    write(os.path.join(cs, "valid_scalar"), open(os.path.join(st, "scalar.safetensors"), "rb").read())
    write(os.path.join(cs, "valid_bf16"), safetensors_bytes([("x", "BF16", (2, 2), bf16[:8])]))
    write(os.path.join(cs, "invalid_overlap"),
          struct.pack("<Q", 96) + b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}'.ljust(96) + b"abc")
    write(os.path.join(cs, "invalid_duplicate"),
          struct.pack("<Q", 64) + b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{}}'.ljust(64) + b"x")
    write(os.path.join(cs, "invalid_truncated"), small[:-5])
    write(os.path.join(cs, "invalid_header_len"), struct.pack("<Q", 1 << 40) + b"{}")

    cn = os.path.join(CORPUS, "npy")
    write(os.path.join(cn, "v1_f32"), npy_bytes(values((2, 3), "<f4")))
    write(os.path.join(cn, "v2_f16_be"), npy_bytes(values((3,), "<f2").astype(">f2"), (2, 0)))
    write(os.path.join(cn, "v3_bool"), npy_bytes(values((4,), "|b1"), (3, 0)))
    write(os.path.join(cn, "fortran_f64"), npy_bytes(np.asfortranarray(values((2, 3, 2), "<f8"))))
    write(os.path.join(cn, "scalar_u8"), npy_bytes(np.array(7, dtype="|u1")))
    write(os.path.join(cn, "invalid_shape"), npy_bytes(values((2,), "<f4")).replace(b"(2,)", b"(2) "))
    write(os.path.join(cn, "invalid_trailing"), npy_bytes(values((2,), "<f4")) + b"\0")
    write(os.path.join(cn, "invalid_i4"), npy_bytes(np.arange(2, dtype="<i4")))

    cz = os.path.join(CORPUS, "npz")
    tiny = [("hidden_states.npy", npy_bytes(values((2, 2, 3), "<f2"))),
            ("vision_mask.npy", npy_bytes(np.array([True, False])))]
    write(os.path.join(cz, "stored"), zip_bytes(tiny))
    write(os.path.join(cz, "deflated"), zip_bytes(tiny, zipfile.ZIP_DEFLATED))
    write(os.path.join(cz, "zip64"), zip64_full_bytes(tiny, zipfile.ZIP_DEFLATED))
    write(os.path.join(cz, "bad_member"), zip_bytes([("x.npy", b"\x93NUMPY\x01\x00\x04\x00{}  ")]))
    write(os.path.join(cz, "truncated"), zip_bytes(tiny)[:-10])

    # The dump-layer target (fuzz_dump) reads the first byte as the format
    # (even: safetensors, odd: npz), the rest as the file.
    cd = os.path.join(CORPUS, "dump")
    tiny_hs = values((2, 3, 2), "<f4")
    tiny_mask = np.array([True, False, False])
    write(os.path.join(cd, "st_per_sample"),
          b"\0" + safetensors_bytes([("hidden_states", "F32", [2, 3, 2], tiny_hs.tobytes()),
                                     ("vision_mask", "BOOL", [3], tiny_mask.tobytes())]))
    write(os.path.join(cd, "st_pre_split"),
          b"\0" + safetensors_bytes([("vision", "F16", [2, 2, 2], values((2, 2, 2), "<f2").tobytes()),
                                     ("text", "F16", [2, 3, 2], values((2, 3, 2), "<f2").tobytes())]))
    write(os.path.join(cd, "npz_per_sample"),
          b"\1" + savez_bytes(True, hidden_states=tiny_hs, vision_mask=tiny_mask))
    write(os.path.join(cd, "npz_pre_split"),
          b"\1" + savez_bytes(False, vision=values((2, 2, 2), "<f8"), text=values((2, 3, 2), "<f8")))


def bench(out):
    """Inputs for the measurements in docs/io.md (not committed): safetensors
    headers of many tensors, npz archives of many tiny members, and a 0.5 MB
    npz dump with an unused 512 MiB member of deflated zeros."""
    os.makedirs(out, exist_ok=True)
    hs = values((3, 4, 2), "<f4")
    mask = np.array([True, True, False, False])
    for n in (5000, 10000, 20000, 40000, 300000):
        extra = [("t%06d" % i, "U8", [1], b"\0") for i in range(n)]
        write(os.path.join(out, "st_%d.safetensors" % n),
              safetensors_bytes([("hidden_states", "F32", [3, 4, 2], hs.tobytes()),
                                 ("vision_mask", "BOOL", [4], mask.tobytes())] + extra))
    tiny = npy_bytes(np.zeros(1, dtype="|u1"))
    for n in (10000, 20000, 40000):
        ms = [("hidden_states.npy", npy_bytes(hs)), ("vision_mask.npy", npy_bytes(mask))]
        ms += [("m%06d.npy" % i, tiny) for i in range(n)]
        write(os.path.join(out, "npz_%d.npz" % n), zip_bytes(ms))
    # The 512 MiB member, deflated in pieces (never whole in memory here).
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name, data in (("hidden_states.npy", npy_bytes(hs)), ("vision_mask.npy", npy_bytes(mask))):
            zf.writestr(zipfile.ZipInfo(name, date_time=DATE), data, compress_type=zipfile.ZIP_DEFLATED)
        n = 512 << 20
        info = zipfile.ZipInfo("unused.npy", date_time=DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            f.write(np.lib.format.magic(1, 0) + struct.pack("<H", 118) +
                    ("{'descr': '|u1', 'fortran_order': False, 'shape': (%d,), }" % n).ljust(117).encode() + b"\n")
            chunk = bytes(1 << 20)
            for _ in range(512):
                f.write(chunk)
    write(os.path.join(out, "unused_512mib.npz"), buf.getvalue())


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        bench(sys.argv[2])
    else:
        main()
