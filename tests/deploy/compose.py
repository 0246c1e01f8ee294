"""docker-compose.yml read the way `docker compose` reads it, for machines without a container
engine: YAML with its anchors and merge keys, `${VAR...}` interpolation, each service's
environment (env_file, then environment) and its command (the Dockerfile's CMD when it has
none), so tests can validate the file and run its services as local processes.

Stricter than compose in one way: a variable that is unset and has no default fails here,
where compose would warn and substitute an empty string that only breaks at run time.
"""

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
# The Compose Specification's schema, vendored from compose-spec/compose-spec
# (schema/compose-spec.json at 170098ba07d9, Apache-2.0): no container engine here to ask.
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "compose-spec.json"


class ComposeError(Exception):
    """What `docker compose config` would refuse, or a run would trip on."""


# $$, $NAME, or ${NAME} with an optional :-, -, :?, ?, :+ or + modifier (compose's own set).
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


def interpolate(*, text: str, variables: Mapping[str, str]) -> str:
    """``text`` with compose's variable syntax replaced from ``variables``."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["bare"] or match["braced"]
        op, arg = match["op"], match["arg"] or ""
        value = variables.get(name)
        unset_or_empty = not value if op and op.startswith(":") else value is None
        if op in (":-", "-"):
            return arg if unset_or_empty else value
        if op in (":?", "?"):
            if unset_or_empty:
                raise ComposeError(f"required variable {name} is missing: {arg}")
            return value
        if op in (":+", "+"):
            return "" if unset_or_empty else arg
        if value is None:
            raise ComposeError(f"variable {name} is not set and has no default")
        return value

    return _VARIABLE.sub(substitute, text)


def _interpolate_tree(node: Any, *, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(text=node, variables=variables)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables=variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables=variables) for key, value in node.items()}
    return node


def load_compose(*, variables: Mapping[str, str], path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The compose file after YAML merge keys and interpolation (what `compose config` shows)."""
    raw = yaml.safe_load(path.read_text())
    return _interpolate_tree(raw, variables=variables)


def compose_schema() -> dict[str, Any]:
    return json.loads(COMPOSE_SCHEMA.read_text())


def _as_mapping(entries: Any) -> dict[str, str | None]:
    """environment: as a mapping or as a list of NAME=value (NAME alone: from the shell)."""
    if entries is None:
        return {}
    if isinstance(entries, dict):
        return {
            k: None if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in entries.items()
        }
    pairs: dict[str, str | None] = {}
    for entry in entries:
        name, sep, value = str(entry).partition("=")
        pairs[name] = value if sep else None
    return pairs


def service_environment(
    *, service: Mapping[str, Any], variables: Mapping[str, str], project_dir: Path = ROOT
) -> dict[str, str]:
    """A container's environment from compose: env_file entries first, `environment` over
    them; a name without a value takes the shell's (here ``variables``), or is left out."""
    env_files = service.get("env_file") or []
    if isinstance(env_files, str | dict):
        env_files = [env_files]
    merged: dict[str, str | None] = {}
    for entry in env_files:
        spec = {"path": entry} if isinstance(entry, str) else entry
        path = project_dir / spec["path"]
        if not path.exists():
            if spec.get("required", True):
                raise ComposeError(f"env_file {path} does not exist")
            continue
        merged.update(dotenv_values(path, interpolate=False))
    merged.update(_as_mapping(service.get("environment")))
    resolved = {}
    for name, value in merged.items():
        value = variables.get(name) if value is None else value
        if value is not None:
            resolved[name] = value
    return resolved


def _dockerfile_instructions(*, name: str, dockerfile: Path) -> list[str]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [
        line.split(None, 1)[1].strip()
        for line in text.splitlines()
        if line.strip().upper().startswith(f"{name} ")
    ]


def image_environment(*, dockerfile: Path = DOCKERFILE) -> dict[str, str]:
    """The image's ENV (NAME=value form), which every container starts with."""
    env: dict[str, str] = {}
    for instruction in _dockerfile_instructions(name="ENV", dockerfile=dockerfile):
        for word in shlex.split(instruction):
            name, sep, value = word.partition("=")
            if not sep:
                raise ComposeError(f"ENV {instruction!r}: only the NAME=value form is read")
            env[name] = value
    return env


def service_command(*, service: Mapping[str, Any], dockerfile: Path = DOCKERFILE) -> list[str]:
    """The service's command, or the image's last CMD when it sets none (exec form only:
    the shell form would need a shell the slim image may not have)."""
    command = service.get("command")
    if command is None:
        commands = _dockerfile_instructions(name="CMD", dockerfile=dockerfile)
        if not commands:
            raise ComposeError("the service has no command and the Dockerfile no CMD")
        command = json.loads(commands[-1])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def start_order(*, services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Services in an order where each comes after everything it depends on."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ComposeError(f"depends_on cycle through {name}")
        if name not in services:
            raise ComposeError(f"depends_on names {name}, which is no service")
        visiting.add(name)
        for dependency in services[name].get("depends_on") or []:
            visit(dependency)
        visiting.discard(name)
        ordered.append(name)

    for name in services:
        visit(name)
    return ordered
