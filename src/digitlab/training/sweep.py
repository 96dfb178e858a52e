"""Hyper-parameter sweeps on Optuna: a TPE search over recipe fields, median pruning from each epoch's
validation accuracy, every trial a normal run directory.

    params = parse_params(["lr=log:1e-4:1e-1", "batch-size=64,128,256"], recipe)
    result = run_sweep(recipe, params, SweepOptions(trials=20, out=Path("sweeps/cnn")))
    result.best["val_acc"], result.best_recipe      # the best trial's recipe, written as OUT/best-recipe.json

The objective is the trial's best validation accuracy (the test split never steers the search). Several
processes or machines share one study through Optuna's RDB storage (``--storage sqlite:///sweep.db`` or a
PostgreSQL/MySQL URL): each runs its ``trials`` and the study holds them all. Files in OUT:

    trial-NNN/         one run directory per trial (a pruned trial's stops at the epoch it was pruned after)
    study.db           the study, unless another storage was given
    summary.json       every trial of the study (number, state, params, val acc, epochs, run dir) and the best
    best-recipe.json   the best trial's recipe (``digitlab train --recipe OUT/best-recipe.json``)

A new study's first trial is the recipe's own settings (when they lie in the searched space): the baseline the
search has to beat, measured in the same study.
    sweep.png          val accuracy per trial with the best so far, and per epoch for each trial
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digitlab import __version__
from digitlab.errors import DigitlabError
from digitlab.training.recipes import Recipe
from digitlab.training.run import RunOptions
from digitlab.utils.fileio import atomic_write_json

SUMMARY = "summary.json"
BEST_RECIPE = "best-recipe.json"
PLOT = "sweep.png"
STUDY_DB = "study.db"

# Recipe fields a sweep may search, by value type. Left out: what changes the data the trials are compared on
# (dataset, classes, val_size) and the structured fields (model_args, schedule_args, augment, betas, notes).
INT_FIELDS = ("batch_size", "epochs", "seed", "limit", "per_class")
FLOAT_FIELDS = ("lr", "momentum", "weight_decay", "label_smoothing", "ema")
CHOICE_FIELDS = ("optimizer", "schedule", "loss", "normalization", "model", "compile")
FIXED_FIELDS = {"dataset": "it changes the data the trials are compared on",
                "classes": "it changes the data the trials are compared on",
                "val_size": "it changes the validation split the trials are compared on"}
KINDS = ("log", "float", "int")


@dataclass(frozen=True)
class Param:
    """One searched recipe field: ``log`` (log-uniform float), ``float``, ``int`` in [low, high], or ``choice``."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """This field's value for an Optuna trial."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log")

    def spec(self) -> str:
        """The canonical ``--param`` text, e.g. ``lr=log:0.0001:0.1`` or ``batch_size=64,128``."""
        if self.kind == "choice":
            return f"{self.name}=" + ",".join("none" if c is None else str(c).lower() if isinstance(c, bool)
                                              else str(c) for c in self.choices)
        return f"{self.name}={self.kind}:{_number_text(self.low)}:{_number_text(self.high)}"

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this search space (a recipe's own value may not)."""
        if self.kind == "choice":
            return any(value == c and type(value) is type(c) for c in self.choices) or (
                isinstance(value, float) and any(value == c for c in self.choices if isinstance(c, int)))
        if value is None or isinstance(value, (bool, str)):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def probes(self) -> list[Any]:
        """Values checked against the recipe before the sweep starts: the range's ends, or every choice."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


def _number_text(value: float | None) -> str:
    return str(int(value)) if value is not None and float(value).is_integer() and abs(value) >= 1 else repr(value)


def _number(text: str, param: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DigitlabError(f"--param {param}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DigitlabError(f"--param {param}: {text!r} is not a finite number")
    return value


def _choice(text: str) -> Any:
    word = text.strip()
    if word.lower() in ("none", "null"):
        return None
    if word.lower() in ("true", "false"):
        return word.lower() == "true"
    for cast in (int, float):
        try:
            return cast(word)
        except ValueError:
            pass
    return word


def parse_param(text: str, recipe: Recipe | None = None) -> Param:
    """``name=log:LO:HI``, ``name=float:LO:HI``, ``name=int:LO:HI`` or ``name=a,b,c`` -> Param; with ``recipe``,
    every end or choice is also checked to make a valid recipe. Names take dashes or underscores.

    >>> parse_param("batch-size=64,128,256")
    Param(name='batch_size', kind='choice', low=None, high=None, choices=(64, 128, 256))
    >>> parse_param("lr=log:1e-4:1e-1").spec()
    'lr=log:0.0001:0.1'
    """
    key, sep, value = text.partition("=")
    name = key.strip().replace("-", "_")
    if not sep or not name or not value.strip():
        raise DigitlabError(f"--param takes NAME=log:LO:HI, NAME=float:LO:HI, NAME=int:LO:HI or NAME=a,b,c; "
                            f"got {text!r}")
    searchable = INT_FIELDS + FLOAT_FIELDS + CHOICE_FIELDS
    if name in FIXED_FIELDS:
        raise DigitlabError(f"--param {name}: cannot be swept: {FIXED_FIELDS[name]}")
    if name not in searchable:
        raise DigitlabError(f"--param {name}: unknown parameter; a sweep searches the recipe fields "
                            f"{', '.join(f.replace('_', '-') for f in searchable)}")
    kind, colon, rest = value.partition(":")
    if colon and kind.strip() in KINDS:
        param = _parse_range(name, kind.strip(), rest, text)
    elif colon:
        raise DigitlabError(f"--param {text!r}: unknown range kind {kind.strip()!r} (use log, float or int; "
                            "or list the values: a,b,c)")
    else:
        choices = tuple(_choice(c) for c in value.split(","))
        if any(c == "" for c in choices):
            raise DigitlabError(f"--param {text!r}: an empty value in the list")
        if len(set(map(repr, choices))) != len(choices):
            raise DigitlabError(f"--param {text!r}: a value is listed twice")
        param = Param(name, "choice", choices=choices)
    _check_types(param, text)
    if recipe is not None:
        check_against(param, recipe)
    return param


def _parse_range(name: str, kind: str, rest: str, text: str) -> Param:
    ends = rest.split(":")
    if len(ends) != 2:
        raise DigitlabError(f"--param {text!r}: a range is {kind}:LO:HI")
    low, high = (_number(e, name) for e in ends)
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        raise DigitlabError(f"--param {text!r}: int:LO:HI takes whole numbers")
    if low >= high:
        raise DigitlabError(f"--param {text!r}: LO must be below HI")
    if kind == "log" and low <= 0:
        raise DigitlabError(f"--param {text!r}: a log range needs LO > 0")
    return Param(name, kind, int(low) if kind == "int" else low, int(high) if kind == "int" else high)


def _check_types(param: Param, text: str) -> None:
    if param.name in CHOICE_FIELDS and param.kind != "choice":
        raise DigitlabError(f"--param {text!r}: {param.name} takes a list of values (a,b,c), not a range")
    if param.name in INT_FIELDS:
        if param.kind in ("log", "float"):
            raise DigitlabError(f"--param {text!r}: {param.name} is a whole number: use int:LO:HI or a list")
        if param.kind == "choice" and not all(isinstance(c, int) and not isinstance(c, bool) for c in param.choices):
            raise DigitlabError(f"--param {text!r}: {param.name} takes whole numbers")
    if param.name in FLOAT_FIELDS and param.kind == "choice":
        bad = [c for c in param.choices if isinstance(c, (str, bool)) or (c is None and param.name != "ema")]
        if bad:
            raise DigitlabError(f"--param {text!r}: {param.name} takes numbers, not {bad[0]!r}")


def check_against(param: Param, recipe: Recipe) -> None:
    """Raise DigitlabError unless each end / choice of ``param`` gives a valid recipe."""
    for value in param.probes():
        if param.name == "model":
            from digitlab.models.registry import get_spec

            get_spec(str(value))  # unknown model: DigitlabError naming the available ones
        try:
            dataclasses.replace(recipe, **{param.name: value}).validate()
        except DigitlabError as e:
            raise DigitlabError(f"--param {param.spec()}: {value!r} is out of range ({e})") from None
        except TypeError as e:
            raise DigitlabError(f"--param {param.spec()}: {value!r} does not fit ({e})") from None


def parse_params(texts: Sequence[str], recipe: Recipe) -> list[Param]:
    """Every ``--param``, checked against ``recipe``; at least one, each field at most once."""
    if not texts:
        raise DigitlabError("a sweep needs at least one --param, e.g. --param lr=log:1e-4:1e-1")
    params = [parse_param(t, recipe) for t in texts]
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DigitlabError(f"--param {twice[0]} is given twice")
    return params


@dataclass(frozen=True)
class SweepOptions:
    """How the study runs. ``storage``: an Optuna RDB URL shared by every worker (None: OUT/study.db)."""

    trials: int
    out: Path
    storage: str | None = None
    study_name: str | None = None
    seed: int = 0  # the TPE sampler's; give each worker sharing a study its own
    prune: bool = True
    prune_startup: int = 3  # trials that finish before the median pruner may stop one
    prune_warmup: int = 0  # epochs a trial runs before it may be pruned
    report: bool = True  # each trial's report.md and figures (False: model files and metrics only)
    baseline: bool = True  # a new study's first trial: the recipe's own values (where they lie in the space)
    heartbeat: int = 60  # seconds between a running trial's heartbeats (RDB storage); a worker killed mid-trial
    # leaves it RUNNING: after 2 missed heartbeats the next worker marks it failed and runs its settings again

    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.out / STUDY_DB).resolve()}"

    def storage_shown(self) -> str:
        """The storage URL with its password hidden: what summaries, tables and errors show."""
        return hide_password(self.storage_url())


def hide_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db`` (other URLs unchanged)."""
    return re.sub(r"^([\w+.-]+://[^:/@]*):[^@/]*@", r"\1:***@", url)


@dataclass
class SweepResult:
    """What a sweep leaves: the study's name and storage, one row per trial, the best trial and its recipe."""

    study_name: str
    storage: str
    out: Path
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_recipe: Recipe | None
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        states = [t["state"] for t in self.trials]
        return {"study": self.study_name, "storage": self.storage, "out": str(self.out),
                "objective": "best validation accuracy of the trial (maximised)",
                "counts": {s: states.count(s) for s in sorted(set(states))}, "trials": self.trials,
                "best": self.best, "best_recipe": self.best_recipe.to_json() if self.best_recipe else None,
                "files": self.files}


def require_optuna() -> Any:
    from digitlab.utils.extras import require

    optuna = require("optuna", "scale", "digitlab sweep")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial, not optuna's
    return optuna


def trial_recipe(base: Recipe, values: dict[str, Any]) -> Recipe:
    """``base`` with a trial's values (None values too: ``ema=none`` turns the EMA off)."""
    if values.get("model", base.model) != base.model:  # another model: its own defaults, as `train MODEL`
        base = dataclasses.replace(base, model_args={})
    recipe = dataclasses.replace(base, **values)
    recipe.validate()
    return recipe


def open_study(recipe: Recipe, params: Sequence[Param], options: SweepOptions) -> Any:
    """Create the study, or join it when it exists (another worker's) after checking it searches the same
    recipe and parameters; DigitlabError (one line) for an unreachable storage or a different study."""
    optuna = require_optuna()
    url, shown = options.storage_url(), options.storage_shown()
    if options.storage is None:
        options.out.mkdir(parents=True, exist_ok=True)
    name = options.study_name or f"sweep-{recipe.name}"
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    storage = None
    for attempt in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=options.heartbeat,
                    grace_period=2 * options.heartbeat,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
                break
            except Exception as e:  # sqlalchemy's many errors: bad URL, missing driver, unreachable server
                # Two workers creating the same new database at once: one makes the tables, the other's
                # insert of the schema version collides; by the next attempt the tables are there.
                racing = any(w in str(e) for w in ("UNIQUE constraint", "already exists", "locked", "Duplicate"))
                if not racing or attempt == 4:
                    raise DigitlabError(f"--storage {shown}: cannot open the study storage ({_first_line(e)})") \
                        from None
        time.sleep(0.2 * (attempt + 1))
    sampler = optuna.samplers.TPESampler(seed=options.seed)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=options.prune_startup,
                                          n_warmup_steps=options.prune_warmup)
              if options.prune else optuna.pruners.NopPruner())
    study = optuna.create_study(storage=storage, sampler=sampler, pruner=pruner, study_name=name,
                                direction="maximize", load_if_exists=True)
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise DigitlabError(f"study {name!r} in {shown} minimises; a sweep's study maximises validation accuracy")
    space = {"recipe": json.loads(json.dumps(recipe.to_json())), "params": [p.spec() for p in params]}
    held = {k: study.user_attrs.get(k) for k in space}
    if held["recipe"] is None and held["params"] is None:
        for key, value in space.items():
            study.set_user_attr(key, value)
        study.set_user_attr("digitlab_version", __version__)
    elif held != space:
        what = "parameters " + " ".join(held["params"] or []) if held["params"] != space["params"] else "recipe"
        raise DigitlabError(f"study {name!r} in {shown} searches other {what}; give the same recipe, overrides and "
                            "--param to every worker, or another --study-name")
    return study


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def make_objective(optuna: Any, base: Recipe, params: Sequence[Param], options: SweepOptions,
                   run_options: RunOptions) -> Callable[[Any], float]:
    """The study's objective: one run directory OUT/trial-NNN per trial; each epoch's validation accuracy is
    reported to the pruner, which may stop the trial (optuna.TrialPruned) after any epoch past the warm-up but
    the last."""
    from digitlab.training.run import run_training

    def objective(trial: Any) -> float:
        values = {p.name: p.suggest(trial) for p in params}
        recipe = trial_recipe(base, values)
        run_dir = options.out / f"trial-{trial.number:03d}"
        trial.set_user_attr("run_dir", str(run_dir.resolve()))

        def on_epoch(record: dict) -> None:
            trial.report(record["val_acc"], record["epoch"])
            last = record["epoch"] >= recipe.epochs  # a trial whose training is over completes: nothing to save
            if options.prune and not last and trial.should_prune():
                raise optuna.TrialPruned(f"val acc {record['val_acc']:.4f} below the median at epoch "
                                         f"{record['epoch']}")

        result = run_training(recipe, run_options, run_dir=run_dir, report=options.report, on_epoch=on_epoch)
        trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
        return result.best_val_acc

    return objective


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial of the study, in number order. ``val_acc``: the objective of a finished trial, the best
    epoch reported so far for a pruned or running one."""
    return [trial_row(t) for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)]


def trial_row(trial: Any) -> dict[str, Any]:
    """One Optuna FrozenTrial as a row of the summary."""
    curve = [trial.intermediate_values[k] for k in sorted(trial.intermediate_values)]
    value = trial.value if trial.value is not None else (max(curve) if curve else None)
    return {"number": trial.number, "state": trial.state.name.lower(), "params": dict(trial.params),
            "val_acc": value, "val_acc_per_epoch": curve, "epochs": len(curve),
            "baseline": bool(trial.user_attrs.get("baseline")),
            "train_seconds": trial.user_attrs.get("train_seconds"), "run_dir": trial.user_attrs.get("run_dir")}


def best_of(study: Any, base: Recipe) -> tuple[dict[str, Any] | None, Recipe | None]:
    """(the best complete trial's row, its recipe) or (None, None) when none has completed."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return None, None
    best = max(complete, key=lambda t: (t.value, -t.number))  # the first of equals
    trained = trial_recipe(base, dict(best.params))
    settings = ", ".join(f"{k}={v}" for k, v in best.params.items())
    recipe = dataclasses.replace(
        trained, name=f"{base.name}-best",
        description=f"{base.name} with the best settings of sweep {study.study_name!r}: {settings}",
        notes=(*trained.notes, f"Sweep {study.study_name!r}, trial {best.number}: best validation accuracy "
               f"{best.value:.4f} of {len(study.trials)} trials (digitlab {__version__})."))
    row = {"number": best.number, "val_acc": best.value, "params": dict(best.params),
           "run_dir": best.user_attrs.get("run_dir")}
    return row, recipe


def write_outputs(study: Any, base: Recipe, options: SweepOptions, plot: bool = True) -> SweepResult:
    """summary.json, best-recipe.json and sweep.png in OUT, from every trial of the study (all workers')."""
    rows = trial_rows(study)
    best, recipe = best_of(study, base)
    out = options.out
    files = {"summary": str(out / SUMMARY)}
    if recipe is not None:
        atomic_write_json(out / BEST_RECIPE, recipe.to_json())
        files["best_recipe"] = str(out / BEST_RECIPE)
    if plot:
        plot_study(rows, out / PLOT, title=f"{study.study_name}: {len(rows)} trials")
        files["plot"] = str(out / PLOT)
    result = SweepResult(study.study_name, options.storage_shown(), out, rows, best, recipe, files)
    atomic_write_json(out / SUMMARY, result.to_json())
    return result


def check_out_dir(out: Path, study_name: str, storage: str) -> None:
    """OUT may hold this study's earlier trials, not another study's (their trial-NNN would collide)."""
    path = out / SUMMARY
    if not path.exists():
        return
    try:
        doc = json.loads(path.read_text())
        held = (doc["study"], doc["storage"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DigitlabError(f"{out}: holds a {SUMMARY} that is not a sweep's; use another --out") from None
    if held != (study_name, storage):
        raise DigitlabError(f"{out} holds the trials of study {held[0]!r} ({held[1]}); use another --out")


def run_sweep(recipe: Recipe, params: Sequence[Param], options: SweepOptions,
              run_options: RunOptions = RunOptions(), on_trial: Callable[[dict], None] | None = None) -> SweepResult:
    """Run ``options.trials`` trials of the study (created, or joined if another worker made it) and write
    the summary, the plot and the best recipe in OUT. ``on_trial(row)`` after each trial of this process.

    >>> recipe = get_recipe("cnn").override(limit=2000)                                    # doctest: +SKIP
    >>> result = run_sweep(recipe, parse_params(["lr=log:1e-3:1e-1"], recipe),            # doctest: +SKIP
    ...                    SweepOptions(trials=8, out=Path("sweeps/cnn-lr")))
    >>> result.best["params"]                                                             # doctest: +SKIP
    {'lr': 0.0213}
    """
    if options.trials < 1:
        raise DigitlabError(f"--trials must be >= 1, got {options.trials}")
    recipe.validate()
    run_options.validate()
    options.out.mkdir(parents=True, exist_ok=True)
    name = options.study_name or f"sweep-{recipe.name}"
    check_out_dir(options.out, name, options.storage_shown())
    optuna = require_optuna()
    study = open_study(recipe, params, options)

    write_outputs(study, recipe, options, plot=False)  # OUT is this study's from now on (check_out_dir)
    if options.baseline and not study.trials:
        own = {p.name: getattr(recipe, p.name) for p in params}
        if all(p.contains(own[p.name]) for p in params):  # the recipe as written: what the search must beat
            study.enqueue_trial(own, user_attrs={"baseline": True}, skip_if_exists=True)

    def after_trial(study: Any, trial: Any) -> None:
        if on_trial is not None:
            on_trial(trial_row(trial))

    try:
        study.optimize(make_objective(optuna, recipe, params, options, run_options), n_trials=options.trials,
                       callbacks=[after_trial])
    except BaseException:  # a failed trial or Ctrl-C: the summary still shows what the study holds
        with contextlib.suppress(Exception):
            write_outputs(study, recipe, options)
        raise
    return write_outputs(study, recipe, options)


def plot_study(rows: Sequence[dict], path: Path, title: str = "") -> None:
    """Two panels: validation accuracy per trial (complete filled, pruned hollow) with the best so far; and per
    epoch for each trial (pruned dashed), where the pruning shows."""
    from matplotlib.ticker import MaxNLocator

    from digitlab.metrics.plots import plt, save_figure

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    done = [r for r in rows if r["state"] == "complete" and r["val_acc"] is not None]
    pruned = [r for r in rows if r["state"] == "pruned" and r["val_acc"] is not None]
    if done:
        left.plot([r["number"] for r in done], [100 * r["val_acc"] for r in done], "o", color="tab:blue",
                  label="complete")
        best, xs, ys = -1.0, [], []
        for r in done:
            best = max(best, r["val_acc"])
            xs.append(r["number"])
            ys.append(100 * best)
        last = max(r["number"] for r in rows)
        left.step([*xs, last], [*ys, ys[-1]], where="post", color="tab:green", label="best so far")
    if pruned:
        left.plot([r["number"] for r in pruned], [100 * r["val_acc"] for r in pruned], "o", mfc="none",
                  color="tab:red", label="pruned (best epoch reached)")
    left.set_xlabel("trial")
    left.set_ylabel("validation accuracy (%)")
    left.set_title("per trial")
    if done or pruned:
        left.legend(loc="best", fontsize=8)
    for r in rows:
        curve = r["val_acc_per_epoch"]
        if curve:
            style = "--" if r["state"] == "pruned" else "-"
            right.plot(range(1, len(curve) + 1), [100 * v for v in curve], style, marker=".", alpha=0.7,
                       color="tab:red" if r["state"] == "pruned" else "tab:blue")
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy (%)")
    right.set_title("per epoch (pruned dashed)")
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
