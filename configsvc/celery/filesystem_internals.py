"""kombu's ``filesystem://`` transport with a message written whole or not at all. Checked against kombu
5.7.0.

kombu writes a message in place: it creates ``<ms>_<uuid>.<queue>.msg`` in the queue folder, then locks and
writes it. A worker polling the folder can list, move and read the file between the two, finds it empty,
and its consumer dies of a ``JSONDecodeError`` ("Unrecoverable error"): the worker stops, the message is
lost (kombu issue 1551, open). Seen in this project's suite on development's embedded broker. Here the
message is written under a name no queue reads (``….msg.partial``) and renamed into place, which a reader
sees whole or not at all. An exchange's table (``control/<exchange>.exchange``) has the same gap when its
first binding creates it (a publisher reading it then fails the same way): it is made whole beside its
place and linked there, unless another process made it first; updates are kombu's (under its lock).
Reading is kombu's own. The embedded broker's settings name this transport
(:func:`configsvc.celery.embedded.embedded_settings`).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

_PARTIAL = ".partial"  # a name's part after its first dot is then "<queue>.msg.partial": no queue's


class Channel(filesystem.Channel):
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]  # as kombu's
        """Put ``payload`` on ``queue``: written aside, then renamed into the queue folder."""
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + _PARTIAL
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))  # type: ignore[no-untyped-call]
            os.replace(partial, final)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from error

    def _queue_bind(self, exchange: Any, routing_key: Any, pattern: Any, queue: Any) -> Any:
        """Bind as kombu does; the exchange's table, when this binding creates it, appears whole."""
        table: Path = self._exchange_file(exchange)  # type: ignore[no-untyped-call]
        if not table.exists():
            self.control_folder.mkdir(exist_ok=True)
            partial = table.with_name(f".{table.name}.{uuid.uuid4()}{_PARTIAL}")
            row = [routing_key or "", pattern or "", queue or ""]  # kombu's exchange_queue_t
            try:
                partial.write_bytes(str_to_bytes(dumps([row])))  # type: ignore[no-untyped-call]
                os.link(partial, table)  # never replaces a table another process made meanwhile
                return None
            except OSError:
                pass  # made meanwhile (or no hard links here): bound below as kombu binds
            finally:
                with contextlib.suppress(OSError):
                    partial.unlink()
        return super()._queue_bind(exchange, routing_key, pattern, queue)  # type: ignore[no-untyped-call]


class Transport(filesystem.Transport):
    Channel = Channel
