"""The RDB format, without sockets: every type and encoding round-trips through our
writer and reader, the encodings chosen are Redis's, Redis's own dump loads, older
encodings load, and a damaged file (any flipped byte, any truncation, an unknown type)
is refused with a message that says what is wrong."""

from __future__ import annotations

import io
import math
from collections import deque

import pytest

from redis_clone.persistence import intset, listpack, ziplist
from redis_clone.persistence.rdb import (
    OPCODE_AUX, OPCODE_EXPIRETIME, OPCODE_EXPIRETIME_MS, OPCODE_FREQ, OPCODE_FUNCTION2,
    OPCODE_IDLE, OPCODE_MODULE_AUX, OPCODE_SELECTDB, TYPE_HASH,
    TYPE_HASH_LISTPACK, TYPE_HASH_ZIPLIST, TYPE_HASH_ZIPMAP, TYPE_LIST, TYPE_LIST_QUICKLIST,
    TYPE_LIST_QUICKLIST_2, TYPE_LIST_ZIPLIST, TYPE_MODULE_2, TYPE_SET, TYPE_SET_INTSET,
    TYPE_SET_LISTPACK, TYPE_STREAM_LISTPACKS_2, TYPE_STRING, TYPE_ZSET, TYPE_ZSET_2,
    TYPE_ZSET_LISTPACK, TYPE_ZSET_ZIPLIST, MODULE_NAME_CHARSET, EncodingLimits, RdbError,
    module_type_name, string_to_int64)
from redis_clone.persistence.rdb_reader import RdbReader
from redis_clone.persistence.rdb_writer import RdbWriter, encode_length, encode_string
from redis_clone.zset import ZSet
from tests.unit.rdb_samples import (HASH_LISTPACK, INTSET, LIST_LISTPACK, REDIS_7_DUMP,
                                    ZSET_LISTPACK, key_record, rdb_file)

TYPE_OFFSET = 14  # "REDIS0010", SELECTDB 0, RESIZEDB n m: then the first key's type byte


def zset(*pairs: tuple[bytes, float], compact: bool = True) -> ZSet:
    z = ZSet(compact=compact)
    for member, score in pairs:
        z.add(member, score)
    return z


def dump(dbs: dict[int, dict[bytes, object]], deadlines: dict[bytes, int] | None = None, *,
         aux: dict[str, bytes] | None = None, limits: EncodingLimits = EncodingLimits(),
         compression: bool = True, checksum: bool = True) -> bytes:
    out = io.BytesIO()
    writer = RdbWriter(out, limits, compression=compression, checksum=checksum)
    writer.start(aux or {})
    for index, items in dbs.items():
        writer.database(index, list(items.items()), deadlines or {}, len(items))
    writer.finish()
    return out.getvalue()


def load(data: bytes, **options) -> dict[tuple[int, bytes], tuple[object, int | None]]:
    return {(db, key): (value, deadline)
            for db, key, value, deadline in RdbReader(data, **options).entries()}


def round_trip(value, **options):
    """Write one key, read it back (with the same encoding limits)."""
    limits = options.get("limits", EncodingLimits())
    [(loaded, _)] = load(dump({0: {b"k": value}}, **options), limits=limits).values()
    return loaded


def written_type(value, **options) -> int:
    return dump({0: {b"k": value}}, **options)[TYPE_OFFSET]


def module_type_name_id(name: str, encoding_version: int = 1) -> int:
    """The 64-bit id Redis gives a module type: 9 characters of 6 bits, then 10 bits
    of encoding version."""
    module_id = 0
    for char in name:
        module_id = module_id << 6 | MODULE_NAME_CHARSET.index(char)
    return module_id << 10 | encoding_version


# --- strings -----------------------------------------------------------------------

@pytest.mark.parametrize("text, encoded", [
    (b"12", b"\xc0\x0c"), (b"-128", b"\xc0\x80"), (b"300", b"\xc1\x2c\x01"),
    (b"-70000", b"\xc2\x90\xee\xfe\xff"),
])
def test_strings_that_spell_small_integers_are_stored_as_integers(text, encoded):
    assert encode_string(text) == encoded
    assert round_trip(text) == text


@pytest.mark.parametrize("text", [b"2147483648", b"007", b"+1", b"-0", b" 1", b"1_0", b"",
                                  b"12345678901"])
def test_strings_that_only_look_numeric_stay_byte_for_byte(text):
    assert encode_string(text)[1:] == text
    assert round_trip(text) == text


def test_long_compressible_strings_are_lzf_compressed_unless_compression_is_off():
    text = b"a" * 100
    assert encode_string(text)[0] == 0xC3
    assert len(encode_string(text)) < 20
    assert encode_string(text, compress=False) == bytes((0x40, 100)) + text
    assert round_trip(text) == round_trip(text, compression=False) == text


def test_incompressible_and_binary_strings_round_trip():
    for text in (bytes(range(256)) * 3, b"\x00\r\n\xff" * 5000, b"x" * 70000):
        assert round_trip(text) == text


def test_lengths_use_the_four_forms():
    assert encode_length(63) == b"\x3f"
    assert encode_length(64) == b"\x40\x40"
    assert encode_length(16383) == b"\x7f\xff"
    assert encode_length(16384) == b"\x80\x00\x00\x40\x00"
    assert encode_length(1 << 32) == b"\x81" + (1 << 32).to_bytes(8, "big")


def test_string_to_int64_follows_redis_string2ll():
    assert string_to_int64(b"-9223372036854775808") == -(1 << 63)
    for text in (b"9223372036854775808", b"01", b"-0", b"+5", b"1e3", b"", b"-"):
        assert string_to_int64(text) is None


# --- lists ------------------------------------------------------------------------

def test_a_small_list_is_one_listpack_node_exactly_as_redis_writes_it():
    data = dump({0: {b"k": deque([b"a", b"b", b"1", b"-2"])}}, compression=False)
    assert data[TYPE_OFFSET] == TYPE_LIST_QUICKLIST_2
    node_count, container = data[TYPE_OFFSET + 3], data[TYPE_OFFSET + 4]
    assert (node_count, container) == (1, 2)  # one PACKED node
    assert data[TYPE_OFFSET + 5:TYPE_OFFSET + 6 + len(LIST_LISTPACK)][1:] == LIST_LISTPACK


@pytest.mark.parametrize("fill, count, nodes", [(5, 12, 3), (-2, 20000, None), (-1, 3000, None)])
def test_long_lists_are_cut_into_nodes_by_list_max_listpack_size(fill, count, nodes):
    items = deque(b"element-%d" % i for i in range(count))
    limits = EncodingLimits(list_max_listpack_size=fill)
    data = dump({0: {b"k": items}}, limits=limits)
    written_nodes = data[TYPE_OFFSET + 3]  # after the type and the key "k": a 6-bit count
    if nodes is not None:
        assert written_nodes == nodes
    else:  # by bytes: nodes of at most 8 KiB (-2) or 4 KiB (-1), each nearly full
        entry_bytes = sum(len(listpack.entry(item)) for item in items)
        limit = {-2: 8192, -1: 4096}[fill]
        assert entry_bytes / limit < written_nodes <= entry_bytes / (limit - 20) + 1 < 64
    assert round_trip(items, limits=limits) == items


def test_an_element_bigger_than_a_node_gets_a_node_of_its_own():
    items = deque([b"small", b"x" * 20000, b"small"])
    assert round_trip(items) == items


def test_list_elements_that_look_like_integers_come_back_byte_for_byte():
    items = deque([b"12", b"007", b"-0", b"9223372036854775807", b"9223372036854775808",
                   b"-4096", b"4095", b"-8388609", b"2147483648", b""])
    assert round_trip(items) == items


# --- hashes, sets, sorted sets: compact or plain, as Redis decides ----------------

def test_a_small_hash_is_a_listpack_exactly_as_redis_writes_it():
    data = dump({0: {b"k": {b"f": b"v", b"n": b"7"}}}, compression=False)
    assert data[TYPE_OFFSET] == TYPE_HASH_LISTPACK
    assert data[TYPE_OFFSET + 3:TYPE_OFFSET + 4 + len(HASH_LISTPACK)][1:] == HASH_LISTPACK


@pytest.mark.parametrize("fields, limits, expected", [
    ({b"f%d" % i: b"v" for i in range(512)}, EncodingLimits(), TYPE_HASH_LISTPACK),
    ({b"f%d" % i: b"v" for i in range(513)}, EncodingLimits(), TYPE_HASH),
    ({b"f": b"v" * 64}, EncodingLimits(), TYPE_HASH_LISTPACK),
    ({b"f": b"v" * 65}, EncodingLimits(), TYPE_HASH),
    ({b"f" * 65: b"v"}, EncodingLimits(), TYPE_HASH),
    ({b"a": b"1", b"b": b"2"}, EncodingLimits(hash_max_entries=1), TYPE_HASH),
])
def test_hashes_are_compact_only_within_the_listpack_limits(fields, limits, expected):
    assert written_type(fields, limits=limits) == expected
    assert round_trip(fields, limits=limits) == fields


@pytest.mark.parametrize("members, limits, expected", [
    ({b"3", b"1", b"2"}, EncodingLimits(), TYPE_SET_INTSET),
    ({b"%d" % i for i in range(512)}, EncodingLimits(), TYPE_SET_INTSET),
    ({b"%d" % i for i in range(513)}, EncodingLimits(), TYPE_SET),
    ({b"1", b"x"}, EncodingLimits(), TYPE_SET),
    ({b"1", b"007"}, EncodingLimits(), TYPE_SET),
    ({b"-9223372036854775808", b"9223372036854775807"}, EncodingLimits(), TYPE_SET_INTSET),
    ({b"1", b"2"}, EncodingLimits(set_max_intset_entries=1), TYPE_SET),
])
def test_sets_are_intsets_only_when_small_and_all_integers(members, limits, expected):
    assert written_type(members, limits=limits) == expected
    assert round_trip(members, limits=limits) == members


def test_an_intset_is_written_exactly_as_redis_writes_it():
    assert intset.encode([3, 1, 2]) == INTSET
    assert intset.decode(intset.encode([70000, -1])) == [-1, 70000]  # widened to 32 bits
    assert intset.encode([1 << 40])[:4] == b"\x08\x00\x00\x00"


def test_a_small_sorted_set_is_a_listpack_exactly_as_redis_writes_it():
    value = zset((b"a", 1.0), (b"b", 2.5), (b"c", -3.0))
    data = dump({0: {b"k": value}}, compression=False)
    assert data[TYPE_OFFSET] == TYPE_ZSET_LISTPACK
    assert data[TYPE_OFFSET + 3:TYPE_OFFSET + 4 + len(ZSET_LISTPACK)][1:] == ZSET_LISTPACK


@pytest.mark.parametrize("value, expected", [
    (zset(*((b"m%d" % i, float(i)) for i in range(128))), TYPE_ZSET_LISTPACK),
    (zset(*((b"m%d" % i, float(i)) for i in range(129)), compact=False), TYPE_ZSET_2),
    (zset((b"m" * 65, 1.0), compact=False), TYPE_ZSET_2),
])
def test_sorted_sets_are_compact_only_within_the_listpack_limits(value, expected):
    assert written_type(value) == expected
    loaded = round_trip(value)
    assert list(loaded) == list(value)
    assert loaded.compact == (expected == TYPE_ZSET_LISTPACK)


@pytest.mark.parametrize("limits", [EncodingLimits(), EncodingLimits(zset_max_entries=0)])
def test_every_score_comes_back_exactly_from_either_encoding(limits):
    scores = [0.1, -2.5, 1e300, -1e-300, 2.0 ** 62, 2.0 ** 70, 123456789.123456789,
              math.inf, -math.inf, 1 / 3]
    value = zset(*((b"m%d" % i, score) for i, score in enumerate(scores)), compact=False)
    assert list(round_trip(value, limits=limits)) == list(value)


def test_negative_zero_survives_the_skiplist_encoding_and_becomes_zero_in_a_listpack():
    value = zset((b"m", -0.0), compact=False)
    [(_, skiplist_score)] = round_trip(value, limits=EncodingLimits(zset_max_entries=0))
    [(_, listpack_score)] = round_trip(value)
    assert math.copysign(1, skiplist_score) == -1
    assert math.copysign(1, listpack_score) == 1  # Redis's listpack stores it as integer 0
    # A small sorted set dumped as a skip list is loaded compact, as Redis converts it.
    as_skiplist = dump({0: {b"k": value}}, limits=EncodingLimits(zset_max_entries=0))
    [(_, converted)] = load(as_skiplist)[(0, b"k")][0]
    assert math.copysign(1, converted) == 1


# --- keys, expiry, databases -------------------------------------------------------

def test_every_type_with_and_without_expiry_across_databases_round_trips():
    dbs = {
        0: {b"s": b"v", b"l": deque([b"x"]), b"h": {b"f": b"v"}, b"set": {b"m"}},
        5: {b"z": zset((b"a", 1.0)), b"s": b"other db"},
        15: {b"n": b"1"},
    }
    deadlines = {b"s": 4_102_444_800_000, b"z": 1_700_000_000_123}
    loaded = load(dump(dbs, deadlines))
    assert set(loaded) == {(db, key) for db, items in dbs.items() for key in items}
    assert loaded[(0, b"s")] == (b"v", 4_102_444_800_000)
    assert loaded[(5, b"s")] == (b"other db", 4_102_444_800_000)  # deadlines are by key
    assert loaded[(5, b"z")][1] == 1_700_000_000_123
    assert loaded[(0, b"l")] == (deque([b"x"]), None)


def test_an_empty_database_is_not_written_at_all():
    assert dump({0: {}, 1: {}}) == dump({}) == rdb_file(b"")


def test_aux_fields_are_read_back():
    reader = RdbReader(dump({}, aux={"redis-ver": b"7.0.15", "ctime": b"1700000000"}))
    list(reader.entries())
    assert reader.aux == {"redis-ver": b"7.0.15", "ctime": b"1700000000"}


def test_a_file_written_without_checksum_loads_unchecked():
    data = dump({0: {b"k": b"v"}}, checksum=False)
    assert data[-8:] == bytes(8)
    assert load(data) == {(0, b"k"): (b"v", None)}


# --- what real Redis wrote ----------------------------------------------------------

def test_a_dump_written_by_redis_7_loads_with_every_encoding():
    reader = RdbReader(REDIS_7_DUMP)
    loaded = {(db, key): (value, deadline) for db, key, value, deadline in reader.entries()}
    values = {key: value for (_, key), (value, _) in loaded.items()}
    assert values[b"str"] == b"hello" and values[b"int"] == b"12345"
    assert values[b"lzf"] == b"a" * 100
    assert values[b"list"] == deque([b"a", b"b", b"1", b"-2"])
    assert values[b"hash"] == {b"f": b"v", b"n": b"7"}
    assert values[b"intset"] == {b"1", b"2", b"3"} and values[b"set"] == {b"x", b"y"}
    assert list(values[b"zset"]) == [(b"c", -3.0), (b"a", 1.0), (b"b", 2.5)]
    assert loaded[(0, b"ttl")] == (b"v", 4_102_444_800_000)
    assert loaded[(2, b"other")] == (b"db2", None)
    assert reader.aux["redis-ver"] == b"7.0.15" and reader.version == 10


# --- older encodings (Redis 2.x to 6.2) and Redis 7.2's listpack sets -----------------

def make_ziplist(items: list[bytes | int]) -> bytes:
    """A ziplist, by the spec: short strings, int16 and 4-bit immediate integers."""
    entries = b""
    previous = 0
    for item in items:
        if isinstance(item, int):
            small = 0 <= item <= 12
            body = bytes((0xF1 + item,)) if small else b"\xc0" + item.to_bytes(2, "little", signed=True)
        else:
            body = bytes((len(item),)) + item
        entry = bytes((previous,)) + body
        entries += entry
        previous = len(entry)
    total = 10 + len(entries) + 1
    return (total.to_bytes(4, "little") + (total - 1 - previous).to_bytes(4, "little")
            + len(items).to_bytes(2, "little") + entries + b"\xff")


@pytest.mark.parametrize("value_type, payload, expected", [
    (TYPE_LIST_ZIPLIST, encode_string(make_ziplist([b"a", 7, -300])), deque([b"a", b"7", b"-300"])),
    (TYPE_LIST_QUICKLIST,
     encode_length(2) + encode_string(make_ziplist([b"a"])) + encode_string(make_ziplist([12])),
     deque([b"a", b"12"])),
    (TYPE_HASH_ZIPLIST, encode_string(make_ziplist([b"f", 1])), {b"f": b"1"}),
    (TYPE_HASH_ZIPMAP, encode_string(b"\x01\x01f\x02\x00v1\xff"), {b"f": b"v1"}),
    (TYPE_LIST, encode_length(2) + encode_string(b"x") + encode_string(b"2"), deque([b"x", b"2"])),
    (TYPE_SET, encode_length(1) + encode_string(b"m"), {b"m"}),
    (TYPE_SET_LISTPACK, encode_string(listpack.encode([b"a", b"5"])), {b"a", b"5"}),
    (TYPE_HASH, encode_length(1) + encode_string(b"f") + encode_string(b"v"), {b"f": b"v"}),
])
def test_older_and_newer_encodings_load(value_type, payload, expected):
    [(value, _)] = load(rdb_file(key_record(value_type, b"k", payload), version=9)).values()
    assert value == expected


def test_sorted_sets_from_ziplists_and_text_scores_load():
    zipped = key_record(TYPE_ZSET_ZIPLIST, b"z", encode_string(make_ziplist([b"a", 2, b"b", b"1.5"])))
    text = key_record(TYPE_ZSET, b"t", encode_length(2) + encode_string(b"x") + b"\x032.5"
                      + encode_string(b"y") + b"\xfe")  # 254: +inf
    loaded = load(rdb_file(zipped + text, version=7))
    assert list(loaded[(0, b"z")][0]) == [(b"b", 1.5), (b"a", 2.0)]
    assert list(loaded[(0, b"t")][0]) == [(b"x", 2.5), (b"y", math.inf)]


def test_ziplists_read_every_integer_width_and_long_string_lengths():
    entries = [b"\x00\xfe\x85",                                    # int8
               b"\x00\xf0\x00\x00\x80",                            # int24
               b"\x00\xd0\xff\xff\xff\x7f",                        # int32
               b"\x00\xe0" + (-5).to_bytes(8, "little", signed=True),  # int64
               b"\x00\x40\x01x"]                                   # a 14-bit string length
    body = b"".join(entries)
    blob = ((10 + len(body) + 1).to_bytes(4, "little") + bytes(4)
            + len(entries).to_bytes(2, "little") + body + b"\xff")
    assert ziplist.decode(blob) == [b"-123", b"-8388608", b"2147483647", b"-5", b"x"]


# --- damaged and unsupported files --------------------------------------------------

SMALL_FILE = dump({0: {b"s": b"hello", b"l": deque([b"a", b"1"]), b"h": {b"f": b"v"},
                       b"set": {b"1"}, b"z": zset((b"m", 1.5)), b"long": b"x" * 50}},
                  {b"s": 4_102_444_800_000}, aux={"redis-ver": b"7.0.15"})


def test_every_single_corrupted_byte_is_detected():
    for position in range(len(SMALL_FILE)):
        for flip in (0x01, 0x80):
            damaged = bytearray(SMALL_FILE)
            damaged[position] ^= flip
            with pytest.raises(RdbError):
                load(bytes(damaged))


def test_a_corrupted_byte_is_reported_as_a_checksum_mismatch():
    damaged = SMALL_FILE.replace(b"hello", b"jello")
    with pytest.raises(RdbError, match="wrong RDB checksum: the file says [0-9a-f]{16}, "
                                       "its contents give [0-9a-f]{16}: the file is corrupted"):
        load(damaged)


def test_a_structural_error_in_a_corrupted_file_also_says_it_is_corrupted():
    damaged = bytearray(SMALL_FILE)
    damaged[SMALL_FILE.index(b"hello") - 4] = 42  # type, key length, key, value length, value
    with pytest.raises(RdbError, match="unknown RDB value type 42 .* the file is corrupted"):
        load(bytes(damaged))


def test_the_checksum_is_not_verified_when_rdbchecksum_is_off():
    damaged = SMALL_FILE.replace(b"hello", b"jello")
    assert load(damaged, verify_checksum=False)[(0, b"s")][0] == b"jello"


def test_every_truncation_is_detected():
    for size in range(len(SMALL_FILE)):
        with pytest.raises(RdbError):
            load(SMALL_FILE[:size])


def test_a_truncated_file_says_so_and_where():
    with pytest.raises(RdbError, match=f"truncated: it ends at byte {len(SMALL_FILE) - 20}"):
        load(SMALL_FILE[:-20])


def test_an_unknown_type_names_the_type_and_the_key():
    with pytest.raises(RdbError, match="unknown RDB value type 42 for key 'mystery' in db 3"):
        load(rdb_file(bytes((OPCODE_SELECTDB, 3, 42)) + encode_string(b"mystery") + b"\x00"))


def test_a_module_value_names_the_module_and_the_key():
    module_id = module_type_name_id("ReJSON-RL", 3)
    assert module_type_name(module_id) == "ReJSON-RL"
    record = key_record(TYPE_MODULE_2, b"doc", encode_length(module_id))
    with pytest.raises(RdbError, match="can't load key 'doc' in db 0: it holds a module data type "
                                       "'ReJSON-RL' \\(RDB type 7\\), which this server does not support"):
        load(rdb_file(record))


def test_a_stream_names_the_type_and_the_key():
    with pytest.raises(RdbError, match="key 'events' in db 0: it holds a stream \\(RDB type 19\\)"):
        load(rdb_file(key_record(TYPE_STREAM_LISTPACKS_2, b"events", b"")))


def test_functions_are_refused_by_name():
    with pytest.raises(RdbError, match="Redis Functions"):
        load(rdb_file(bytes((OPCODE_FUNCTION2,)) + encode_string(b"#!lua name=lib")))


def test_a_broken_listpack_names_the_key():
    record = key_record(TYPE_HASH_LISTPACK, b"h", encode_string(HASH_LISTPACK[:-1] + b"\x00"))
    with pytest.raises(RdbError, match="can't load key 'h' in db 0: listpack has no end marker"):
        load(rdb_file(record))


def test_keys_in_databases_the_server_does_not_have_are_refused():
    with pytest.raises(RdbError, match="keys in db 20, but this server has 16 databases"):
        load(rdb_file(bytes((OPCODE_SELECTDB, 20)) + key_record(TYPE_STRING, b"k", b"\x00")[2:]))


@pytest.mark.parametrize("data, message", [
    (b"RUBBISH00010", "not an RDB file"),
    (rdb_file(b"", version=12), "can't handle RDB format version 12"),
])
def test_other_files_and_future_versions_are_refused(data, message):
    with pytest.raises(RdbError, match=message):
        load(data)


def test_empty_collections_are_skipped_and_counted():
    reader = RdbReader(rdb_file(key_record(TYPE_SET, b"empty", encode_length(0))
                                + key_record(TYPE_STRING, b"k", encode_string(b"v"))[2:]))
    assert [key for _, key, _, _ in reader.entries()] == [b"k"]
    assert reader.empty_keys_skipped == 1


def test_an_expiry_applies_to_the_next_key_only():
    records = (bytes((OPCODE_SELECTDB, 0, OPCODE_EXPIRETIME_MS)) + (123).to_bytes(8, "little")
               + bytes((TYPE_STRING,)) + encode_string(b"a") + encode_string(b"1")
               + bytes((TYPE_STRING,)) + encode_string(b"b") + encode_string(b"2"))
    loaded = load(rdb_file(records))
    assert loaded[(0, b"a")] == (b"1", 123) and loaded[(0, b"b")] == (b"2", None)


def test_lru_and_lfu_hints_and_second_expiries_of_older_files_are_read_past():
    records = (bytes((OPCODE_SELECTDB, 0, OPCODE_IDLE)) + encode_length(1000)
               + bytes((OPCODE_FREQ, 5, OPCODE_EXPIRETIME)) + (1_700_000_000).to_bytes(4, "little")
               + bytes((TYPE_STRING,)) + encode_string(b"k") + encode_string(b"v"))
    assert load(rdb_file(records, version=9)) == {(0, b"k"): (b"v", 1_700_000_000_000)}


def test_module_aux_data_is_refused_naming_the_module():
    module_id = module_type_name_id("graphdata")
    record = bytes((OPCODE_AUX,)) + encode_string(b"x") + encode_string(b"y")
    with pytest.raises(RdbError, match="auxiliary data of module 'graphdata'"):
        load(rdb_file(record + bytes((OPCODE_MODULE_AUX,)) + encode_length(module_id)))
