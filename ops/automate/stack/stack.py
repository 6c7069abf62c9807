"""The local stack: start services in dependency order (in parallel where they are independent),
report their state, stop them without leaving a process behind."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from automate.config import Settings
from automate.errors import PortInUseError, ServiceStartError, StackError
from automate.redact import mask_secrets_in, mask_url
from automate.stack import process
from automate.stack.base import Layout, Service
from automate.stack.services import SERVICES

__all__ = ["ServiceStatus", "Stack", "State"]

State = Literal["running", "stopped", "external", "starting", "unhealthy"]
Reporter = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """What `automate status` says of one service."""

    name: str
    url: str
    state: State
    pid: int | None = None
    ports: tuple[int, ...] = ()
    since: float | None = None  # epoch seconds the process started

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "state": self.state,
            "pid": self.pid,
            "ports": list(self.ports),
            "since": (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)) if self.since else None
            ),
        }


def _quiet(service: str, message: str) -> None:
    pass


class Stack:
    """Every service of the local stack, by name, in start order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = Layout(settings.home)
        self.services: dict[str, Service] = {cls.name: cls(settings, self.layout) for cls in SERVICES}

    def _select(self, only: Iterable[str] | None) -> list[Service]:
        if not only:
            return list(self.services.values())
        wanted = set(only)
        unknown = wanted - set(self.services)
        if unknown:
            raise StackError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(self.services)}")
        # Pull in what the wanted services require.
        pending = list(wanted)
        while pending:
            for dep in self.services[pending.pop()].requires:
                if dep not in wanted:
                    wanted.add(dep)
                    pending.append(dep)
        return [s for s in self.services.values() if s.name in wanted]

    def status(self) -> list[ServiceStatus]:
        return [self._status(s) for s in self.services.values()]

    def _status(self, service: Service) -> ServiceStatus:
        url = mask_url(service.url)  # printed by `automate status`: never a password
        if service.external:
            return ServiceStatus(service.name, url, "external")
        record = process.read_record(self.layout.record(service.name))
        if record is None or not process.alive(record):
            return ServiceStatus(service.name, url, "stopped", ports=service.ports)
        state: State = "running" if service.ready() else "unhealthy"
        return ServiceStatus(service.name, url, state, record.pid, record.ports, record.started_at)

    def up(self, only: Iterable[str] | None = None, report: Reporter = _quiet) -> list[ServiceStatus]:
        """Start what is not running; a service already up is left alone (a second `up` is a no-op).

        Also makes the local stack's secret key file (``<home>/conf/secret.keys``, owner-readable only)
        when no key is configured and there is none yet."""
        if self.settings.secret_keys is None:
            from automate.secrets.keys import ensure_key_file, key_file

            if ensure_key_file(key_file(self.settings)):
                report("secrets", f"created the secret key file {key_file(self.settings)}")
        chosen = self._select(only)
        futures: dict[str, Future[ServiceStatus]] = {}
        with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
            for service in chosen:
                deps = [futures[d] for d in service.requires if d in futures]
                futures[service.name] = pool.submit(self._start_after, service, deps, report)
            errors: list[str] = []
            results: list[ServiceStatus] = []
            for name, future in futures.items():
                try:
                    results.append(future.result())
                except _DependencyFailed:
                    continue
                except StackError as exc:
                    errors.append(f"{name}: {exc}")
        if errors:
            raise StackError(mask_secrets_in("\n".join(errors)))
        return results

    def _start_after(
        self, service: Service, deps: list[Future[ServiceStatus]], report: Reporter
    ) -> ServiceStatus:
        for dep in deps:
            try:
                dep.result()
            except StackError as exc:
                raise _DependencyFailed(service.name) from exc
        return self._start(service, report)

    def _start(self, service: Service, report: Reporter) -> ServiceStatus:
        current = self._status(service)
        if current.state == "external":
            report(service.name, f"external at {mask_url(service.url)}")
            return current
        if current.state in ("running", "unhealthy"):
            if current.state == "unhealthy":
                # It runs but does not answer yet (e.g. still starting from an earlier `up`): wait for it.
                record = process.read_record(self.layout.record(service.name))
                assert record is not None
                self._wait_ready(service, record)
                service.configure()
                current = self._status(service)
            report(service.name, f"already running (pid {current.pid}) at {mask_url(service.url)}")
            note = service.harden()
            if note:
                report(service.name, note)
            return current
        for port in service.ports:
            if not process.port_is_free(port):
                raise PortInUseError(
                    f"port {port} is taken by another process; stop it or set "
                    f"AUTOMATE_{_port_setting(service, port).upper()} to a free port"
                )
        began = time.monotonic()
        report(service.name, "preparing")
        service.prepare()
        launch = service.launch()
        record = process.spawn(
            launch.argv,
            log_path=self.layout.log(service.name),
            cwd=launch.cwd or self.layout.home,
            env=launch.env,
            user=launch.user,
            ports=service.ports,
        )
        process.write_record(self.layout.record(service.name), record)
        report(service.name, f"started pid {record.pid}, waiting until ready")
        try:
            self._wait_ready(service, record)
            service.configure()
        except BaseException:
            process.stop(record, sig=service.stop_signal, timeout=10)
            self.layout.record(service.name).unlink(missing_ok=True)
            raise
        report(service.name, f"ready at {mask_url(service.url)} in {time.monotonic() - began:.1f}s")
        return self._status(service)

    def _wait_ready(self, service: Service, record: process.ProcessRecord) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        delay = 0.05
        while True:
            if service.ready():
                return
            if not process.alive(record):
                raise ServiceStartError(
                    f"exited during start; last lines of {self.layout.log(service.name)}:\n"
                    + process.tail(self.layout.log(service.name))
                )
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"not ready after {self.settings.startup_timeout_s:.0f}s; last lines of "
                    f"{self.layout.log(service.name)}:\n" + process.tail(self.layout.log(service.name))
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def down(self, only: Iterable[str] | None = None, report: Reporter = _quiet, purge: bool = False) -> None:
        """Stop services in reverse order; with ``purge`` also delete their data."""
        # Only the named services: stopping Connect must not stop the Postgres it needs.
        if only:
            unknown = set(only) - set(self.services)
            if unknown:
                raise StackError(f"unknown service(s) {sorted(unknown)}; known: {', '.join(self.services)}")
        chosen = [s for s in self.services.values() if not only or s.name in set(only)]
        for service in reversed(chosen):
            if service.external:
                continue
            path = self.layout.record(service.name)
            record = process.read_record(path)
            if record is not None:
                killed = process.stop(record, sig=service.stop_signal)
                report(service.name, "killed after timeout" if killed else "stopped")
            path.unlink(missing_ok=True)
            if purge:
                shutil.rmtree(self.layout.data(service.name), ignore_errors=True)
                shutil.rmtree(self.layout.conf(service.name), ignore_errors=True)
                report(service.name, "data removed")


class _DependencyFailed(StackError):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name} not started: a service it needs failed")


def _port_setting(service: Service, port: int) -> str:
    settings = service.settings
    for field_name in type(settings).model_fields:
        if field_name.endswith("_port") and getattr(settings, field_name) == port:
            return field_name
    return f"{service.name}_port"
