"""Users, passwords and who may connect: a minimal version of Redis's ACL (acl.c).

Every connection acts as a user. The `default` user is the one `requirepass` configures:
without a password it is "nopass" and every client is authenticated as it on connect;
with one, clients must AUTH first and get -NOAUTH until they do. ACL SETUSER adds more
users, each with passwords stored as SHA-256 hex digests (as Redis stores them, so ACL
LIST never shows a password) and compared in constant time.

Left out on purpose: per-command, per-key and per-channel rules. A user either may run
every command, touch every key and use every channel (+@all ~* &*) or not; only the
rules that grant everything are accepted (docs/security.md). Also here, as pure
functions: protected mode's "may this address connect?" test.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import ipaddress
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from redis_clone import errors
from redis_clone.errors import RedisError
from redis_clone.registry import NO_AUTH

if TYPE_CHECKING:
    from redis_clone.clients import ClientState
    from redis_clone.registry import CommandSpec

DEFAULT_USER = "default"
HEX_DIGITS = frozenset("0123456789abcdef")
# Commands whose arguments are channels (checked against &*); UNSUBSCRIBE needs none.
CHANNEL_COMMANDS = frozenset({"publish", "spublish", "subscribe", "ssubscribe", "psubscribe"})
# Scripts reach keys and channels through redis.call(), which checks no permissions here:
# a user without ~* or &* may not run them at all.
SCRIPT_COMMANDS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro"})


def password_hash(password: bytes) -> str:
    """What Redis keeps of a password: its SHA-256, in lowercase hex (ACLHashPassword)."""
    return hashlib.sha256(password).hexdigest()


@dataclass
class User:
    """One ACL user. A new user is disabled, has no passwords and may do nothing."""

    name: str
    enabled: bool = False
    nopass: bool = False                                 # any password will do
    passwords: list[str] = field(default_factory=list)   # SHA-256 hex digests, in order added
    sanitize_payload: str = ""                           # "", "sanitize-payload" or "skip-..."
    all_keys: bool = False                               # ~*
    all_channels: bool = False                           # &*
    all_commands: bool = False                           # +@all

    @property
    def unrestricted(self) -> bool:
        return self.all_commands and self.all_keys and self.all_channels

    def check_password(self, password: bytes) -> bool:
        """Disabled users never pass. Every stored hash is compared, each in constant
        time, so the reply time says nothing about which password came close."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = password_hash(password)
        matched = False
        for stored in self.passwords:
            matched |= hmac.compare_digest(stored, digest)
        return matched

    def describe(self) -> str:
        """The user as ACL LIST shows it (ACLDescribeUser): flags, password hashes, then
        key, channel and command rules."""
        words = ["user", self.name, "on" if self.enabled else "off"]
        if self.nopass:
            words.append("nopass")
        if self.sanitize_payload:
            words.append(self.sanitize_payload)
        words += ["#" + digest for digest in self.passwords]
        if self.all_keys:
            words.append("~*")
        words.append("&*" if self.all_channels else "resetchannels")
        words.append("+@all" if self.all_commands else "-@all")
        return " ".join(words)

    def apply(self, rule: bytes) -> None:
        """One ACL SETUSER rule (ACLSetUser); raises the reason it is refused."""
        text = rule.decode("utf-8", "surrogateescape")
        word = text.lower()
        if word in ("on", "off"):
            self.enabled = word == "on"
        elif word in ("sanitize-payload", "skip-sanitize-payload"):
            self.sanitize_payload = word
        elif word == "nopass":
            self.nopass, self.passwords = True, []
        elif word == "resetpass":
            self.nopass, self.passwords = False, []
        elif text.startswith((">", "#")):
            digest = password_hash(rule[1:]) if text[0] == ">" else _checked_hash(text[1:])
            if digest not in self.passwords:
                self.passwords.append(digest)
            self.nopass = False
        elif text.startswith(("<", "!")):
            digest = password_hash(rule[1:]) if text[0] == "<" else _checked_hash(text[1:])
            if digest not in self.passwords:
                raise AclRuleError(errors.ACL_NO_SUCH_PASSWORD)
            self.passwords.remove(digest)
        elif word in ("~*", "allkeys"):
            self.all_keys = True
        elif word == "resetkeys":
            self.all_keys = False
        elif word in ("&*", "allchannels"):
            self.all_channels = True
        elif word == "resetchannels":
            self.all_channels = False
        elif word in ("+@all", "allcommands"):
            self.all_commands = True
        elif word in ("-@all", "nocommands"):
            self.all_commands = False
        elif word == "clearselectors":
            pass  # there are no selectors to clear
        elif word == "reset":
            vars(self).update(vars(User(self.name, sanitize_payload="sanitize-payload")))
        elif text.startswith(("~", "%")) and self.all_keys:
            raise AclRuleError(errors.ACL_KEY_PATTERN_AFTER_ALL)
        elif word == "%rw~*":  # read and write access to every key: ~* by another name
            self.all_keys = True
        elif text.startswith("&") and self.all_channels:
            raise AclRuleError(errors.ACL_CHANNEL_PATTERN_AFTER_ALL)
        else:
            # Narrower rules (+get, ~user:*, &news...) are valid in Redis but not
            # implemented here: refusing them beats silently granting everything.
            raise AclRuleError(errors.ACL_SYNTAX)


class AclRuleError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _checked_hash(digest: str) -> str:
    if len(digest) != 64 or not set(digest) <= HEX_DIGITS:
        raise AclRuleError(errors.ACL_BAD_HASH)
    return digest


class Acl:
    """All users by name. Changes are made under a lock and swap whole User objects, so
    a client reading its user never sees a half-applied ACL SETUSER."""

    def __init__(self, requirepass: str = "") -> None:
        self._lock = threading.Lock()
        default = User(DEFAULT_USER, enabled=True, all_keys=True, all_channels=True,
                       all_commands=True)
        self._users: dict[str, User] = {DEFAULT_USER: default}
        self.set_requirepass(requirepass)

    @property
    def default(self) -> User:
        return self._users[DEFAULT_USER]

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def names(self) -> list[str]:
        return sorted(self._users, key=_sort_key)  # Redis keeps users in a radix tree

    def describe(self) -> list[str]:
        return [self._users[name].describe() for name in self.names()]

    def set_requirepass(self, password: str) -> None:
        """requirepass mirrors into the default user (ACLUpdateDefaultUserPassword)."""
        rules = [b"resetpass", (">" + password).encode("utf-8", "surrogateescape")] \
            if password else [b"nopass"]
        self.set_user(DEFAULT_USER, rules)

    def set_user(self, name: str, rules: Iterable[bytes]) -> None:
        """ACL SETUSER: every rule applies or none does (they are staged on a copy)."""
        if any(c in name for c in " \0"):
            raise RedisError(errors.ACL_USERNAME_SPACES)
        with self._lock:
            existing = self._users.get(name)
            user = copy.deepcopy(existing) if existing else User(name)
            for rule in rules:
                try:
                    user.apply(rule)
                except AclRuleError as err:
                    raise RedisError(errors.acl_setuser_failed(rule, err.reason)) from None
            self._users[name] = user

    def delete(self, names: Iterable[str]) -> list[str]:
        """ACL DELUSER: the names that existed (their clients must be disconnected)."""
        names = list(names)
        if DEFAULT_USER in names:
            raise RedisError(errors.ACL_DELETE_DEFAULT)
        with self._lock:
            return [name for name in dict.fromkeys(names) if self._users.pop(name, None)]

    def authenticate(self, name: bytes, password: bytes) -> User:
        """The user `name` if `password` is one of its passwords, else -WRONGPASS."""
        user = self._users.get(name.decode("utf-8", "surrogateescape"))
        # Check a password even for an unknown user, so time does not tell them apart.
        if not (user or self.default).check_password(password) or user is None:
            raise RedisError(errors.WRONGPASS)
        return user

    # --- what a client may do -----------------------------------------------------

    def auth_required(self, client: "ClientState") -> bool:
        """Redis's authRequired(): the default user needs a password (or is disabled)
        and this client has not authenticated."""
        default = self.default
        return not client.authenticated and (not default.nopass or not default.enabled)

    def login(self, client: "ClientState", user: User) -> None:
        client.user, client.authenticated = user.name, True
        self.refresh(client)

    def logout(self, client: "ClientState") -> None:
        """A new connection, or RESET (clientSetDefaultAuth): the default user,
        authenticated only if it needs no password."""
        default = self.default
        client.user, client.authenticated = DEFAULT_USER, default.nopass and default.enabled
        self.refresh(client)

    def refresh(self, client: "ClientState") -> None:
        """Recompute the client's fast-path flags after its user or the ACL changed.

        `admitted` is what the dispatcher tests before every command: True when no
        check is needed at all, which is one attribute test for nearly every command.
        """
        user = self._users.get(client.user)
        client.auth_required = self.auth_required(client)
        client.admitted = not client.auth_required and user is not None and user.unrestricted

    def refresh_all(self, clients: Iterable["ClientState"]) -> None:
        """After the users changed: what every connected client may do can change too."""
        for client in clients:
            self.refresh(client)

    def check(self, client: "ClientState", spec: "CommandSpec") -> None:
        """The slow path for a client that is not `admitted`: -NOAUTH or -NOPERM, in
        the order of Redis's processCommand (authentication, commands, keys, channels)."""
        if spec.flags & NO_AUTH:
            return
        if self.auth_required(client):
            raise RedisError(errors.NOAUTH)
        user = self._users.get(client.user) or User(client.user)
        if not user.all_commands:
            raise RedisError(errors.noperm_command(spec.name))
        if not user.all_keys and (spec.keys[0] or spec.name in SCRIPT_COMMANDS):
            raise RedisError(errors.NOPERM_KEYS)
        if not user.all_channels and (spec.name in CHANNEL_COMMANDS or spec.name in SCRIPT_COMMANDS):
            raise RedisError(errors.NOPERM_CHANNELS)


def _sort_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


# --- passwords never logged ------------------------------------------------------------

REDACTED = b"(redacted)"


def redacted(command: str, argv: list[bytes]) -> list[bytes]:
    """argv as SLOWLOG and MONITOR may show it: AUTH's arguments and HELLO's AUTH
    username and password replaced, as Redis's redactClientCommandArgument() does."""
    if command == "auth":
        return argv[:1] + [REDACTED] * (len(argv) - 1)
    if command != "hello":
        return argv
    shown, i = list(argv), 2
    while i < len(argv):
        option = argv[i].upper()
        if option == b"AUTH" and i + 2 < len(argv):
            shown[i + 1] = shown[i + 2] = REDACTED
            i += 3
        else:
            i += 2 if option == b"SETNAME" else 1
    return shown


# --- protected mode --------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also as ::ffff:127.x.x.x) or a unix socket (no host)."""
    if not host:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def protected_mode_denies(host: str, protected_mode: bool, default: User) -> bool:
    """Protected mode (Redis's clientAcceptHandler): with protected-mode on and a
    default user without a password, only loopback clients may connect. It keeps a
    server accidentally bound to a public address from being open to the internet."""
    return protected_mode and default.nopass and not is_loopback(host)
