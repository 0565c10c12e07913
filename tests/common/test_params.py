"""Parameter value types: strict text -> value, with messages that say what was expected."""

from __future__ import annotations

import pytest

from common import params
from common.params import ParameterValueError


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (params.positive_int, "3", 3),
        (params.non_negative_int, "0", 0),
        (params.seed, "4294967295", 2**32 - 1),
        (params.optional_positive_int, "None", None),
        (params.positive_int_list, "128, 64", (128, 64)),
        (params.float_in(0.0, 1.0), "0.25", 0.25),
        (params.non_negative_float, "0", 0.0),
        (params.optional_float, "-1.5", -1.5),
        (params.boolean, "TRUE", True),
    ],
)
def test_each_type_reads_its_values(parse, text, value):
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (params.positive_int, "0", "an integer >= 1, got '0'"),
        (params.positive_int, "３", "ASCII digits"),
        (params.seed, "-1", "from 0 to 4294967295"),
        (params.positive_int_list, "128,x", "comma-separated integers >= 1"),
        (params.float_in(0.0, 1.0), "1", r"a number in \(0.0, 1.0\)"),
        (params.optional_float, "nan", "a finite number"),
        (params.boolean, "yes", "true or false"),
    ],
)
def test_a_wrong_value_is_refused_naming_what_was_expected(parse, text, message):
    with pytest.raises(ParameterValueError, match=message):
        parse(text)


def test_values_are_written_back_as_parameters_are_typed():
    assert params.as_parameter_text((128, 64)) == "128,64"
    assert params.as_parameter_text(None) == "None"
