"""Every error reply the server sends, verbatim from Redis 7.

Handlers never spell an error message inline: they raise `RedisError(errors.X)` (or a
helper below for messages with blanks to fill), and exactly one place, the dispatcher
in `registry.py`, turns the exception into a `-...` reply. Keeping the texts together
makes byte-for-byte compatibility with real Redis reviewable in one screen, and the
differential tests in `tests/integration/test_differential.py` hold us to it.

The first word of each message is the error *code* clients switch on (`ERR`,
`WRONGTYPE`, `NOPROTO`, `EXECABORT`...).
"""

from __future__ import annotations


class RedisError(Exception):
    """A command failed; `message` is the full reply text without the leading '-'."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownCommand(RedisError):
    """No such command or subcommand (scripts report these with their own text)."""


class WrongArity(RedisError):
    """The command exists but got the wrong number of arguments."""


class Refused(RedisError):
    """The command was turned away before it could run (BUSY while it waited for the
    keyspace lock): for MULTI/EXEC that counts like an unknown command."""


SYNTAX = "ERR syntax error"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
INCR_NAN_OR_INF = "ERR increment would produce NaN or Infinity"
NO_SUCH_KEY = "ERR no such key"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
SAME_DB = "ERR source and destination objects are the same"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
NOPROTO = "NOPROTO unsupported protocol version"
PROTOCOL_VERSION_NOT_INTEGER = "ERR Protocol version is not an integer or out of range"
CLIENT_NAME_SPACES = "ERR Client names cannot contain spaces, newlines or special characters."
INVALID_CURSOR = "ERR invalid cursor"
NX_XX_GT_LT = "ERR NX and XX, GT or LT options at the same time are not compatible"
GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
NEGATIVE_SLEEP = "ERR Invalid sleep time"

# String commands (commands/strings.py)
DECREMENT_OVERFLOW = "ERR decrement would overflow"  # DECRBY -9223372036854775808

# Generic key commands (commands/keys.py)
GT_AND_LT = "ERR GT and LT options at the same time are not compatible"

# Server commands (commands/server.py): CONFIG, COMMAND, DEBUG, SHUTDOWN
CONFIG_NO_FILE = "ERR The server is running without a config file"
DEBUG_NOT_ALLOWED = (
    "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.")
NO_SHUTDOWN_IN_PROGRESS = "ERR No shutdown in progress."
INVALID_COMMAND = "ERR Invalid command specified"
INVALID_COMMAND_ARITY = "ERR Invalid number of arguments specified for command"
NO_KEY_ARGUMENTS = "ERR The command has no key arguments"
# CLIENT (commands/connection.py)
INVALID_CLIENT_ID = "ERR Invalid client ID"
# CLIENT KILL / PAUSE / NO-EVICT, maxclients, pub/sub, SLOWLOG (issue 6)
NO_SUCH_CLIENT = "ERR No such client"
CLIENT_ID_NOT_POSITIVE = "ERR client-id should be greater than 0"
PAUSE_TIMEOUT_NOT_INTEGER = "ERR timeout is not an integer or out of range"
PAUSE_MODE = "ERR CLIENT PAUSE mode must be WRITE or ALL"
MAX_CLIENTS_REACHED = "ERR max number of clients reached"
SLOWLOG_COUNT = "ERR count should be greater than or equal to -1"
# maxmemory, OBJECT, MEMORY (eviction.py, commands/memory.py)
OOM = "OOM command not allowed when used memory > 'maxmemory'."
LFU_NOT_SELECTED = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
                    "Please note that when switching between policies at runtime LRU and LFU "
                    "data will take some time to adjust.")
LFU_SELECTED = ("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note "
                "that when switching between policies at runtime LRU and LFU data will take "
                "some time to adjust.")
# Ours, not Redis's: we keep idle times only under an LRU policy (densedict.py says why),
# worded after Redis's LFU messages above.
LRU_NOT_SELECTED = ("ERR An LRU maxmemory policy is not selected, idle time not tracked. Set "
                    "maxmemory-policy to allkeys-lru or volatile-lru to track it.")

# Hashes, sets and SORT (commands/hashes.py, sets.py, sort.py)
HASH_VALUE_NOT_INTEGER = "ERR hash value is not an integer"
HASH_VALUE_NOT_FLOAT = "ERR hash value is not a float"
NAN_OR_INFINITY = "ERR value is NaN or Infinity"            # HINCRBYFLOAT's increment
VALUE_OUT_OF_RANGE = "ERR value is out of range"            # HRANDFIELD count WITHVALUES
NOT_POSITIVE = "ERR value is out of range, must be positive"  # SPOP count
NUMKEYS_NOT_POSITIVE = "ERR numkeys should be greater than 0"
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
SORT_NOT_DOUBLE = "ERR One or more scores can't be converted into double"

# Sorted sets (commands/zsets.py)
ZADD_NX_AND_XX = "ERR XX and NX options at the same time are not compatible"
ZADD_INCR_SINGLE_PAIR = "ERR INCR option supports a single increment-element pair"
SCORE_NAN = "ERR resulting score is not a number (NaN)"
MIN_MAX_NOT_FLOAT = "ERR min or max is not a float"
LEX_RANGE_INVALID = "ERR min or max not valid string range item"
LIMIT_NEEDS_BYSCORE_OR_BYLEX = (
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
WITHSCORES_WITH_BYLEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
WEIGHT_NOT_FLOAT = "ERR weight value is not a float"
COUNT_NOT_POSITIVE = "ERR count should be greater than 0"  # ZMPOP/LMPOP COUNT

# Lists (commands/lists.py); blocking timeouts are TIMEOUT_NEGATIVE / TIMEOUT_NOT_FLOAT
INDEX_OUT_OF_RANGE = "ERR index out of range"  # LSET
LPOS_RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                  "second ... or use negative to start from the end of the list")
LPOS_COUNT_NEGATIVE = "ERR COUNT can't be negative"
LPOS_MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"

# Transactions (transactions.py, commands/transactions.py)
MULTI_NESTED = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_INSIDE_MULTI = "ERR WATCH inside MULTI is not allowed"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
NOT_ALLOWED_IN_MULTI = "ERR Command not allowed inside a transaction"

# Persistence (persistence/snapshots.py, commands/persistence.py, SHUTDOWN, DEBUG RELOAD)
MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
    "to disk. Commands that may modify the data set are disabled, because this instance is "
    "configured to report errors during writes if RDB snapshotting fails "
    "(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the "
    "RDB error.")
BGSAVE_IN_PROGRESS = "ERR Background save already in progress"
SAVE_FAILED = "ERR"  # SAVE / BGSAVE that could not write or fork: the log says why
SHUTDOWN_FAILED = "ERR Errors trying to SHUTDOWN. Check logs."
RELOAD_OPTIONS = "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
RELOAD_FAILED = "ERR Error trying to load the RDB dump"

# Scripting (scripting.py, commands/scripting.py). cjson's own messages ("Cannot
# serialise ...", "Expected value but found ...") live with it in redis_clone/lua/cjson.lua.
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
NUMKEYS_NEGATIVE = "ERR Number of keys can't be negative"
BUSY = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE = ("UNKILLABLE Sorry the script already executed write commands against the dataset. "
              "You can either wait the script termination or kill the server in a hard way "
              "using the SHUTDOWN NOSAVE command.")
SCRIPT_KILLED = "ERR Script killed by user with SCRIPT KILL..."
SCRIPT_FLUSH_MODE = "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
SCRIPT_UNKNOWN_COMMAND = "ERR Unknown Redis command called from script"
SCRIPT_WRONG_ARITY = "ERR Wrong number of args calling Redis command from script"
SCRIPT_COMMAND_NOT_ALLOWED = "ERR This Redis command is not allowed from script"
SCRIPT_WRITE_IN_READONLY = "ERR Write commands are not allowed from read-only scripts."
SCRIPT_NO_ARGUMENTS = "ERR Please specify at least one argument for this redis lib call"
SCRIPT_BAD_ARGUMENT = "ERR Lua redis lib command arguments must be strings or integers"
SCRIPT_SHA1HEX_ARITY = "ERR wrong number of arguments"
SCRIPT_LOG_ARITY = "ERR redis.log() requires two arguments or more."
SCRIPT_LOG_LEVEL_NOT_NUMBER = "ERR First argument must be a number (log level)."
SCRIPT_LOG_LEVEL_INVALID = "ERR Invalid debug level."
SCRIPT_SETRESP_ARITY = "ERR redis.setresp() requires one argument."
SCRIPT_SETRESP_VERSION = "ERR RESP version must be 2 or 3."
SCRIPT_SET_REPL_ARITY = "ERR redis.set_repl() requires two arguments."
SCRIPT_SET_REPL_FLAGS = "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."
SHEBANG_INVALID = "ERR Invalid script shebang"
SHEBANG_NO_ENGINE = "ERR Invalid engine in script shebang"


# Why a parameter was refused (config.py): the text after "CONFIG SET failed (possibly
# related to argument 'x') - ", or after the line quoted by a redis.conf error.
CONFIG_BAD_DIRECTIVE = "Bad directive or wrong number of arguments"
CONFIG_IMMUTABLE = "can't set immutable config"
CONFIG_PROTECTED = "can't set protected config"
CONFIG_DUPLICATE = "duplicate parameter"
CONFIG_WRONG_ARGS = "wrong number of arguments"
CONFIG_YES_NO = "argument must be 'yes' or 'no'"
CONFIG_NOT_INTEGER = "argument couldn't be parsed into an integer"
CONFIG_NOT_MEMORY = "argument must be a memory value"
CONFIG_NOT_MEMORY_OR_PERCENT = "argument must be a memory or percent value"
CONFIG_NOT_OCTAL = "argument couldn't be parsed as an octal number"
CONFIG_SAVE = "Invalid save parameters"
CONFIG_BIND_TOO_MANY = "Too many bind addresses specified."
CONFIG_OBUF_ARGS = "Wrong number of arguments in buffer limit configuration."
CONFIG_OBUF_CLASS = "Invalid client class specified in buffer limit configuration."
CONFIG_OBUF_VALUE = "Error in hard, soft or soft_seconds setting in buffer limit configuration."
CONFIG_OOM_VALUES = "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
CONFIG_KEYSPACE_EVENTS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
CONFIG_MASTER_PORT = "Invalid master port"
CONFIG_SHUTDOWN_SAVE_NOSAVE = "shutdown options SAVE and NOSAVE can't be used simultaneously"
CONFIG_PERCENTILES = "Invalid latency-tracking-info-percentiles parameters"
CONFIG_PERCENTILES_RANGE = "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
CONFIG_DBFILENAME_PATH = "dbfilename can't be a path, just a filename"
CONFIG_AOF_FILENAME_EMPTY = "appendfilename can't be empty"
CONFIG_AOF_FILENAME_PATH = "appendfilename can't be a path, just a filename"
CONFIG_AOF_DIRNAME_EMPTY = "appenddirname can't be empty"
CONFIG_AOF_DIRNAME_PATH = "appenddirname can't be a path, just a dirname"
CONFIG_HOSTNAME_LENGTH = "Hostnames must be less than 256 characters"
CONFIG_HOSTNAME_CHARS = "Hostnames may only contain alphanumeric characters, hyphens or dots"
CONFIG_PROC_TITLE = "template format is invalid or contains unknown variables"
CONFIG_NO_DEFRAG = (
    "Active defragmentation cannot be enabled: it requires a Redis server compiled with a "
    "modified Jemalloc like the one shipped by default with the Redis source distribution")
CONFIG_NO_TLS = "Unable to update TLS configuration. Check server logs."


def config_range(low, high) -> str:
    return f"argument must be between {low} and {high} inclusive"


def config_enum(choices: tuple[str, ...]) -> str:
    return "argument(s) must be one of the following: " + ", ".join(choices)


def config_percent_max(limit: int) -> str:
    return f"percentage argument must be less or equal to {limit}"


def config_set_failed(name: str, reason: str) -> str:
    return f"ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"


def config_rewrite_failed(reason: str) -> str:
    return f"ERR Rewriting config file: {reason}"


def subcommand_syntax(sub: bytes, container: str) -> str:
    """A subcommand given too many arguments, where Redis's handler checks the count."""
    return "ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP." % (
        _text(sub), container)


def debug_unknown_subcommand(sub: bytes) -> str:
    return "ERR unknown subcommand or wrong number of arguments for '%s'. Try DEBUG HELP." % _text(sub)


def no_such_user(name: bytes) -> str:
    return "ERR No such user '%s'" % _text(name)


def subscribed_context(command_name: str) -> str:
    return ("ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
            "are allowed in this context" % command_name)


def unknown_client_type(name: bytes) -> str:
    return "ERR Unknown client type '%s'" % _text(name)


def unknown_command(name: bytes, args: list[bytes]) -> str:
    """Redis quotes the name (128 bytes max) and the first args, up to ~128 bytes in all."""
    shown = b""  # counted in bytes, as C's "%.*s" does, even inside a UTF-8 character
    for arg in args:
        if len(shown) >= 128:
            break
        shown += b"'%s' " % _c_string(arg)[: 128 - len(shown)]
    return "ERR unknown command '%s', with args beginning with: %s" % (
        _text(name[:128]), _text(shown))


def wrong_arity(fullname: str) -> str:
    """`fullname` is lowercase, with '|' for subcommands: 'get', 'config|get'."""
    return f"ERR wrong number of arguments for '{fullname}' command"


def unknown_subcommand(sub: bytes, container: bytes) -> str:
    return "ERR unknown subcommand '%s'. Try %s HELP." % (_text(sub[:128]), _text(container).upper())


def hello_syntax(option: bytes) -> str:
    return "ERR Syntax error in HELLO option '%s'" % _text(option)


def invalid_expire_time(command: str) -> str:
    return f"ERR invalid expire time in '{command}' command"


def unsupported_config(name: bytes) -> str:
    return "ERR Unknown option or number of arguments for CONFIG SET - '%s'" % _text(name)


def unsupported_option(option: bytes) -> str:
    """EXPIRE's reply to an option it does not know (NX, XX, GT and LT are known)."""
    return "ERR Unsupported option %s" % _text(option)


def at_least_one_input_key(command: str) -> str:
    """ZUNION & co. given numkeys < 1; `command` is the lowercase name."""
    return f"ERR at least 1 input key is needed for '{command}' command"


def value_out_of_range(low: int, high: int) -> str:
    """An integer argument outside the range the command accepts (getRangeLongFromObject)."""
    return f"ERR value is out of range, value must between {low} and {high}"


def exec_aborted_because(message: str) -> str:
    """EXEC itself refused before running (BUSY...): the transaction is discarded."""
    return f"EXECABORT Transaction discarded because of: {message}"


def script_compile_error(lua_message: str) -> str:
    return f"ERR Error compiling script (new function): {lua_message}"


def script_failed(message: str, sha: str, source: str, line: int) -> str:
    """A script's runtime error, with where it happened: Redis 7's reference suffix."""
    return f"{message} script: {sha}, on {source}:{line}."


def shebang_unknown_engine(engine: str) -> str:
    return f"ERR Unexpected engine in script shebang: {engine}"


def shebang_unknown_flag(flag: str) -> str:
    return f"ERR Unexpected flag in script shebang: {flag}"


def shebang_unknown_option(option: str) -> str:
    return f"ERR Unknown lua shebang option: {option}"


# Authentication and ACL (acl.py, commands/acl.py, AUTH and HELLO in commands/connection.py)
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
AUTH_WITHOUT_PASSWORD = ("ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?")
HELLO_NOAUTH = ("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
                "the RESP protocol version at the same time")
NOPERM_KEYS = "NOPERM this user has no permissions to access one of the keys used as arguments"
NOPERM_CHANNELS = ("NOPERM this user has no permissions to access one of the channels used as "
                   "arguments")
ACL_USERNAME_SPACES = "ERR Usernames can't contain spaces or null characters"
ACL_DELETE_DEFAULT = "ERR The 'default' user cannot be removed"
# Reasons inside acl_setuser_failed()
ACL_SYNTAX = "Syntax error"
ACL_NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
ACL_BAD_HASH = ("The password hash must be exactly 64 characters and contain only lowercase "
                "hexadecimal characters")
ACL_KEY_PATTERN_AFTER_ALL = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not "
                             "valid and does not have any effect. Try 'resetkeys' to start with an "
                             "empty list of patterns")
ACL_CHANNEL_PATTERN_AFTER_ALL = ("Adding a pattern after the * pattern (or the 'allchannels' flag) "
                                 "is not valid and does not have any effect. Try 'resetchannels' to "
                                 "start with an empty list of channels")
# Sent on connect, then the connection is closed (clientAcceptHandler).
PROTECTED_MODE_DENIED = (
    "DENIED Redis is running in protected mode because protected mode is enabled and no password "
    "is set for the default user. In this mode connections are only accepted from the loopback "
    "interface. If you want to connect from external computers to Redis you may adopt one of the "
    "following solutions: 1) Just disable protected mode sending the command 'CONFIG SET "
    "protected-mode no' from the loopback interface by connecting to Redis from the same host the "
    "server is running, however MAKE SURE Redis is not publicly accessible from internet if you do "
    "so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the "
    "protected mode by editing the Redis configuration file, and setting the protected mode option "
    "to 'no', and then restarting the server. 3) If you started the server manually just for "
    "testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication "
    "password for the default user. NOTE: You only need to do one of the above things in order for "
    "the server to start accepting connections from the outside.")
# rename-command at startup (config.py)
RENAME_NO_SUCH_COMMAND = "No such command in rename-command"
RENAME_TARGET_EXISTS = "Target command name already exists"


def noperm_command(fullname: str) -> str:
    return f"NOPERM this user has no permissions to run the '{fullname}' command"


def acl_setuser_failed(rule: bytes, reason: str) -> str:
    return "ERR Error in ACL SETUSER modifier '%s': %s" % (_text(rule), reason)


def _c_string(data: bytes) -> bytes:
    """What C's "%s" prints of an argument: everything before the first NUL byte."""
    return data.split(b"\0", 1)[0]


def _text(data: bytes) -> str:
    # Error replies are single lines: Redis turns CR and LF in echoed input into spaces.
    # surrogateescape keeps arbitrary bytes intact on the way back out (see common.resp).
    return _c_string(data).decode("utf-8", "surrogateescape").replace("\r", " ").replace("\n", " ")
