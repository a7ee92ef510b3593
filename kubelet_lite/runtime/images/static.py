"""The nginx and httpd images: a static web server on port 80 with the image's default page."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from kubelet_lite.runtime.images.httpserve import Handler, Request, Response, serve_http

NGINX_INDEX = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. (Served by knet's built-in nginx image.)</p>
</body>
</html>
"""

HTTPD_INDEX = "<html><body><h1>It works!</h1></body></html>\n"


def page_handler(index: str) -> Handler:
    body = index.encode()

    async def handle(req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed\n")
        if req.path in ("/", "/index.html"):
            return Response(200, body, "text/html")
        return Response(404, b"<html><body><h1>404 Not Found</h1></body></html>\n", "text/html")

    return handle


async def _serve(name: str, index: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGQUIT, stop.set)
    try:
        server = await serve_http("0.0.0.0", port, page_handler(index))
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"{name}: bind() to 0.0.0.0:{port} failed ({exc.errno}: {why})", file=sys.stderr)
        return 1
    print(f"{name}: serving the default page on port {port}", flush=True)
    await stop.wait()
    server.close()
    return 0


def nginx_main(argv: Sequence[str]) -> int:
    del argv
    return asyncio.run(_serve("nginx", NGINX_INDEX, 80))


def httpd_main(argv: Sequence[str]) -> int:
    del argv
    return asyncio.run(_serve("httpd", HTTPD_INDEX, 80))
