"""Strict command-line parsing shared by the entry points, and their error handling.

Flags mirror MLproject parameters (``max_depth`` <-> ``--max-depth``). ``mlflow run`` appends
parameters that MLproject does not declare as ``--name value``, so a misspelled ``-P`` arrives
here as an unknown flag and is refused with the list of valid ones.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import functools
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from common import business, params
from common.columns import OVERRIDES
from common.data import BUILTIN_DATASETS, TASKS
from common.errors import CheckFailed, UserInputError, WorkerError, access_refused


class StrictParser(argparse.ArgumentParser):
    """An ArgumentParser that refuses unknown and abbreviated flags with a clear message."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)

    def parse_args(self, args: Sequence[str] | None = None, namespace=None) -> argparse.Namespace:
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            known = sorted(
                o
                for a in self._actions
                for o in a.option_strings
                if o.startswith("--") and o != "--help"
            )
            self.error(
                f"unknown parameter(s): {' '.join(unknown)}. This entry point takes "
                f"{', '.join(known)} (as MLproject parameters: "
                f"{', '.join(k[2:].replace('-', '_') for k in known)})"
            )
        return parsed

    def error(self, message: str):
        raise UserInputError(f"{self.prog}: {message}")


def flag_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` (a ``common.params`` value type) as an argparse ``type=``: its
    ``ParameterValueError`` becomes argparse's error, so the message names what was expected."""

    @functools.wraps(parse)
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except params.ParameterValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


positive_int = flag_type(params.positive_int)
non_negative_int = flag_type(params.non_negative_int)
seed = flag_type(params.seed)
optional_positive_int = flag_type(params.optional_positive_int)
positive_int_list = flag_type(params.positive_int_list)
non_negative_float = flag_type(params.non_negative_float)
optional_float = flag_type(params.optional_float)
boolean = flag_type(params.boolean)


def float_in(
    low: float, high: float, *, low_open: bool = True, high_open: bool = True
) -> Callable[[str], float]:
    """``common.params.float_in`` as an argparse ``type=``."""
    return flag_type(params.float_in(low, high, low_open=low_open, high_open=high_open))


def build_parser(doc: str, *, default_data: str) -> StrictParser:
    """A parser with the data, run and tracking flags every trainer shares.

    Args:
        doc: The entry point's module docstring, shown as the description.
        default_data: The entry point's default ``--data``.
    """
    parser = StrictParser(description=doc)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        default=default_data,
        help=f"builtin:<{'|'.join(BUILTIN_DATASETS)}> or a CSV/Parquet path or URI "
        "(default: %(default)s)",
    )
    data.add_argument("--target", default="", help="label column (builtin sets: 'target')")
    data.add_argument("--task", choices=TASKS, default="auto", help="default: %(default)s")
    data.add_argument(
        "--test-size",
        type=float_in(0.0, 1.0),
        default=0.2,
        help="held-out fraction (default: %(default)s)",
    )
    data.add_argument("--seed", type=seed, default=42, help="default: %(default)s")
    data.add_argument(
        "--data-version",
        default="",
        help="label for the data_version tag (default: content digest)",
    )
    roles = parser.add_argument_group("columns (comma-separated names; see common/columns.py)")
    for flag in OVERRIDES:
        roles.add_argument(
            f"--{flag}", default="", metavar="COLUMNS",
            help="columns to leave out" if flag == "drop" else f"columns to treat as {flag}",
        )  # fmt: skip
    add_hyperparameters(parser, business.Settings, "business metric (common/business.py)")
    run = parser.add_argument_group("tracking")
    run.add_argument("--run-name", default="", help="default: <model_type>_v<N>")
    return parser


def add_autolog_flag(parser: argparse.ArgumentParser) -> None:
    """``--autolog true|false`` for trainers whose framework MLflow can autolog."""
    parser.add_argument(
        "--autolog",
        type=boolean,
        default=True,
        help="log the framework's full parameter set of the fitted model (default: true)",
    )


def add_hyperparameters(parser: argparse.ArgumentParser, declaration: type, title: str) -> None:
    """One ``--flag`` per field of the ``declaration`` dataclass, in a group called ``title``."""
    group = parser.add_argument_group(title)
    for spec in dataclasses.fields(declaration):
        help_text = spec.metadata["help"]
        default = f"default: {params.as_parameter_text(spec.default)}"
        group.add_argument(
            f"--{spec.name.replace('_', '-')}",
            type=flag_type(spec.metadata["parse"]),
            default=spec.default,
            choices=spec.metadata["choices"] or None,
            help=f"{help_text} ({default})" if help_text else default,
        )


def trainer_parser(doc: str, trainer: Any) -> StrictParser:
    """A ``train_<name>`` entry point's parser: the shared flags, autolog where the trainer's
    framework has it, and one flag per field of its ``Params``.

    Args:
        doc: The entry point's module docstring.
        trainer: Its ``trainers.Trainer`` registry entry.
    """
    parser = build_parser(doc, default_data=trainer.default_data)
    if trainer.autolog:
        add_autolog_flag(parser)
    add_engine_flags(parser, trainer)
    add_hyperparameters(parser, trainer.module.Params, trainer.family)
    return parser


def add_engine_flags(parser: argparse.ArgumentParser, trainer: Any) -> None:
    """``--engine single_node|spark`` and, where the trainer runs on Spark, its worker count."""
    group = parser.add_argument_group("engine (see common/spark/tables.py)")
    group.add_argument(
        "--engine",
        choices=("single_node", "spark"),
        default="single_node",
        help="spark: read, encode and train on Spark (default: %(default)s)",
    )
    if trainer.spark_workers:
        group.add_argument(
            f"--{trainer.spark_workers.replace('_', '-')}",
            type=int,
            default=2,
            help="Spark barrier tasks training together, at most the task slots (default: 2)",
        )


def run_main(body: Callable[[], int]) -> int:
    """Run an entry point's body; bad input becomes one ``error:`` line and exit status 2, and so
    does a tracking server's 401/403 (naming the server and what to do, never the password).

    SIGTERM ends the body like Ctrl-C (the run ends KILLED, exit status 143) instead of leaving
    its run RUNNING. Under ``mlflow run`` the launcher's run gets the error as ``failure_reason``
    even when it came before the run was opened (a bad flag), and the command stops when the
    launcher dies (Linux), instead of training on as an orphan.
    """
    previous = _handle_stop_signals()
    _skip_collection_at_exit()
    quiet_console()
    try:
        _stop_with_launcher()
        return body()
    except Exception as exc:
        if isinstance(exc, WorkerError | CheckFailed):
            print(f"error: {exc}", file=sys.stderr)
            _record_failure(str(exc), kind=type(exc).__name__)
            return 1
        refused = _access_refused(exc)
        if refused is None and not isinstance(exc, UserInputError):
            raise
        message = refused or str(exc)
        print(f"error: {message}", file=sys.stderr)
        _record_failure(message, kind="AccessRefused" if refused else "UserInputError")
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP as Terminated
        print(f"error: {str(exc) or 'interrupted (Ctrl-C)'}", file=sys.stderr)
        return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# Set to true for MLflow's own INFO lines and artifact progress bars in a run's output.
VERBOSE = "TABULAR_VERBOSE"


def verbose() -> bool:
    """Whether ``TABULAR_VERBOSE`` asks for MLflow's (and the tuners') own lines."""
    return os.environ.get(VERBOSE, "").strip().lower() in ("1", "true", "yes")


def quiet_console() -> None:
    """Keep a run's console to the lines it prints itself: MLflow's INFO lines (validating the
    input example, creating tables, ...) and its artifact progress bars (three per trained
    model: its validation loads it back) go, warnings and errors stay; ``TABULAR_VERBOSE=true``
    keeps everything. An explicit ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` is kept as set."""
    if verbose():
        return
    import logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _skip_collection_at_exit() -> None:
    """Freeze the heap once the exit handlers ran (MLflow's flushes included): the interpreter's
    final garbage collections over the tens of thousands of objects that mlflow, sklearn and
    pandas import otherwise add ~0.6 s to every command's exit, and a pipeline has several."""
    atexit.unregister(gc.freeze)  # once, however often a process runs an entry point
    atexit.register(gc.freeze)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C: runs end KILLED (``context.tracked_run``)."""

    def __init__(self, message: str, signum: int = signal.SIGTERM):
        super().__init__(message)
        self.signum = int(signum)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_terminated(signum: int, frame) -> None:
    # Once is enough: a second signal (a launcher forwarding one, an impatient Ctrl-C) would
    # interrupt the run's own ending, and MLflow's exit hook would then mark it FINISHED.
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt("interrupted (Ctrl-C)")
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}", signum)


def _handle_stop_signals() -> dict:
    """Install the handler for Ctrl-C, SIGTERM and SIGHUP (a closed terminal or ssh session);
    returns the previous handlers (none off the main thread, where Python cannot install any)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _raise_terminated) for s in STOP_SIGNALS}


def _stop_with_launcher() -> None:
    """Under ``mlflow run``, ask Linux for SIGTERM when the launcher (our parent) dies.

    ``mlflow run`` does not pass its own SIGTERM on: without this the command trains on, its
    run finishing minutes after the user stopped it.
    """
    if not os.environ.get("MLFLOW_RUN_ID") or not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the launcher died before the request was in place
        raise Terminated("stopped: the launcher of this run has exited")


def _access_refused(exc: Exception) -> str | None:
    """``errors.access_refused`` for the tracking server this process talks to."""
    if "mlflow" not in sys.modules:  # no MLflow call was made, so no server answered
        return None
    import mlflow
    from mlflow.environment_variables import MLFLOW_TRACKING_TOKEN
    from mlflow.utils.credentials import read_mlflow_creds

    username = read_mlflow_creds().username
    who = f"user '{username}'" if username else None
    if who is None and MLFLOW_TRACKING_TOKEN.get():
        who = "the token in MLFLOW_TRACKING_TOKEN"
    return access_refused(exc, server=mlflow.get_tracking_uri(), who=who)


def _record_failure(reason: str, kind: str = "UserInputError") -> None:
    """Tag the launcher's run with ``failure_reason`` if nothing has (best effort)."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    import mlflow
    from mlflow.tracking import MlflowClient

    from common.tracking import is_relative_local_uri

    if is_relative_local_uri(mlflow.get_tracking_uri()):
        return  # opening it here would create a stray store where the command runs
    try:
        client = MlflowClient()
        if "failure_reason" not in client.get_run(run_id).data.tags:
            client.set_tag(run_id, "failure_reason", f"{kind}: {reason}"[:5000])
    except Exception:  # the store may be the very problem being reported
        return
