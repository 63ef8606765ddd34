"""ACL commands: WHOAMI, SETUSER, LIST, USERS, DELUSER, HELP.

The users themselves live in `redis_clone/acl.py` (`ctx.server.acl`). A change to the
users can change what connected clients may do (a user turned off, the default user
given a password...), so every change refreshes each client's fast-path flags, and
deleting a user disconnects the clients authenticated as it, as Redis does.
"""

from __future__ import annotations

from common.resp import OK
from redis_clone.commanddocs import help_reply
from redis_clone.commands.connection import kill_client
from redis_clone.registry import ADMIN, LOADING, NOSCRIPT, STALE, command, container

ACL_FLAGS = ADMIN | NOSCRIPT | LOADING | STALE
ONLY_GRANT_ALL = ("Only the rules that grant everything (+@all, ~*, &* and their synonyms) "
                  "are accepted; narrower command, key and channel rules are refused with "
                  "a syntax error.")

container("acl", group="server", since="6.0.0",
          summary="A container for Access List Control commands ")


@command("acl|whoami", arity=2, flags=NOSCRIPT | LOADING | STALE, group="server", since="6.0.0",
         summary="Return the name of the user associated to the current connection")
def acl_whoami(ctx, args):
    """ACL WHOAMI"""
    return ctx.client.user.encode("utf-8", "surrogateescape")


@command("acl|setuser", arity=-3, flags=ACL_FLAGS, group="server", since="6.0.0",
         summary="Modify or create the rules for a specific ACL user",
         complexity="O(N). Where N is the number of rules provided.",
         acl_categories=("dangerous",), differences=ONLY_GRANT_ALL)
def acl_setuser(ctx, args):
    """ACL SETUSER username [rule [rule ...]]"""
    ctx.server.acl.set_user(args[0].decode("utf-8", "surrogateescape"), args[1:])
    ctx.server.acl.refresh_all(ctx.server.clients.snapshot())
    return OK


@command("acl|deluser", arity=-3, flags=ACL_FLAGS, group="server", since="6.0.0",
         summary="Remove the specified ACL users and the associated rules",
         complexity="O(1) amortized time considering the typical user.",
         acl_categories=("dangerous",))
def acl_deluser(ctx, args):
    """ACL DELUSER username [username ...]"""
    deleted = ctx.server.acl.delete(arg.decode("utf-8", "surrogateescape") for arg in args)
    for client in ctx.server.clients.snapshot():
        if client.user in deleted:
            kill_client(ctx, client)
    return len(deleted)


@command("acl|list", arity=2, flags=ACL_FLAGS, group="server", since="6.0.0",
         summary="List the current ACL rules in ACL config file format",
         complexity="O(N). Where N is the number of configured users.",
         acl_categories=("dangerous",), differences=ONLY_GRANT_ALL)
def acl_list(ctx, args):
    """ACL LIST"""
    return [line.encode("utf-8", "surrogateescape") for line in ctx.server.acl.describe()]


@command("acl|users", arity=2, flags=ACL_FLAGS, group="server", since="6.0.0",
         summary="List the username of all the configured ACL rules",
         complexity="O(N). Where N is the number of configured users.",
         acl_categories=("dangerous",))
def acl_users(ctx, args):
    """ACL USERS"""
    return [name.encode("utf-8", "surrogateescape") for name in ctx.server.acl.names()]


@command("acl|help", arity=2, flags=LOADING | STALE, group="server", since="6.0.0",
         summary="Show helpful text about the different subcommands",
         differences="Lists only the subcommands implemented here.")
def acl_help(ctx, args):
    """ACL HELP"""
    return help_reply("ACL", [
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "LIST",
        "    Show users details in config file format.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
    ])

