"""Each trainer's search space, declared once, in hyperopt's and Optuna's forms."""

from __future__ import annotations

import math

import hyperopt
import numpy as np
import optuna
import pytest
from hyperopt import hp
from hyperopt.pyll import scope, stochastic

import trainers
from common.errors import UserInputError
from jobs import hyperopt_search, optuna_search, pipeline, tuning
from jobs.search_plan import SearchPlan
from trainers.search_space import Choice, Integer, Uniform

FAMILIES = sorted(trainers.TRAINERS)

# The spaces the trainers wrote in hyperopt's own terms before they were declared once: the
# hyperopt form must draw exactly these, so a seed tunes as it did at earlier commits.
HAND_WRITTEN = {
    "xgboost": lambda: {
        "max_depth": scope.int(hp.quniform("max_depth", 2, 10, 1)),
        "learning_rate": hp.loguniform("learning_rate", np.log(0.01), np.log(0.3)),
        "subsample": hp.uniform("subsample", 0.5, 1.0),
        "colsample_bytree": hp.uniform("colsample_bytree", 0.5, 1.0),
        "min_child_weight": hp.loguniform("min_child_weight", np.log(0.5), np.log(20)),
        "reg_lambda": hp.loguniform("reg_lambda", np.log(0.1), np.log(10)),
    },
    "sklearn": lambda: {
        "n_estimators": scope.int(hp.quniform("n_estimators", 50, 400, 25)),
        "max_depth": hp.choice("max_depth", [None, 4, 8, 16]),
        "min_samples_leaf": scope.int(hp.quniform("min_samples_leaf", 1, 10, 1)),
        "max_features": hp.uniform("max_features", 0.1, 1.0),
    },
    "pytorch": lambda: {
        "hidden_sizes": hp.choice("hidden_sizes", [(64,), (128, 64), (256, 128), (128, 64, 32)]),
        "dropout": hp.uniform("dropout", 0.0, 0.5),
        "learning_rate": hp.loguniform("learning_rate", np.log(1e-4), np.log(1e-2)),
        "weight_decay": hp.loguniform("weight_decay", np.log(1e-6), np.log(1e-2)),
        "batch_size": hp.choice("batch_size", [32, 64, 128]),
    },
}


def _inside(dimension, value) -> bool:
    """Whether ``value`` is one the declared ``dimension`` allows, of its type."""
    if isinstance(dimension, Choice):
        return any(value == option and type(value) is type(option) for option in dimension.options)
    if isinstance(dimension, Integer):
        on_grid = (value - dimension.low) % dimension.step == 0
        return type(value) is int and dimension.low <= value <= dimension.high and on_grid
    return isinstance(value, float) and dimension.low <= value <= dimension.high


def _optuna_draws(space, n: int, study) -> list[dict]:
    asked = optuna_search.distributions(space)
    draws = []
    for i in range(n):
        trial = study.ask(asked)
        draws.append(optuna_search.values(space, trial.params))
        study.tell(trial, float(i % 7))  # past TPE's random start-up trials, TPE proper
    return draws


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_declares_its_space_once_over_its_params(name):
    trainer = trainers.get(name)
    space = trainer.module.search_space()
    assert set(space) == set(HAND_WRITTEN[name]())
    assert set(space) <= set(trainer.module.Params.__dataclass_fields__)
    assert all(isinstance(d, Uniform | Integer | Choice) for d in space.values())
    assert (
        set(hyperopt_search.space(space)) == set(optuna_search.distributions(space)) == set(space)
    )


@pytest.mark.parametrize("name", FAMILIES)
def test_the_hyperopt_form_draws_what_the_hand_written_space_drew(name):
    declared = hyperopt_search.space(trainers.get(name).module.search_space())
    for seed in range(25):
        ours = stochastic.sample(declared, rng=np.random.default_rng(seed))
        before = stochastic.sample(HAND_WRITTEN[name](), rng=np.random.default_rng(seed))
        assert ours == before


@pytest.mark.parametrize("name", FAMILIES)
def test_both_forms_draw_only_declared_values_and_cover_every_choice(name):
    trainer = trainers.get(name)
    space = trainer.module.search_space()
    expressions = hyperopt_search.space(space)
    rng = np.random.default_rng(0)
    random = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    draws = {
        "hyperopt": [stochastic.sample(expressions, rng=rng) for _ in range(60)],
        "optuna": _optuna_draws(space, 60, random),
        "optuna TPE": _optuna_draws(space, 30, optuna_search.study(0)),
    }
    for backend, drawn in draws.items():
        for params in drawn:
            assert all(_inside(space[k], v) for k, v in params.items()), (backend, params)
            trainer.params(**params)  # every draw is a valid Params
        if backend == "optuna TPE":
            continue  # TPE's later draws follow the losses, not the prior
        for key, dim in space.items():
            seen = [params[key] for params in drawn]
            if isinstance(dim, Choice):
                assert set(map(str, seen)) == set(dim.labels()), (backend, key)
            elif getattr(dim, "log", False):
                # log scale: as many draws below the geometric middle as above, roughly
                middle = math.sqrt(dim.low * dim.high)
                assert 10 <= sum(v < middle for v in seen) <= 50, (backend, key)


def test_optuna_gets_the_scales_steps_and_choices_declared():
    forms = optuna_search.distributions(
        {
            "rate": Uniform(1e-4, 1e-2, log=True),
            "trees": Integer(50, 400, step=25),
            "leaves": Integer(2, 256, log=True),
            "layers": Choice(((64,), (128, 64), None)),
        }
    )
    assert forms["rate"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert forms["trees"] == optuna.distributions.IntDistribution(50, 400, step=25)
    assert forms["leaves"] == optuna.distributions.IntDistribution(2, 256, log=True)
    assert forms["layers"].choices == ("(64,)", "(128, 64)", "None")
    values = optuna_search.values(
        {"layers": Choice(((64,), (128, 64), None))}, {"layers": "(128, 64)"}
    )
    assert values == {"layers": (128, 64)}


def test_a_space_a_backend_cannot_express_is_refused_naming_the_parameter():
    log_steps = {"width": Integer(4, 64, step=4, log=True)}
    with pytest.raises(
        UserInputError, match=r"Optuna cannot draw 'width' = Integer\(4, 64, step=4"
    ):
        optuna_search.distributions(log_steps)
    assert set(hyperopt_search.space(log_steps)) == {"width"}  # qloguniform draws it
    off_grid = {"depth": Integer(3, 9, step=2)}
    with pytest.raises(
        UserInputError, match=r"hyperopt cannot draw 'depth' = Integer\(3, 9, step=2"
    ):
        hyperopt_search.space(off_grid)
    assert optuna_search.distributions(off_grid)["depth"].step == 2


@pytest.mark.parametrize(
    ("backend", "space", "message"),
    [
        (hyperopt_search, {"depth": Integer(3, 9, step=2)}, "hyperopt cannot draw 'depth'"),
        (optuna_search, {"width": Integer(4, 64, step=4, log=True)}, "Optuna cannot draw 'width'"),
    ],
)
def test_a_backend_refuses_such_a_space_before_any_trial_runs(backend, space, message):
    called = []
    plan = SearchPlan(
        objective=called.append, space=space, max_evals=3, parallelism=2, seed=0,
        spark=lambda: called.append("spark"), on_trial=called.append,
    )  # fmt: skip
    with pytest.raises(UserInputError, match=message):
        backend.search(plan)
    assert called == []  # no trial, and no Spark session started for one


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Uniform(1.0, 0.5), "need finite low < high"),
        (lambda: Uniform(0.0, 1.0, log=True), "a log scale needs low > 0"),
        (lambda: Integer(1, 10, step=2), "step must be >= 1 and divide high - low"),
        (lambda: Choice((1, "1")), "two or more distinct options"),
        (lambda: Choice((8,)), "two or more distinct options"),
    ],
)
def test_a_dimension_neither_backend_could_search_is_refused_where_it_is_declared(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_objective_speaks_hyperopts_statuses_and_main_offers_tunes_backends():
    assert (tuning.STATUS_OK, tuning.STATUS_FAIL) == (hyperopt.STATUS_OK, hyperopt.STATUS_FAIL)
    assert tuple(tuning.BACKENDS) == pipeline.TUNE_BACKENDS
