"""RabbitMQ's user, vhost and connection functions — the ones ``rabbitmqctl`` calls — run on a node over
Erlang distribution, from one hidden Erlang node this test process keeps.

``rabbitmqctl`` starts an Erlang VM for every command: half a second of CPU, a second of waiting on a
loaded run. A suite run made about 400 of them, a quarter of the time all its tests took (2026-12-07).
Here one ``erl`` starts per test process (0.2 s) and a call takes milliseconds.

Each target node's cookie reaches the hidden node over its stdin (``erlang:set_cookie/2``), never on a
command line. The hidden node stops when its stdin closes: when this process exits, however it exits.
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

#: Who the node's log names as having made each change.
ACTING_USER = "configsvc-tests"

# Read one expression per line, evaluate it, answer "reply <term>" on one line; a {rows, Rows} value
# (a list of lists of binaries) is answered as "row\t<field>\t<field>..." lines and "end".
_LOOP = r"""
Text = fun(Field) when is_binary(Field) -> Field;
          (Field) -> io_lib:print(Field, 1, 16#FFFFFF, -1)
       end,
Print = fun({rows, Rows}) when is_list(Rows) ->
                [io:put_chars(["row", [[$\t, Text(Field)] || Field <- Row], $\n]) || Row <- Rows],
                io:put_chars("end\n");
           (Value) ->
                io:put_chars(["reply ", io_lib:print(Value, 1, 16#FFFFFF, -1), $\n])
        end,
Loop = fun Loop() ->
    case io:get_line("") of
        eof -> halt(0);
        Line ->
            Print(try
                      {ok, Tokens, _} = erl_scan:string(Line),
                      {ok, Expressions} = erl_parse:parse_exprs(Tokens),
                      {value, Value, _} = erl_eval:exprs(Expressions, []),
                      Value
                  catch Class:Reason -> {failed, Class, Reason}
                  end),
            Loop()
    end
end,
Loop().
"""


@dataclass(frozen=True)
class Atom:
    name: str


Term = str | int | Atom | list["Term"]


def erlang_term(value: Term) -> str:
    """``value`` written as Erlang: a str is a binary, a list a list, an :class:`Atom` a quoted atom."""
    if isinstance(value, Atom):
        return "'" + value.name.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, str):
        return '<<"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"/utf8>>'
    if isinstance(value, int):
        return str(value)
    return "[" + ", ".join(erlang_term(item) for item in value) + "]"


class _HiddenNode:
    """The ``erl`` this process talks through, started at the first call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._cookies: dict[str, str] = {}

    def evaluate(self, node: str, cookie: str, expression: str) -> str | list[list[str]]:
        """Evaluate ``expression`` (one line of Erlang, ending in a full stop) with ``node``'s cookie
        set: the value as Erlang prints it, or a table's rows when the value is ``{rows, Rows}``."""
        with self._lock:
            process = self._started()
            if self._cookies.get(node) != cookie:
                self._exchange(process, f"erlang:set_cookie({erlang_term(Atom(node))}, "
                                        f"{erlang_term(Atom(cookie))}).")
                self._cookies[node] = cookie
            return self._exchange(process, expression)

    def _started(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            erl = shutil.which("erl")
            if erl is None:
                raise RuntimeError("erl (Erlang, which RabbitMQ runs on) is not on the PATH")
            name = f"configsvc-ctl-{os.getpid()}-{secrets.token_hex(3)}@localhost"
            self._process = subprocess.Popen(
                [erl, "-noshell", "-hidden", "-sname", name, "-setcookie", secrets.token_hex(16),
                 "-kernel", "inet_dist_use_interface", "{127,0,0,1}", "-eval", _LOOP],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                bufsize=1)
            self._cookies.clear()
        return self._process

    @staticmethod
    def _exchange(process: subprocess.Popen[str], expression: str) -> str | list[list[str]]:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(expression.replace("\n", " ") + "\n")
        process.stdin.flush()
        rows: list[list[str]] = []
        while True:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"the hidden Erlang node stopped (exit status {process.poll()})")
            line = line.rstrip("\n")
            if line.startswith("reply "):
                return line.removeprefix("reply ")
            if line.startswith("row"):
                rows.append(line.split("\t")[1:])
            elif line == "end":
                return rows
            # Anything else is the VM's own output (a log line): not an answer.


_HIDDEN_NODE = _HiddenNode()


@dataclass(frozen=True)
class RabbitControl:
    """One RabbitMQ node, by its Erlang node name and cookie."""

    node: str
    cookie: str

    def call(self, module: str, function: str, *args: Term) -> str:
        """``module:function(args)`` on the node; its value, as Erlang prints it."""
        reply = _HIDDEN_NODE.evaluate(self.node, self.cookie, self._rpc(module, function, list(args)) + ".")
        assert isinstance(reply, str)
        return reply

    def _done(self, module: str, function: str, *args: Term, unless: str | None = None) -> None:
        reply = self.call(module, function, *args)
        if reply != "ok" and not (unless and reply.startswith(f"{{error,{{{unless},")):
            raise RuntimeError(f"{function} on {self.node} failed: {reply[:300]}")

    def add_vhost(self, vhost: str) -> None:
        self._done("rabbit_vhost", "add", vhost, ACTING_USER)

    def delete_vhost(self, vhost: str) -> None:
        """Delete ``vhost`` with its queues and exchanges."""
        self._done("rabbit_vhost", "delete", vhost, ACTING_USER)

    def add_user(self, user: str, password: str) -> None:
        self._done("rabbit_auth_backend_internal", "add_user", user, password, ACTING_USER)

    def change_password(self, user: str, password: str) -> None:
        self._done("rabbit_auth_backend_internal", "change_password", user, password, ACTING_USER)

    def set_tags(self, user: str, *tags: str) -> None:
        self._done("rabbit_auth_backend_internal", "set_tags", user, [Atom(tag) for tag in tags],
                   ACTING_USER)

    def set_permissions(self, vhost: str, user: str) -> None:
        """Give ``user`` every right on ``vhost`` (configure, write and read: ``.*``)."""
        self._done("rabbit_auth_backend_internal", "set_permissions", user, vhost, ".*", ".*", ".*",
                   ACTING_USER)

    def delete_user(self, user: str, *, missing_ok: bool = False) -> None:
        """Delete ``user``: the node closes its connections."""
        self._done("rabbit_auth_backend_internal", "delete_user", user, ACTING_USER,
                   unless="no_such_user" if missing_ok else None)

    def users(self) -> list[str]:
        users = self._table("rabbit_auth_backend_internal", "list_users", [], ("user",))
        return [row["user"] for row in users]

    def vhosts(self) -> list[str]:
        rows = _HIDDEN_NODE.evaluate(self.node, self.cookie, "{rows, [[Name] || Name <- "
                                     + self._rpc("rabbit_vhost", "list_names", []) + "]}.")
        if isinstance(rows, str):
            raise RuntimeError(f"list_names on {self.node} failed: {rows[:300]}")
        return [row[0] for row in rows]

    def connections(self, *keys: str) -> list[dict[str, str]]:
        """Every client connection of the node, as the info ``keys`` (``user``, ``vhost``, ``name``)."""
        return self._table("rabbit_networking", "connection_info_all", [[Atom(key) for key in keys]], keys)

    def _table(self, module: str, function: str, args: list[Term],
               keys: tuple[str, ...]) -> list[dict[str, str]]:
        """The ``keys`` of each item (a property list) of the list ``module:function(args)`` returns."""
        fields = ", ".join(f"proplists:get_value({erlang_term(Atom(key))}, Item)" for key in keys)
        listing = self._rpc(module, function, args)
        rows = _HIDDEN_NODE.evaluate(self.node, self.cookie, f"{{rows, [[{fields}] || Item <- {listing}]}}.")
        if isinstance(rows, str):
            raise RuntimeError(f"{function} on {self.node} failed: {rows[:300]}")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _rpc(self, module: str, function: str, args: list[Term]) -> str:
        return f"rpc:call({erlang_term(Atom(self.node))}, {module}, {function}, {erlang_term(args)}, 60000)"


@functools.cache
def machine_node() -> RabbitControl:
    """The machine's RabbitMQ node, found as ``rabbitmqctl`` finds it: ``RABBITMQ_NODENAME``, else the
    ``NODENAME`` of ``/etc/rabbitmq/rabbitmq-env.conf``, else ``rabbit@<host>``; its cookie is the
    RabbitMQ user's (``/var/lib/rabbitmq``) or, where the node runs as this user, this user's."""
    node = os.environ.get("RABBITMQ_NODENAME")
    env_file = Path("/etc/rabbitmq/rabbitmq-env.conf")
    if node is None and env_file.is_file():
        for line in env_file.read_text().splitlines():
            if line.startswith("NODENAME="):
                node = line.partition("=")[2].strip().strip("'\"")
    node = node or f"rabbit@{socket.gethostname().split('.')[0]}"
    candidates = [Path("/var/lib/rabbitmq/.erlang.cookie"), Path.home() / ".erlang.cookie"]
    for path in candidates:
        try:
            return RabbitControl(node, path.read_text().strip())
        except OSError:
            continue
    tried = " or ".join(map(str, candidates))
    raise RuntimeError(f"cannot read the Erlang cookie of RabbitMQ's node {node} ({tried}): run the tests"
                       " as a user who may (root, or the user RabbitMQ runs as), as rabbitmqctl needs")
