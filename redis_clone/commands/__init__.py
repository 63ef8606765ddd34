"""Command handlers, one module per group, as Redis's t_string.c, db.c, server.c...

Importing this package registers every command in `registry.COMMANDS`.
"""

from redis_clone.commands import (acl, connection, hashes, keys, lists, memory,  # noqa: F401
                                  monitoring, persistence, pubsub, scripting, server, sets, sort,
                                  strings, transactions, zsets)
