"""Image name → what to run. Pure.

There is no registry here, so images map to programs:
- ``.../agnhost`` (any registry, any tag): the built-in agnhost (netexec, pause), unless the
  command names another program, which then runs from the host;
- ``nginx``, ``httpd``: a built-in static web server on port 80 (a given command runs instead);
- ``.../coredns`` (any registry, any tag): ``knet dns``, taking the container's args as flags;
- ``pause``: the built-in pause;
- ``busybox``, ``alpine``: the given command with the host's tools (``sh`` when none is given,
  as those images' default command);
- any other image: the given command on the host filesystem; with no command there is nothing
  we could run, which fails like a pull from a registry that does not have the image.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# Kubernetes' reference grammar, simplified: [registry[:port]/]path[:tag][@digest]. As with
# docker, the first component names a registry only if it has a '.' or ':' or is localhost.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REF_RE = re.compile(
    r"^(?:(?P<registry>localhost(?::[0-9]+)?|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*:[0-9]+"
    r"|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?$"
)

SHELL_IMAGES = {"busybox": ["sh"], "alpine": ["/bin/sh"]}
STATIC_IMAGES = ("nginx", "httpd")
# Built-ins whose image arguments are the program's flags (the image's ENTRYPOINT is ours).
ENTRYPOINT_IMAGES = ("coredns",)


class ImageError(Exception):
    """The image cannot be run; ``reason`` is the container's waiting reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The last path component: ``agnhost`` for registry.k8s.io/e2e-test-images/agnhost."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}" if self.registry else self.path


@dataclass(frozen=True)
class ImagePlan:
    """``argv`` to exec, or ``builtin`` to run with ``builtin_args``."""

    image: str
    image_id: str
    argv: list[str] | None = None
    builtin: str | None = None
    builtin_args: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        if self.builtin is not None:
            return f"built-in {self.builtin} {' '.join(self.builtin_args)}".strip()
        return " ".join(self.argv or [])


def parse_image(image: str | None) -> ImageRef:
    if not image or not image.strip():
        raise ImageError("InvalidImageName", "the container has no image")
    m = _REF_RE.match(image)
    if m is None:
        raise ImageError(
            "InvalidImageName",
            f'Failed to apply default image tag "{image}": couldn\'t parse image reference '
            f'"{image}": invalid reference format',
        )
    return ImageRef(m["registry"], m["path"], m["tag"], m["digest"])


def _image_id(ref: ImageRef, kind: str) -> str:
    digest = hashlib.sha256(f"knet:{kind}:{ref.repository}".encode()).hexdigest()
    return f"{ref.repository}@sha256:{digest}"


def resolve(
    image: str | None, command: Sequence[str] | None, args: Sequence[str] | None
) -> ImagePlan:
    """What to run for a container; raises ImageError when there is nothing we can run."""
    ref = parse_image(image)
    assert image is not None
    cmd, rest = list(command or []), list(args or [])
    name = ref.name
    if name == "agnhost" and (not cmd or cmd[0].rsplit("/", 1)[-1] == "agnhost"):
        return ImagePlan(
            image, _image_id(ref, "builtin"), builtin="agnhost", builtin_args=cmd[1:] + rest
        )
    if name in ENTRYPOINT_IMAGES and (not cmd or cmd[0].rsplit("/", 1)[-1] == name):
        return ImagePlan(
            image, _image_id(ref, "builtin"), builtin=name, builtin_args=cmd[1:] + rest
        )
    if name in STATIC_IMAGES and not cmd:
        return ImagePlan(image, _image_id(ref, "builtin"), builtin=name)
    if name == "pause" and not cmd:
        return ImagePlan(image, _image_id(ref, "builtin"), builtin="pause")
    if cmd:
        return ImagePlan(image, _image_id(ref, "host"), argv=cmd + rest)
    if name in SHELL_IMAGES:
        return ImagePlan(image, _image_id(ref, "host"), argv=rest or SHELL_IMAGES[name])
    raise ImageError(
        "ErrImagePull",
        f'image "{image}" not available: no registry here, and the image is not one of the '
        "built-in ones (agnhost, coredns, nginx, httpd, pause, busybox, alpine); give the "
        "container a command to run it from the host filesystem",
    )
