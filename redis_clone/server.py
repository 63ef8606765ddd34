"""The network side of the Redis clone: sockets in, commands dispatched, replies out.

This is the only module of `redis_clone` that touches a socket. The flow for each
connection (one thread each, see `common.tcpserver`):

    recv() -> RequestParser.feed() -> for every complete command: execute() -> encode()
           -> one sendall() with all the replies

Executing *every* complete command in the buffer before writing is what makes
pipelining fast: a client that sends 10,000 commands in one write gets its replies in
a handful of large sends instead of 10,000 small ones. (Past REPLY_BATCH_BYTES of
replies the batch goes out early, so a client that never reads holds one batch.)
Replies are encoded in the RESP version the client negotiated (HELLO 3 switches to
RESP3 for the rest of the connection).

A protocol error (garbage, an absurd length) gets Redis's `-ERR Protocol error: ...`
reply after the replies of the commands before it, and then the connection is closed;
other clients never notice.

A blocking command with nothing to pop (BLPOP...) returns a `Block`. The thread then
sends the replies it already has, registers a waiter (redis_clone/blocking.py) and
sleeps in poll() on the client socket and a private wake-up socket, until a writer
serves it, the timeout passes, the client hangs up or the server stops. Like Redis, it
runs the client's later pipelined commands only after that.

Besides the connection threads, a "cron" thread runs `hz` times a second to expire keys
actively (`Keyspace.active_expire_cycle`) and to start a background save when a save
point is reached (`Persistence.cron`), as Redis's serverCron does, and to look after
clients (`clientscron.py`: idle timeouts, output buffer limits, ops/sec samples).

Replies go out through the client's `ClientOutput` (output.py): a plain `sendall()`
until the client subscribes or MONITORs, after which other threads may push messages
to it too and writes are ordered under a lock.
"""

from __future__ import annotations

import logging
import select
import signal
import socket
import threading

from common.clock import Clock
from common.resp import ErrorReply, ProtocolError, RequestParser, encode
from common.tcpserver import ThreadedTCPServer
from redis_clone.blocking import Block, Waiter
from redis_clone import errors, transactions
from redis_clone.acl import protected_mode_denies
from redis_clone.config import Config
from redis_clone.clients import ClientState
from redis_clone.clientscron import clients_cron
from redis_clone.output import ClientOutput, OutputLimits, log_output_limit_kill
from redis_clone.registry import NO_REPLY, execute
from redis_clone.state import CommandContext, ServerState

import redis_clone.commands  # noqa: F401  (registers every command in the table)

log = logging.getLogger("redis_clone")

RECV_SIZE = 64 * 1024
REPLY_BATCH_BYTES = 256 * 1024  # send a pipeline's replies once this many are waiting
QUERY_BUFFER_FLOOR = 1024 * 1024  # the smallest client-query-buffer-limit CONFIG SET takes
ACTIVE_EXPIRE_SHARE = 0.25  # share of each cron period the expiry sweep may use
LONGEST_WAIT = 3600.0       # poll() refuses huge timeouts: wait in slices of at most this


class RedisServer:
    def __init__(self, config: Config | None = None, clock: Clock | None = None) -> None:
        self.state = ServerState(config, clock)
        config = self.state.config
        self._tcp = ThreadedTCPServer(config.get("bind").split(), config.get_int("port"),
                                      self._serve_client, backlog=config.get_int("tcp-backlog"),
                                      name="redis")
        self._cron_thread = threading.Thread(target=self._cron, name="redis-cron", daemon=True)
        self._output_limits = OutputLimits(config)  # client-output-buffer-limit, by class
        self._signal_shutdown_running = False  # only the main thread, in signal handlers

    @property
    def port(self) -> int:
        return self._tcp.port

    def start(self) -> None:
        self._tcp.start()
        # Port 0 asks the OS to pick one: report the one we got (CONFIG GET port, INFO).
        self.state.config.set("port", str(self.port), startup=True)
        self._cron_thread.start()
        log.info("Ready to accept connections tcp on port %d", self.port)

    def serve_forever(self) -> None:
        """Run until SHUTDOWN (or `request_shutdown()`, e.g. from a signal handler)."""
        self.start()
        self.state.shutdown_requested.wait()
        self.stop()

    def request_shutdown(self) -> None:
        self.state.shutdown_requested.set()

    def shutdown_on_signal(self, signum: int) -> None:
        """SIGINT / SIGTERM: shut down as SHUTDOWN would, with the options given by
        shutdown-on-sigint / shutdown-on-sigterm ("default": save if save points are
        configured). If that save fails, keep serving, as Redis does."""
        if self._signal_shutdown_running:
            return  # a second signal arrived while the first one's save runs: one is enough
        name = signal.Signals(signum).name
        log.warning("Received %s scheduling shutdown...", name)
        flags = self.state.config.get(f"shutdown-on-{name.lower()}").split()
        save = True if "save" in flags else False if "nosave" in flags else None
        self._signal_shutdown_running = True
        try:
            if self.state.persistence.prepare_for_shutdown(save=save, force="force" in flags):
                self.request_shutdown()
        finally:
            self._signal_shutdown_running = False

    def stop(self) -> None:
        self.state.shutdown_requested.set()
        self.state.keyspace.blocking.wake_all()  # blocked clients see the shutdown at once
        self.state.client_pause.unpause()  # so do clients held by CLIENT PAUSE
        self._tcp.shutdown()
        if self._cron_thread.is_alive() and self._cron_thread is not threading.current_thread():
            self._cron_thread.join()
        self.state.persistence.kill_background_save()  # the cron can no longer start one
        log.info("Redis clone is now ready to exit, bye bye...")

    # --- one connection -----------------------------------------------------------

    def _serve_client(self, sock: socket.socket, addr: tuple) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = self.state
        if len(state.clients) >= state.config.get_int("maxclients"):
            self._reject(sock, errors.MAX_CLIENTS_REACHED)
            return
        if protected_mode_denies(addr[0] if addr else "", state.config.get_bool("protected-mode"),
                                 state.acl.default):
            self._reject(sock, errors.PROTECTED_MODE_DENIED)
            return
        now = state.clock.time()
        client = state.clients.register(addr=_format_addr(addr), laddr=_format_addr(sock.getsockname()),
                                        fd=sock.fileno(), created=now, last_interaction=now,
                                        output=ClientOutput(sock, state.clock))
        state.stats.incr("total_connections_received")
        ctx = CommandContext(state, client)
        state.acl.logout(client)  # the default user; authenticated if it has no password
        parser = RequestParser(max_bulk_len=state.config.get_int("proto-max-bulk-len"))
        clock = state.clock
        try:
            while not client.close_after_reply and not state.shutdown_requested.is_set():
                data = sock.recv(RECV_SIZE)
                if not data:
                    return  # the client hung up
                client.net_input_bytes += len(data)
                client.last_interaction = clock.time()  # as Redis: when it last sent something
                parser.unauthenticated = client.auth_required  # may change from other clients
                parser.feed(data)
                # One comparison per recv: the configured limit is read only past the floor.
                if parser.buffered > QUERY_BUFFER_FLOOR and self._query_buffer_full(client, parser):
                    return
                self._send(client, self._run_buffered_commands(ctx, parser, sock))
        except (ConnectionError, TimeoutError):
            pass  # reset by peer or similar: the client is gone either way
        finally:
            state.clients.unregister(client)
            state.pubsub.forget(client)
            state.commandlog.remove_monitor(client)
            transactions.unwatch_all(state.keyspace, client.transaction)  # its WATCHes go too

    def _query_buffer_full(self, client: ClientState, parser: RequestParser) -> bool:
        """client-query-buffer-limit: a client whose unparsed input (an endless bulk, say)
        passes it is dropped without a reply, as Redis does. Checked as data arrives, so
        the server never holds more than the limit plus one recv() for it."""
        if parser.buffered <= self.state.config.get_int("client-query-buffer-limit"):
            return False
        log.warning("Closing client that reached max query buffer length: id=%d addr=%s qbuf=%d",
                    client.id, client.addr, parser.buffered)
        return True

    def _send(self, client: ClientState, out: bytes) -> None:
        """Send a batch of replies (after any pub/sub messages queued before it) within
        the client's output buffer limits; past them the client is killed instead."""
        if not out:
            return
        limits = self._output_limits.of("pubsub" if client.subscription_count else "normal")
        if not client.output.reply(out, limits):
            log_output_limit_kill(client.id, client.addr)
            self.state.clients.kill(client)
            client.close_after_reply = True  # stop running its commands: nobody reads them
            return
        client.net_output_bytes += len(out)

    def _reject(self, sock: socket.socket, message: str) -> None:
        """Over maxclients, or protected mode: say why and hang up, as Redis does,
        without registering."""
        self.state.stats.incr("rejected_connections")
        try:
            sock.sendall(b"-%s\r\n" % message.encode())
        except OSError:
            pass  # it hung up first: it is rejected either way

    def _run_buffered_commands(self, ctx: CommandContext, parser: RequestParser,
                               sock: socket.socket) -> bytes:
        """Execute every complete command in the parser; return their replies as one write.

        Replies past REPLY_BATCH_BYTES go out early: a client that pipelines many big
        reads and never reads the replies then parks this thread in sendall() with one
        batch in memory, instead of making the server hold every reply at once.
        """
        client = ctx.client
        replies: list[bytes] = []
        batched = 0
        try:
            for argv in parser:
                reply = execute(ctx, argv)
                parser.unauthenticated = client.auth_required  # AUTH may have changed it
                if isinstance(reply, Block):
                    # The client sees the replies to the commands before this one now,
                    # not after however long it waits.
                    deadline = self._deadline(reply)
                    self._send(client, b"".join(replies))
                    replies.clear()
                    batched = 0
                    reply = self._wait_until_served(ctx, sock, reply, deadline)
                if reply is not NO_REPLY:
                    replies.append(encode(reply, client.protocol))
                    batched += len(replies[-1])
                    if batched > REPLY_BATCH_BYTES:
                        self._send(client, b"".join(replies))
                        replies.clear()
                        batched = 0
                if client.close_after_reply:
                    break
        except ProtocolError as err:
            replies.append(encode(ErrorReply(f"ERR {err}"), client.protocol))
            client.close_after_reply = True
            log.debug("protocol error from %s: %s", client.addr, err)
        return b"".join(replies)

    # --- blocked clients ----------------------------------------------------------

    def _deadline(self, block: Block) -> float | None:
        """When a block times out, on the monotonic clock; None waits forever."""
        return self.state.clock.monotonic() + block.timeout if block.timeout else None

    def _wait_until_served(self, ctx: CommandContext, sock: socket.socket, block: Block,
                           deadline: float | None):
        """Sleep until a writer serves this client, the deadline passes, the client
        hangs up or the server stops. Returns the reply, or NO_REPLY (and marks the
        client to be closed) when there is nobody left to reply to."""
        state, client = self.state, ctx.client
        blocking = state.keyspace.blocking
        wake_up, wake_up_sender = socket.socketpair()
        wake_up_sender.setblocking(False)  # the writer waking us must never wait
        waiter = Waiter(block, client.db, client, wake=lambda: wake_up_sender.send(b"!"))
        try:
            reply = blocking.register(waiter)
            if reply is not None:
                return reply  # filled between the command and the registration
            if self._sleep(sock, wake_up, deadline):
                client.close_after_reply = True  # hung up: drop the waiter, close
                blocking.cancel(waiter)
                return NO_REPLY
            # Served, timed out or shutting down. cancel() settles a race with a writer
            # serving us just as the timeout fired: a served reply is never lost.
            reply = blocking.cancel(waiter)
            if reply is not None:
                return reply
            if state.shutdown_requested.is_set():
                client.close_after_reply = True
                return NO_REPLY
            return block.timeout_reply
        finally:
            wake_up.close()
            wake_up_sender.close()

    def _sleep(self, sock: socket.socket, wake_up: socket.socket, deadline: float | None) -> bool:
        """Wait, without busy-polling, for the wake-up byte or the deadline. True if the
        client disconnected meanwhile.

        poll() rather than select(), which cannot watch descriptors above 1023. A
        readable client socket is either EOF (it hung up) or more pipelined commands;
        MSG_PEEK tells which without consuming anything. Commands stay in the kernel
        buffer until this one completes, and from then on only the wake-up counts.
        """
        clock, poller = self.state.clock, select.poll()
        poller.register(sock, select.POLLIN)
        poller.register(wake_up, select.POLLIN)
        while not self.state.shutdown_requested.is_set():
            timeout = LONGEST_WAIT
            if deadline is not None:
                timeout = min(deadline - clock.monotonic(), LONGEST_WAIT)
                if timeout <= 0:
                    return False
            ready = {fd for fd, _ in poller.poll(timeout * 1000)}
            if wake_up.fileno() in ready:
                return False
            if sock.fileno() in ready:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True  # reset by peer
                poller.unregister(sock)
        return False

    # --- background work ----------------------------------------------------------

    def _cron(self) -> None:
        state = self.state
        while True:
            period = 1.0 / state.config.get_int("hz")
            if state.shutdown_requested.wait(period):
                return
            state.keyspace.active_expire_cycle(period * ACTIVE_EXPIRE_SHARE)
            state.evictor.peak_memory()  # used_memory_peak, sampled as Redis's cron does
            state.persistence.cron()
            clients_cron(state)  # timeouts, output buffer limits, ops/sec samples


def _format_addr(addr: tuple) -> str:
    host, port = addr[0], addr[1]
    return f"{host}:{port}"
