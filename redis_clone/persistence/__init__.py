"""Persistence: RDB snapshots, written and read in the format real Redis 7.0 uses.

Reading order, from the bytes up:

    crc64.py     the checksum at the end of every file
    lzf.py       the compressor for long strings
    listpack.py  intset.py  ziplist.py
                 the compact in-memory encodings Redis dumps as they are
    rdb.py       the file layout: opcodes, value types, length encoding
    rdb_writer.py / rdb_reader.py
                 keyspace -> file, file -> keyspace
    snapshots.py SAVE, BGSAVE (fork), save points, loading at startup, status for INFO

docs/persistence.md tells the story, including how BGSAVE stays a consistent point in
time while other threads keep writing.
"""
