"""moto's server, answering one request at a time.

DynamoDB applies each conditional write atomically; moto's own `moto_server`
answers requests on many threads and can interleave two conditional writes to
one item, which DynamoDB never does. Served one request at a time, moto keeps
DynamoDB's guarantee, while clients still race freely between their requests.

usage: moto_serial.py HOST PORT
"""
import os
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
