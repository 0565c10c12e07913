"""The command lines' strict flags: a value type's refusal is one argparse error line."""

from __future__ import annotations

import pytest

from common.errors import UserInputError
from jobs import cli


def _parser() -> cli.StrictParser:
    parser = cli.StrictParser(prog="demo")
    parser.add_argument("--depth", type=cli.positive_int, default=1)
    parser.add_argument("--share", type=cli.float_in(0.0, 1.0), default=0.5)
    return parser


def test_flags_parse_with_the_shared_value_types():
    parsed = _parser().parse_args(["--depth", "3", "--share", "0.2"])
    assert (parsed.depth, parsed.share) == (3, 0.2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--depth", "0"], "demo: argument --depth: expected an integer >= 1, got '0'"),
        (["--share", "2"], r"demo: argument --share: expected a number in \(0.0, 1.0\), got '2'"),
        (["--deep", "3"], "demo: unknown parameter\\(s\\): --deep 3"),
    ],
)
def test_a_bad_flag_is_one_line_naming_the_flag_and_what_was_expected(argv, message):
    with pytest.raises(UserInputError, match=message) as refused:
        _parser().parse_args(argv)
    assert "\n" not in str(refused.value)


def test_a_wrapped_type_keeps_its_name_for_argparse():
    assert cli.positive_int.__name__ == "positive_int"
