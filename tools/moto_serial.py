"""moto's server, answering one request at a time.

DynamoDB applies each conditional write atomically; moto's own `moto_server`
answers requests on many threads and can interleave two conditional writes to
one item, which DynamoDB never does. Served one request at a time, moto keeps
DynamoDB's guarantee, while clients still race freely between their requests.

moto's TransactWriteItems also deep-copies every table it names, once per
item, to roll back a cancelled transaction: each transaction costs time in
proportion to the table's size, so a test that fills a table runs in
quadratic time (a thousand detections took twelve minutes). Here a
transaction keeps copies of the items it touches only and restores those
when it is cancelled, which is the same all-or-nothing outcome.

usage: moto_serial.py HOST PORT
"""
import copy
import os
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def _roll_back_touched_items_only() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _TablesByReference:
        """`copy` for moto's backend module: a table is not copied (the
        transaction below restores what it touched); anything else is."""

        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(x, memo=None):
            return x if isinstance(x, Table) else copy.deepcopy(x, memo)

    models.copy = _TablesByReference
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []
        for entry in transact_items:
            op = next(iter(entry.values()), None)
            table = self.tables.get((op or {}).get("TableName"))
            if table is None:
                continue
            attrs = op.get("Key") or op.get("Item") or {}
            h = attrs.get(table.hash_key_attr)
            r = attrs.get(table.range_key_attr) if table.range_key_attr else None
            if h is None or (table.range_key_attr and r is None):
                continue  # moto rejects it before changing anything
            h = DynamoType(h)
            r = DynamoType(r) if r is not None else None
            saved.append((table, h, r, copy.deepcopy(table.get_item(h, r))))
        try:
            return original(self, transact_items)
        except Exception:
            for table, h, r, item in reversed(saved):
                if r is None:
                    if item is None:
                        table.items.pop(h, None)
                    else:
                        table.items[h] = item
                elif item is None:
                    table.items.get(h, {}).pop(r, None)
                else:
                    table.items[h][r] = item
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    _roll_back_touched_items_only()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
