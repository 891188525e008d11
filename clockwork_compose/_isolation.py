"""A project's model rewritten to run beside other copies of itself on one engine (the
``clockwork_stack`` test fixture's copies): a pure function, model -> model.

What two copies of one project would otherwise share, and what each copy gets instead:
- fixed container names (``container_name``): each gets ``prefix`` in front;
- published host ports: each gets the port ``host_port(service, container_port, protocol)``
  gives (the container side stays); a port published without a host port gets one too,
  so that the caller knows every port it can reach;
- networks named as they are (``app_network``, a plain string's): each becomes the
  project's own (Compose names it ``<project>_<key>``), so that a service name never
  resolves to another copy's container; a declared ``name:`` is dropped the same way;
- volumes with a declared ``name:``: the project's own, likewise.
- images Compose builds (``build:`` without ``image:``) would be named after the copy's
  project and built again: they keep the name the original folder's project gives them
  (``<source_project>-<service>``), so a copy runs the image built for the original.

External networks and volumes stay shared: the project says they are made elsewhere. A
host port that is a range or an interpolation cannot be remapped: that is an error, never
a port left as it was. The project name itself is not rewritten: it comes from the
folder, as always, so the copy's folder is named uniquely (and destroy, which goes by the
folder, needs nothing of this)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from ._errors import DeclarationError
from ._model import NamedNetwork, Port, Project, Service

#: ``host_port(service, container_port, protocol)``: the host port to publish instead.
HostPort = Callable[[str, int, str], int]


@dataclass(frozen=True)
class Isolation:
    #: Put in front of every fixed container name ("" keeps them).
    container_prefix: str
    #: The host port for each published port (None keeps them).
    host_port: HostPort | None
    #: The project name of the folder copied: names the images built for it.
    source_project: str


def isolate(project: Project, isolation: Isolation) -> Project:
    """``project`` rewritten by ``isolation`` (a new model; ``project`` is left as it is)."""
    services = {name: _service(s, isolation) for name, s in project.services.items()}
    hosts = {(s.name, p.container, p.protocol): p.host for s in services.values() for p in s.ports}
    databases = [
        dataclasses.replace(d, host_port=hosts.get((d.service, d.container_port, "tcp"), d.host_port))
        for d in project.databases
    ]
    networks = {n: _network(project.network_specs.get(n), n) for n in project.networks}
    volumes = {
        key: dataclasses.replace(spec, engine_name=None) if spec.engine_name and not spec.external else spec
        for key, spec in project.volume_specs.items()
    }
    return dataclasses.replace(
        project, services=services, databases=databases, network_specs=networks, volume_specs=volumes
    )


def _service(service: Service, isolation: Isolation) -> Service:
    container_name = isolation.container_prefix + service.container_name if service.container_name else None
    image = service.image
    if service.build is not None and service.image is None and service.image_text is None:
        image = f"{isolation.source_project}-{service.name}"
    ports = service.ports
    if isolation.host_port is not None:
        ports = [_port(service.name, p, isolation.host_port) for p in service.ports]
    return dataclasses.replace(
        service,
        container_name=container_name,
        container=container_name or service.container,
        image=image,
        ports=ports,
    )


def _port(service: str, port: Port, host_port: HostPort) -> Port:
    if port.published is not None or port.host_text is not None:
        raise DeclarationError(
            service,
            "ports",
            f"the port {port.container} is published on a host port range or an interpolation, "
            "which an isolated copy cannot remap",
            "publish one number (or none) for it",
        )
    return dataclasses.replace(port, host=host_port(service, port.container, port.protocol))


def _network(spec: NamedNetwork | None, key: str) -> NamedNetwork:
    """The project's own network for ``key``, unless it is external."""
    if spec is None:
        return NamedNetwork(key, fixed=False)
    if spec.external:
        return spec
    return dataclasses.replace(spec, fixed=False, engine_name=None)
