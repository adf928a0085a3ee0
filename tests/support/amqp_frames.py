"""What crosses an AMQP connection, frame by frame: a forwarder to RabbitMQ that records method frames.

A worker pointed at :class:`AmqpRecorder`'s port talks to the real RabbitMQ through it; every method frame
each way is kept as a :class:`Frame` (the delivery tag of deliveries, acks and rejects; the consumer tag
of consumes and cancels; the body of a delivered message), per connection, with the user that connection
logged in as. The tests use it to see how a switch ends the old connection, per delivery tag — never the
password (the login's response is read for its user only).
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.http import Forwarder

# (class id, method id) -> name, for the methods a consumer's connection carries.
METHODS = {
    (10, 10): "connection.start", (10, 11): "connection.start-ok", (10, 30): "connection.tune",
    (10, 31): "connection.tune-ok", (10, 40): "connection.open", (10, 41): "connection.open-ok",
    (10, 50): "connection.close", (10, 51): "connection.close-ok", (10, 70): "connection.update-secret",
    (10, 71): "connection.update-secret-ok",
    (20, 10): "channel.open", (20, 11): "channel.open-ok", (20, 20): "channel.flow",
    (20, 40): "channel.close", (20, 41): "channel.close-ok",
    (60, 10): "basic.qos", (60, 11): "basic.qos-ok", (60, 20): "basic.consume", (60, 21): "basic.consume-ok",
    (60, 30): "basic.cancel", (60, 31): "basic.cancel-ok", (60, 40): "basic.publish",
    (60, 60): "basic.deliver", (60, 70): "basic.get", (60, 71): "basic.get-ok", (60, 72): "basic.get-empty",
    (60, 80): "basic.ack", (60, 90): "basic.reject", (60, 110): "basic.recover", (60, 120): "basic.nack",
}


@dataclass
class Frame:
    """One method frame: when, which proxied connection, which way (``"client"`` sent it, or
    ``"server"``), the channel, the method's name and what identifies it."""

    at: float
    connection: int
    sender: str
    channel: int
    method: str
    delivery_tag: int | None = None
    consumer_tag: str | None = None
    prefetch: int | None = None
    queue: str | None = None
    body: bytes = b""

    def __str__(self) -> str:
        what = " ".join(part for part in (
            f"tag={self.delivery_tag}" if self.delivery_tag is not None else "",
            f"consumer={self.consumer_tag}" if self.consumer_tag else "",
            f"prefetch={self.prefetch}" if self.prefetch is not None else "",
            f"queue={self.queue}" if self.queue else "",
            self.body[:40].decode(errors="replace") if self.body else "") if part)
        return f"{self.at:.3f} conn{self.connection} {self.sender:>6} ch{self.channel} {self.method} {what}"


@dataclass
class _Stream:
    """Reassembles the frames of one direction of one connection."""

    connection: int
    sender: str
    record: Callable[[Frame], None]
    buffer: bytearray = field(default_factory=bytearray)
    header_seen: bool = False
    delivering: dict[int, Frame] = field(default_factory=dict)  # channel -> the deliver awaiting its body

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if self.sender == "client" and not self.header_seen:
            if len(self.buffer) < 8:
                return
            del self.buffer[:8]  # "AMQP" 0 0 9 1
            self.header_seen = True
        while len(self.buffer) >= 7:
            kind, channel, size = struct.unpack_from(">BHI", self.buffer)
            if len(self.buffer) < 7 + size + 1:
                return
            payload = bytes(self.buffer[7:7 + size])
            del self.buffer[:7 + size + 1]
            if kind == 1:
                self._method(channel, payload)
            elif kind == 3 and channel in self.delivering:
                self.delivering[channel].body += payload

    def _method(self, channel: int, payload: bytes) -> None:
        class_id, method_id = struct.unpack_from(">HH", payload)
        name = METHODS.get((class_id, method_id), f"method {class_id}.{method_id}")
        frame = Frame(time.monotonic(), self.connection, self.sender, channel, name)
        args = payload[4:]
        if name == "basic.deliver":
            tag_length = args[0]
            frame.consumer_tag = args[1:1 + tag_length].decode()
            (frame.delivery_tag,) = struct.unpack_from(">Q", args, 1 + tag_length)
            self.delivering[channel] = frame
        elif name in ("basic.ack", "basic.reject", "basic.nack"):
            (frame.delivery_tag,) = struct.unpack_from(">Q", args)
        elif name in ("basic.consume-ok", "basic.cancel", "basic.cancel-ok"):
            tag_length = args[0]
            frame.consumer_tag = args[1:1 + tag_length].decode()
        elif name == "basic.consume":
            queue_length = args[2]
            frame.queue = args[3:3 + queue_length].decode()
        elif name == "basic.qos":
            (frame.prefetch,) = struct.unpack_from(">H", args, 4)
        elif name == "connection.start-ok":
            self.record_user(args)
        self.record(frame)

    def record_user(self, args: bytes) -> None:
        """The user of a PLAIN login (``\\0user\\0password``); the password is not kept."""
        (table_length,) = struct.unpack_from(">I", args)
        at = 4 + table_length
        at += 1 + args[at]  # mechanism
        (response_length,) = struct.unpack_from(">I", args, at)
        response = args[at + 4:at + 4 + response_length]
        parts = response.split(b"\0")
        self.user = parts[1].decode() if len(parts) == 3 else "?"

    user = "?"


class AmqpRecorder(Forwarder):
    """A forwarder to RabbitMQ (5672) that keeps every method frame of every connection through it."""

    def __init__(self, target_port: int = 5672) -> None:
        super().__init__(target_port)
        self.frames: list[Frame] = []
        self.users: dict[int, str] = {}
        self._frames_lock = threading.Lock()

    def __enter__(self) -> AmqpRecorder:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def taps(self, connection: int) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
        client = _Stream(connection, "client", self._record)
        server = _Stream(connection, "server", self._record)

        def from_client(data: bytes) -> None:
            client.feed(data)
            if client.user != "?":
                self.users[connection] = client.user

        return from_client, server.feed

    def _record(self, frame: Frame) -> None:
        with self._frames_lock:
            self.frames.append(frame)

    def of(self, connection: int) -> list[Frame]:
        with self._frames_lock:
            return [frame for frame in self.frames if frame.connection == connection]

    def connections_of(self, user: str) -> list[int]:
        """The proxied connections that logged in as ``user``, in the order they were opened."""
        return sorted(number for number, name in self.users.items() if name == user)

    def summary(self) -> str:
        """One line per proxied connection: its user, its first and last method frames with their times,
        and whether the client closed it with AMQP's handshake (for a failing test's message)."""
        with self._frames_lock:
            frames = list(self.frames)
        offset = time.time() - time.monotonic()  # frames carry monotonic times; logs carry the clock's

        def clock(at: float) -> str:
            wall = at + offset
            return time.strftime("%H:%M:%S", time.localtime(wall)) + f".{int(wall % 1 * 1000):03d}"

        lines = []
        for number in sorted({frame.connection for frame in frames}):
            own = [frame for frame in frames if frame.connection == number]
            closed = any(f.sender == "client" and f.method == "connection.close" for f in own)
            queues = sorted({f.queue for f in own if f.method == "basic.consume" and f.queue})
            lines.append(f"  connection {number} ({self.users.get(number, '?')}): {len(own)} frames, "
                         f"{clock(own[0].at)} {own[0].method} .. {clock(own[-1].at)} {own[-1].sender} "
                         f"{own[-1].method}; consumes {queues}; client close: {closed}")
        return "\n".join(lines)

    def consumers(self, queue: str = "celery") -> list[int]:
        """The connections that consumed from ``queue``, in the order they were opened."""
        with self._frames_lock:
            found = {frame.connection for frame in self.frames
                     if frame.method == "basic.consume" and frame.queue == queue}
        return sorted(found)


@dataclass
class Ending:
    """How a consuming connection ended, from its frames: whether the client closed it with AMQP's
    handshake, and which deliveries of the consumer's channel it had not settled (acknowledged or
    rejected) when it sent ``connection.close`` (or when its frames end, without one)."""

    handshake: bool
    unsettled: list[int]
    delivered: int
    prefetch: list[int]

    def __str__(self) -> str:
        return (f"closed with the handshake: {self.handshake}, delivered {self.delivered}, unsettled at the "
                f"close {self.unsettled}, prefetch {self.prefetch}")


def ending(frames: list[Frame], queue: str = "celery") -> Ending:
    """How the connection whose ``frames`` these are ended (see :class:`Ending`)."""
    channels = {frame.channel for frame in frames if frame.method == "basic.consume" and frame.queue == queue}
    open_tags: dict[int, Frame] = {}
    delivered = 0
    close = next((frame for frame in frames
                  if frame.sender == "client" and frame.method == "connection.close"), None)
    for frame in frames:
        if close is not None and frame.at > close.at:
            break
        if frame.channel not in channels or frame.delivery_tag is None:
            continue
        if frame.method == "basic.deliver":
            open_tags[frame.delivery_tag] = frame
            delivered += 1
        elif frame.sender == "client":
            open_tags.pop(frame.delivery_tag, None)
    closed_ok = close is not None and any(
        frame.method == "connection.close-ok" and frame.sender == "server" for frame in frames)
    prefetch = [frame.prefetch for frame in frames
                if frame.method == "basic.qos" and frame.prefetch is not None]
    return Ending(closed_ok, sorted(open_tags), delivered, prefetch)


class Replayer:
    """Someone with access to the vhost who sends every remote-control broadcast again (``count`` more
    times): a queue of its own on Celery's ``celery.pidbox`` fanout exchange, each message re-published
    as it came (body, reply-to, correlation). Runs in a thread while the block runs."""

    def __init__(self, broker: str, count: int = 1) -> None:
        import threading

        self.broker = broker
        self.count = count
        self.replayed = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Replayer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the replayer did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:

        from kombu import Connection, Exchange, Queue

        exchange = Exchange("celery.pidbox", type="fanout", durable=False, auto_delete=False)
        with Connection(self.broker) as connection:
            queue = Queue(f"replayer-{id(self)}", exclusive=True, auto_delete=True, exchange=exchange,
                          channel=connection.default_channel)
            queue.declare()
            producer = connection.Producer()

            def replay(body: object, message: object) -> None:
                headers = dict(getattr(message, "headers", None) or {})
                message.ack()  # type: ignore[attr-defined]
                if headers.get("replayed"):
                    return
                properties = getattr(message, "properties", {})
                for _ in range(self.count):
                    producer.publish(body, exchange=exchange, headers={**headers, "replayed": True},
                                     serializer="json", reply_to=properties.get("reply_to"),
                                     correlation_id=properties.get("correlation_id"))
                    self.replayed += 1

            with connection.Consumer(queue, callbacks=[replay], accept=["json"]):
                self._ready.set()
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=0.2)
