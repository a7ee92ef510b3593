"""Built-in programs for images that no registry can serve here, by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kubelet_lite.runtime import pause as sandbox_pause
from kubelet_lite.runtime.images import agnhost, coredns, static

BUILTINS: dict[str, Callable[[Sequence[str]], int]] = {
    "agnhost": agnhost.main,
    "pause": agnhost.pause,
    "nginx": static.nginx_main,
    "httpd": static.httpd_main,
    "coredns": coredns.main,
    sandbox_pause.BUILTIN_NAME: sandbox_pause.main,
}
