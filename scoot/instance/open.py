"""What every command starts from: the runtime directory, its config and its jobs."""

from __future__ import annotations

import dataclasses
import os
import sys

from scoot.instance.config import Config, LoadedConfig, all_backends, load_config
from scoot.instance.home import Home, check_home, ensure_tree, resolve_home
from scoot.notify.jobkeys import bind_jobs
from scoot.schedule.jobs import JobSet, validate_jobs
from scoot.shared.value_class import value_class


@value_class
class Instance:
    """A runtime directory with its configuration loaded and its jobs validated.

    The jobs are `jobset`; `config.schedule.jobs` is empty here (see _without_raw_jobs).
    """

    home: Home
    loaded: LoadedConfig
    jobset: JobSet
    home_warnings: tuple[str, ...]

    @property
    def config(self) -> Config:
        return self.loaded.config

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.home_warnings + self.loaded.warnings + self.jobset.warnings

    @property
    def config_label(self) -> str:
        return str(self.loaded.source) if self.loaded.source else "(none: defaults)"


def open_instance(
    home_option: str | None,
    *,
    create: bool = True,
    environ: dict[str, str] | None = None,
    long_lived: bool = False,
) -> Instance:
    """Resolve, create (if asked) and load a runtime directory; raises ScootError.

    `long_lived`: for a process that keeps the jobs for hours (a daemon), which
    then hold nothing of the parsed config (scoot.shared.fresh).
    """
    env = dict(os.environ if environ is None else environ)
    home = resolve_home(home_option, env)
    home_warnings: list[str] = []
    if create:
        home_warnings = ensure_tree(home)
    else:
        check_home(home)
    # Read-only commands keep the parse too: only into a state/ that exists and is ours.
    loaded = load_config(home, env, keep_parse=True)
    schedule = loaded.config.schedule
    jobset = validate_jobs(
        schedule.jobs,
        default_timezone=schedule.timezone,
        default_jitter_sec=schedule.jitter_sec,
        backends=frozenset(all_backends(loaded.config)),
        fresh=long_lived,
    )
    jobset = bind_jobs(jobset, loaded.config.notify, home.root)
    return Instance(home, _without_raw_jobs(loaded), jobset, tuple(home_warnings))


def _without_raw_jobs(loaded: LoadedConfig) -> LoadedConfig:
    """The config less its raw job tables: once validated, the jobs live in the JobSet.

    Ten thousand parsed tables are megabytes that a daemon would carry for its
    whole life; freed here, the memory serves what comes next.
    """
    config = loaded.config
    schedule = dataclasses.replace(config.schedule, jobs=())
    return dataclasses.replace(loaded, config=dataclasses.replace(config, schedule=schedule))


def print_warnings(warnings: tuple[str, ...] | list[str]) -> None:
    for text in warnings:
        print(f"scoot: warning: {text}", file=sys.stderr)
