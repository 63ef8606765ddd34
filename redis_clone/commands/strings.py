"""String commands: GET/SET and friends, counters, ranges (Redis's t_string.c).

A Redis string is a byte string, stored here as `bytes`. "Integers" and "floats" are
strings too: INCR parses the stored bytes on every call and stores the result's
decimal text, so `SET n 10` followed by `INCR n` works and `APPEND n 0` makes it 110.
INCRBYFLOAT computes in C `long double`, which `redis_clone.longdouble` emulates.

Writes that modify a value in place (APPEND, SETRANGE, INCR...) keep the key's TTL, as
Redis's dbOverwrite does. Writes that replace the value (SET, GETSET, MSET) drop it,
unless SET is given KEEPTTL. Every handler here runs under the keyspace lock taken by
the dispatcher (shared for READONLY, exclusive for WRITE).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from common.resp import INT64_MAX, INT64_MIN, OK
from redis_clone import errors, longdouble
from redis_clone.arguments import keyword, parse_int
from redis_clone.errors import RedisError
from redis_clone.registry import DENYOOM, FAST, READONLY, WRITE, command

ONE_KEY = (1, 1, 1)
EVERY_KEY = (1, -1, 1)
EVERY_OTHER_KEY = (1, -1, 2)  # MSET key value [key value ...]


# --------------------------------------------------------------------------- SET options

@dataclass(frozen=True)
class Expiry:
    """An expiry option as given: EX/PX count from now, EXAT/PXAT are Unix times."""

    amount: bytes
    unit_ms: int      # 1000 for seconds (EX, EXAT), 1 for milliseconds (PX, PXAT)
    relative: bool

    def deadline_ms(self, ctx) -> int:
        """The absolute deadline, refused as Redis refuses it.

        Redis keeps deadlines in signed 64-bit milliseconds. It rejects an amount that
        is not positive, or whose conversion to milliseconds (plus the current time,
        for EX/PX) would overflow that.
        """
        amount = parse_int(self.amount)
        invalid = RedisError(errors.invalid_expire_time(ctx.command.name))
        if amount <= 0 or amount > INT64_MAX // self.unit_ms:
            raise invalid
        deadline = amount * self.unit_ms + (ctx.now_ms() if self.relative else 0)
        if deadline > INT64_MAX:
            raise invalid
        return deadline


EXPIRY_OPTIONS = {
    "EX": (1000, True), "PX": (1, True), "EXAT": (1000, False), "PXAT": (1, False),
}

# Which earlier options make an option a syntax error. An option never conflicts with
# itself: Redis accepts `SET k v NX NX` and `EX 1 EX 2` (the last one wins).
CONFLICTS = {
    "NX": {"XX"},
    "XX": {"NX"},
    "GET": set(),
    "KEEPTTL": {*EXPIRY_OPTIONS, "PERSIST"},
    "PERSIST": {*EXPIRY_OPTIONS, "KEEPTTL"},
    **{name: {*EXPIRY_OPTIONS, "KEEPTTL", "PERSIST"} - {name} for name in EXPIRY_OPTIONS},
}
SET_OPTIONS = frozenset({"NX", "XX", "GET", "KEEPTTL", *EXPIRY_OPTIONS})
GETEX_OPTIONS = frozenset({"PERSIST", *EXPIRY_OPTIONS})


def parse_options(args: list[bytes], allowed: frozenset[str]) -> tuple[set[str], Expiry | None]:
    """SET's and GETEX's options, as Redis's parseExtendedStringArgumentsOrReply.

    Only the syntax is checked here. The expiry's number is validated later, and
    GETEX checks it only if the key exists.
    """
    seen: set[str] = set()
    expiry = None
    i = 0
    while i < len(args):
        name = keyword(args[i])
        if name not in allowed or seen & CONFLICTS[name]:
            raise RedisError(errors.SYNTAX)
        if name in EXPIRY_OPTIONS:
            if i + 1 == len(args):
                raise RedisError(errors.SYNTAX)
            i += 1
            expiry = Expiry(args[i], *EXPIRY_OPTIONS[name])
        seen.add(name)
        i += 1
    return seen, expiry


# --------------------------------------------------------------------------- get / set

def set_generic(ctx, key: bytes, value: bytes, *, options: Set[str] = frozenset(),
                expiry: Expiry | None = None, ok_reply=OK, abort_reply=None):
    """The one SET behind SET, SETNX, SETEX and PSETEX (Redis's setGenericCommand).

    Order matters for which error wins: the expiry is validated first, then GET's type
    check, then the NX/XX condition.
    """
    deadline = expiry.deadline_ms(ctx) if expiry else None
    old = ctx.db.get(key, bytes) if "GET" in options else None
    exists = ctx.db.lookup_for_write(key) is not None
    if ("NX" in options and exists) or ("XX" in options and not exists):
        return old if "GET" in options else abort_reply
    ctx.db.set(key, value, keep_ttl="KEEPTTL" in options)
    if deadline is not None:
        ctx.db.set_deadline(key, deadline)
    return old if "GET" in options else ok_reply


@command("set", arity=-3, flags=WRITE | DENYOOM, keys=ONE_KEY, group="string",
         summary="Set the string value of a key")
def set_(ctx, args):
    """SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]"""
    options, expiry = parse_options(args[2:], SET_OPTIONS)
    return set_generic(ctx, args[0], args[1], options=options, expiry=expiry)


@command("setnx", arity=3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string",
         summary="Set the value of a key, only if the key does not exist")
def setnx(ctx, args):
    """SETNX key value"""
    return set_generic(ctx, args[0], args[1], options={"NX"}, ok_reply=1, abort_reply=0)


@command("setex", arity=4, flags=WRITE | DENYOOM, keys=ONE_KEY, group="string", since="2.0.0",
         summary="Set the value and expiration of a key")
def setex(ctx, args):
    """SETEX key seconds value"""
    return set_generic(ctx, args[0], args[2], expiry=Expiry(args[1], *EXPIRY_OPTIONS["EX"]))


@command("psetex", arity=4, flags=WRITE | DENYOOM, keys=ONE_KEY, group="string", since="2.6.0",
         summary="Set the value and expiration in milliseconds of a key")
def psetex(ctx, args):
    """PSETEX key milliseconds value"""
    return set_generic(ctx, args[0], args[2], expiry=Expiry(args[1], *EXPIRY_OPTIONS["PX"]))


@command("get", arity=2, flags=READONLY | FAST, keys=ONE_KEY, group="string",
         summary="Get the value of a key")
def get(ctx, args):
    """GET key"""
    return ctx.db.get(args[0], bytes)


@command("getset", arity=3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string",
         summary="Set the string value of a key and return its old value")
def getset(ctx, args):
    """GETSET key value"""
    old = ctx.db.get(args[0], bytes)
    ctx.db.set(args[0], args[1])
    return old


@command("getdel", arity=2, flags=WRITE | FAST, keys=ONE_KEY, group="string", since="6.2.0",
         summary="Get the value of a key and delete the key")
def getdel(ctx, args):
    """GETDEL key"""
    value = ctx.db.get(args[0], bytes)
    if value is not None:
        ctx.db.delete(args[0])
    return value


@command("getex", arity=-2, flags=WRITE | FAST, keys=ONE_KEY, group="string", since="6.2.0",
         summary="Get the value of a key and optionally set its expiration")
def getex(ctx, args):
    """GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]"""
    key = args[0]
    options, expiry = parse_options(args[1:], GETEX_OPTIONS)
    value = ctx.db.get(key, bytes)
    if value is None:
        return None  # a missing key wins even over a bad expire time
    if expiry:
        # A deadline already past (EXAT 1) deletes the key, after replying its value.
        ctx.db.set_deadline(key, expiry.deadline_ms(ctx))
    elif "PERSIST" in options:
        ctx.db.persist(key)
    return value


@command("mget", arity=-2, flags=READONLY | FAST, keys=EVERY_KEY, group="string",
         summary="Get the values of all the given keys",
         complexity="O(N) where N is the number of keys to retrieve.")
def mget(ctx, args):
    """MGET key [key ...]"""
    values = (ctx.db.get(key) for key in args)
    return [value if type(value) is bytes else None for value in values]  # other types: nil


@command("mset", arity=-3, flags=WRITE | DENYOOM, keys=EVERY_OTHER_KEY, group="string", since="1.0.1",
         complexity="O(N) where N is the number of keys to set.",
         summary="Set multiple keys to multiple values")
def mset(ctx, args):
    """MSET key value [key value ...]"""
    for key, value in _pairs(ctx, args):
        ctx.db.set(key, value)
    return OK


@command("msetnx", arity=-3, flags=WRITE | DENYOOM, keys=EVERY_OTHER_KEY, group="string", since="1.0.1",
         complexity="O(N) where N is the number of keys to set.",
         summary="Set multiple keys to multiple values, only if none of the keys exist")
def msetnx(ctx, args):
    """MSETNX key value [key value ...]"""
    pairs = _pairs(ctx, args)
    if any(ctx.db.lookup_for_write(key) is not None for key, _ in pairs):
        return 0  # all or nothing
    for key, value in pairs:
        ctx.db.set(key, value)
    return 1


def _pairs(ctx, args: list[bytes]) -> list[tuple[bytes, bytes]]:
    # Arity -3 only says "at least one pair"; a dangling key is an arity error too.
    if len(args) % 2:
        raise RedisError(errors.wrong_arity(ctx.command.name))
    return list(zip(args[::2], args[1::2]))


# --------------------------------------------------------------------------- ranges

@command("append", arity=3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string", since="2.0.0",
         complexity="O(1). The amortized time complexity is O(1) assuming the appended value is small "
                    "and the already present value is of any size, since the dynamic string library "
                    "used by Redis will double the free space available on every reallocation.",
         summary="Append a value to a key",
         differences="O(length of the string): values are immutable bytes, so the whole string "
                     "is copied, where Redis's SDS appends in place. A loop of APPENDs building "
                     "one big string is quadratic here.")
def append(ctx, args):
    """APPEND key value"""
    key, suffix = args
    current = ctx.db.lookup_for_write(key, bytes)
    if current is None:
        ctx.db.set(key, suffix)
        return len(suffix)
    check_length(ctx, len(current) + len(suffix))
    ctx.db.set(key, current + suffix, keep_ttl=True)
    return len(current) + len(suffix)


@command("strlen", arity=2, flags=READONLY | FAST, keys=ONE_KEY, group="string", since="2.2.0",
         summary="Get the length of the value stored in a key")
def strlen(ctx, args):
    """STRLEN key"""
    return len(ctx.db.get(args[0], bytes) or b"")


GETRANGE_COMPLEXITY = (
    "O(N) where N is the length of the returned string. The complexity is ultimately "
    "determined by the returned length, but because creating a substring from an existing "
    "string is very cheap, it can be considered O(1) for small strings.")


@command("getrange", arity=4, flags=READONLY, keys=ONE_KEY, group="string", since="2.4.0",
         complexity=GETRANGE_COMPLEXITY, summary="Get a substring of the string stored at a key")
def getrange(ctx, args):
    """GETRANGE key start end"""
    start, end = parse_int(args[1]), parse_int(args[2])
    value = ctx.db.get(args[0], bytes) or b""
    # Both ends are inclusive, negative ones count from the end, and out-of-range ones
    # are clamped, except that a range with both ends negative and reversed is empty
    # even when clamping would make it one byte (GETRANGE k -100 -200).
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(len(value) + start, 0)
    if end < 0:
        end = max(len(value) + end, 0)
    return value[start:end + 1]


@command("substr", arity=4, flags=READONLY, keys=ONE_KEY, group="string",
         complexity=GETRANGE_COMPLEXITY, summary="Get a substring of the string stored at a key")
def substr(ctx, args):
    """SUBSTR key start end"""
    return getrange(ctx, args)  # GETRANGE's name before Redis 2.4, kept as an alias


@command("setrange", arity=4, flags=WRITE | DENYOOM, keys=ONE_KEY, group="string", since="2.2.0",
         complexity="O(1), not counting the time taken to copy the new string in place. Usually, "
                    "this string is very small so the amortized complexity is O(1). Otherwise, "
                    "complexity is O(M) with M being the length of the value argument.",
         summary="Overwrite part of a string at key starting at the specified offset",
         differences="O(length of the string): the whole string is copied, where Redis writes "
                     "in place.")
def setrange(ctx, args):
    """SETRANGE key offset value"""
    key, patch = args[0], args[2]
    offset = parse_int(args[1])
    if offset < 0:
        raise RedisError(errors.OFFSET_OUT_OF_RANGE)
    current = ctx.db.lookup_for_write(key, bytes)
    if not patch:
        return len(current or b"")  # nothing to write: no key is created, none grows
    check_length(ctx, offset + len(patch))
    current = current or b""
    # A gap between the old end and the offset is filled with zero bytes.
    updated = current[:offset].ljust(offset, b"\0") + patch + current[offset + len(patch):]
    ctx.db.set(key, updated, keep_ttl=True)
    return len(updated)


def check_length(ctx, size: int) -> None:
    """No string may grow past proto-max-bulk-len (512 MB by default)."""
    if size > ctx.server.config.get_int("proto-max-bulk-len"):
        raise RedisError(errors.STRING_TOO_LONG)


# --------------------------------------------------------------------------- counters

def increment(ctx, key: bytes, delta: int) -> int:
    """Add `delta` to the 64-bit integer stored at `key` (missing: 0); keeps the TTL."""
    current = ctx.db.lookup_for_write(key, bytes)
    result = (0 if current is None else parse_int(current)) + delta
    if not INT64_MIN <= result <= INT64_MAX:
        raise RedisError(errors.OVERFLOW)
    ctx.db.set(key, b"%d" % result, keep_ttl=True)
    return result


@command("incr", arity=2, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string",
         summary="Increment the integer value of a key by one")
def incr(ctx, args):
    """INCR key"""
    return increment(ctx, args[0], 1)


@command("decr", arity=2, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string",
         summary="Decrement the integer value of a key by one")
def decr(ctx, args):
    """DECR key"""
    return increment(ctx, args[0], -1)


@command("incrby", arity=3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string",
         summary="Increment the integer value of a key by the given amount")
def incrby(ctx, args):
    """INCRBY key increment"""
    return increment(ctx, args[0], parse_int(args[1]))


@command("decrby", arity=3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string",
         summary="Decrement the integer value of a key by the given number")
def decrby(ctx, args):
    """DECRBY key decrement"""
    decrement = parse_int(args[1])
    if decrement == INT64_MIN:
        raise RedisError(errors.DECREMENT_OVERFLOW)  # -INT64_MIN does not fit in 64 bits
    return increment(ctx, args[0], -decrement)


@command("incrbyfloat", arity=3, flags=WRITE | DENYOOM | FAST, keys=ONE_KEY, group="string",
         since="2.6.0", summary="Increment the float value of a key by the given amount")
def incrbyfloat(ctx, args):
    """INCRBYFLOAT key increment"""
    key = args[0]
    current = ctx.db.lookup_for_write(key, bytes)
    value = longdouble.parse(current) if current is not None else longdouble.ZERO
    increment_by = longdouble.parse(args[1])
    if value is None or increment_by is None:
        raise RedisError(errors.NOT_FLOAT)
    text = add_long_doubles(value, increment_by)
    ctx.db.set(key, text, keep_ttl=True)
    return text


def add_long_doubles(value: longdouble.LongDouble, increment: longdouble.LongDouble) -> bytes:
    """The sum as INCRBYFLOAT and HINCRBYFLOAT store and reply it, or their error when
    it is not a finite number."""
    result = longdouble.add(value, increment)
    if not longdouble.is_finite(result):
        raise RedisError(errors.INCR_NAN_OR_INF)
    return longdouble.format_human(result)
