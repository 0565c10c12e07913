"""Check databricks.yml for one target before it is deployed (``make deploy`` runs it first).

    python databricks/check_bundle.py --target dev
    python databricks/check_bundle.py --target prod --var failure_emails='["ml-oncall@corp.com"]'

The Databricks CLI resolves the bundle's variables at deploy time and the workspace refuses a bad
schedule only then, after the files are uploaded. This resolves every ``${var.*}`` and
``${bundle.*}`` reference the way the CLI does (variable defaults, then the target's
``variables``, then ``--var``), and refuses, in one line naming the place:

- a variable with no value for the target, or a reference to one that does not exist;
- a schedule whose Quartz cron expression does not parse, an unknown time zone or pause status;
- a failure-notification address that is not one;
- targets that share a model namespace, an experiment folder or an artifact location (dev's
  runs must never land in prod's), and a task that registers a model outside its target's
  namespace.

``${workspace.*}`` references are left to the CLI: they name the deploying user.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import available_timezones

import yaml

PROJECT = Path(__file__).resolve().parents[1]
BUNDLE = PROJECT / "databricks.yml"
REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.-]*)\}")
WHOLE_REFERENCE = re.compile(r"\$\{var\.([\w-]+)\}")
EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}")
# The cluster variables that keep one target's runs and models apart from another's.
ISOLATED = ("TABULAR_MODEL_NAMESPACE", "TABULAR_EXPERIMENT_ROOT", "TABULAR_ARTIFACT_ROOT")


class BundleError(ValueError):
    """The bundle cannot be deployed as it is; the message is one line naming the place."""


def git_context(project: Path = PROJECT) -> dict[str, str]:
    """``bundle.git.*`` as the CLI fills them from the checkout (placeholders outside git)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {
        "bundle.git.commit": git("rev-parse", "HEAD") or "0" * 40,
        "bundle.git.origin_url": git("remote", "get-url", "origin") or "file://" + str(project),
        "bundle.git.branch": git("rev-parse", "--abbrev-ref", "HEAD") or "main",
    }


def variables(bundle: dict, target: str, given: dict[str, object]) -> dict[str, object]:
    """Every variable's value for ``target``, references to other variables resolved."""
    targets = bundle.get("targets") or {}
    if target not in targets:
        raise BundleError(f"no target '{target}' in databricks.yml; targets: {', '.join(targets)}")
    declared = bundle.get("variables") or {}
    for name in given:
        if name not in declared:
            raise BundleError(f"--var {name}: no such variable in databricks.yml")
    values = {name: spec.get("default") for name, spec in declared.items()}
    for name, value in ((targets[target] or {}).get("variables") or {}).items():
        if name not in declared:
            raise BundleError(f"targets.{target}.variables.{name}: not a declared variable")
        values[name] = value
    values.update(given)
    for name, value in values.items():
        if value is None:
            raise BundleError(
                f"variable '{name}' has no value for target '{target}': set it under "
                f"targets.{target}.variables or pass --var {name}=..."
            )
    for _ in range(len(values) + 1):  # references between variables, resolved in turns
        resolved = {
            name: _substitute(value, values, {}, f"variables.{name}")
            if isinstance(value, str)
            else value
            for name, value in values.items()
        }
        if resolved == values:
            break
        values = resolved
    for name, value in values.items():
        if isinstance(value, str) and "${var." in value:
            raise BundleError(f"variable '{name}' refers to itself through others: {value}")
    return values


def resolve(
    bundle: dict, target: str, given: dict[str, object] | None = None, git: dict | None = None
) -> dict:
    """The bundle's ``resources`` for ``target`` with every reference but ``${workspace.*}``
    replaced; a reference to a variable standing alone keeps the variable's type (a list)."""
    values = variables(bundle, target, given or {})
    context = {"bundle.target": target, "bundle.name": bundle["bundle"]["name"]}
    context |= git or git_context()

    def walk(value, where: str):
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            if whole := WHOLE_REFERENCE.fullmatch(value):
                return walk(_value(values, whole.group(1), where), where)
            text = _substitute(_substitute(value, values, context, where), {}, context, where)
            if left := re.search(r"\$\{(var|bundle)\.[^}]*\}", text):
                raise BundleError(f"{where}: {left.group(0)} is left unresolved")
            return text
        return value

    return walk(bundle.get("resources") or {}, "resources")


def _value(values: dict, name: str, where: str):
    if name not in values:
        raise BundleError(f"{where}: ${{var.{name}}} is not a declared variable")
    return values[name]


def _substitute(text: str, values: dict, context: dict, where: str) -> str:
    def one(match: re.Match) -> str:
        key = match.group(1)
        if key.startswith("var.") and values:
            value = _value(values, key.removeprefix("var."), where)
            return value if isinstance(value, str) else json.dumps(value)
        if key.startswith("workspace."):
            return match.group(0)  # the CLI knows the deploying user
        if key.startswith("bundle.") and context:
            if key not in context:
                raise BundleError(f"{where}: ${{{key}}} is not something the bundle defines")
            return context[key]
        return match.group(0)  # a variable's own default may name bundle.* values

    return REFERENCE.sub(one, text)


# Quartz cron (what Databricks job schedules take): seconds minutes hours day-of-month month
# day-of-week [year]; exactly one of the two day fields is "?".
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELDS = (
    ("seconds", 0, 59, ()),
    ("minutes", 0, 59, ()),
    ("hours", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2099, ()),
)


def check_cron(expression: str) -> None:
    """Refuse a Quartz cron expression Databricks would not take, naming the field."""
    fields = str(expression).split()
    if len(fields) not in (6, 7):
        raise BundleError(
            f"schedule '{expression}': a Quartz cron expression has 6 or 7 fields (seconds "
            f"minutes hours day-of-month month day-of-week [year]), this one {len(fields)}"
        )
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=False):
        if not _cron_field(text.upper(), name, low, high, names):
            raise BundleError(f"schedule '{expression}': {name} field '{text}' does not parse")
    if (fields[3] == "?") == (fields[5] == "?"):
        raise BundleError(
            f"schedule '{expression}': exactly one of day-of-month and day-of-week must be '?'"
        )


def _cron_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if text == "?":
        return name in ("day-of-month", "day-of-week")
    if name == "day-of-month" and re.fullmatch(r"L(-\d{1,2})?|LW|\d{1,2}W", text):
        return all(low <= int(n) <= high for n in re.findall(r"\d+", text))
    if name == "day-of-week" and re.fullmatch(r"L|[1-7A-Z]{1,3}(L|#[1-5])", text):
        day = re.sub(r"(L|#\d)$", "", text)
        return text == "L" or _cron_value(day, low, high, names)
    for item in text.split(","):
        start, _, step = item.partition("/")
        if step and not (step.isdigit() and 0 < int(step) <= high):
            return False
        if start == "*":
            continue
        first, _, last = start.partition("-")
        if not _cron_value(first, low, high, names) or (
            last and not _cron_value(last, low, high, names)
        ):
            return False
    return True


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    if text in names:
        return True
    return text.isdigit() and low <= int(text) <= high


def check_target(bundle: dict, target: str, given: dict[str, object] | None = None) -> dict:
    """Resolve ``target`` and check its jobs; returns the resolved resources."""
    resources = resolve(bundle, target, given)
    for job_name, job in (resources.get("jobs") or {}).items():
        where = f"resources.jobs.{job_name}"
        if schedule := job.get("schedule"):
            check_cron(schedule.get("quartz_cron_expression", ""))
            zone = schedule.get("timezone_id", "UTC")
            if zone not in available_timezones() and zone != "UTC":
                raise BundleError(f"{where}.schedule: unknown time zone '{zone}'")
            if schedule.get("pause_status", "UNPAUSED") not in ("PAUSED", "UNPAUSED"):
                raise BundleError(
                    f"{where}.schedule: pause_status '{schedule['pause_status']}' is not "
                    "PAUSED or UNPAUSED"
                )
        for event, addresses in (job.get("email_notifications") or {}).items():
            if not isinstance(addresses, list):
                raise BundleError(f"{where}.email_notifications.{event}: a list of addresses")
            for address in addresses:
                if not EMAIL.fullmatch(str(address)):
                    raise BundleError(
                        f"{where}.email_notifications.{event}: '{address}' is not an address"
                    )
        _check_model_names(job, where)
    return resources


def _check_model_names(job: dict, where: str) -> None:
    """Each task's ``--model-name``/``--model-uri`` lies in its cluster's model namespace."""
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job.get("job_clusters", [])}
    for task in job.get("tasks", []):
        env = clusters.get(task.get("job_cluster_key"), {}).get("spark_env_vars") or {}
        namespace = env.get("TABULAR_MODEL_NAMESPACE")
        argv = task.get("spark_python_task", {}).get("parameters", [])
        for flag, value in itertools.pairwise(argv):
            name = value.removeprefix("models:/").split("@")[0].rsplit("/", 1)[0]
            if (
                flag in ("--model-name", "--model-uri")
                and namespace
                and not name.startswith(f"{namespace}.")
            ):
                raise BundleError(
                    f"{where}.tasks.{task['task_key']}: {flag} {value} is outside the "
                    f"target's namespace {namespace}"
                )


def cluster_envs(resources: dict) -> list[dict[str, str]]:
    """The ``spark_env_vars`` of every job cluster."""
    return [
        cluster["new_cluster"].get("spark_env_vars") or {}
        for job in (resources.get("jobs") or {}).values()
        for cluster in job.get("job_clusters", [])
    ]


def check_isolation(bundle: dict, target: str = "", given: dict | None = None) -> None:
    """No two targets share a model namespace, an experiment folder or an artifact location
    (``given``: the ``--var`` values of the deployment of ``target``)."""
    seen: dict[tuple[str, str], str] = {}
    for name in bundle.get("targets") or {}:
        resources = resolve(bundle, name, given if name == target else None)
        for env in cluster_envs(resources):
            for variable in ISOLATED:
                value = env.get(variable)
                if not value:
                    raise BundleError(f"target '{name}': a job cluster sets no {variable}")
                other = seen.setdefault((variable, value), name)
                if other != name:
                    raise BundleError(
                        f"targets '{other}' and '{name}' share {variable}={value}: one "
                        "target's runs would land in the other's"
                    )


def parse_var(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise BundleError(f"--var {text!r}: expected name=value")
    if value.startswith(("[", "{")):
        try:
            return name, json.loads(value)
        except json.JSONDecodeError as exc:
            raise BundleError(f"--var {name}: not JSON ({exc.msg})") from None
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="the bundle target (dev, prod)")
    parser.add_argument("--var", action="append", default=[], help="name=value, as the CLI")
    parser.add_argument("--bundle", default=str(BUNDLE), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        bundle = yaml.safe_load(Path(args.bundle).read_text())
        given = dict(parse_var(v) for v in args.var)
        resources = check_target(bundle, args.target, given)
        check_isolation(bundle, args.target, given)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    env = cluster_envs(resources)[0]
    print(
        f"bundle ok for target {args.target}: models in {env['TABULAR_MODEL_NAMESPACE']}, "
        f"experiments in {env['TABULAR_EXPERIMENT_ROOT']}, artifacts in "
        f"{env['TABULAR_ARTIFACT_ROOT']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
