"""tasks.common.arguments: the shared checks of the tasks' constructor arguments."""

import pytest

from tasks.common.arguments import check_bool, check_float, check_int


def test_check_int_returns_values_in_range_and_names_the_bounds_otherwise():
    assert check_int("n", 0, 0) == 0 and check_int("n", 27, 0, 27) == 27
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got 0$"):
        check_int("n", 0, 1)
    with pytest.raises(ValueError, match=r"^n must be an integer with 0 <= n <= 27, got 28$"):
        check_int("n", 28, 0, 27)
    for bad, kind in ((True, "bool"), (1.0, "float"), ("1", "str")):
        with pytest.raises(ValueError, match=rf"got {bad!r} \({kind}\)$"):
            check_int("n", bad, 0)


def test_check_float_closed_and_half_open_upper_bound():
    assert check_float("x", 1, 0.0, 1.0) == 1.0 and isinstance(check_float("x", 1, 0.0, 1.0), float)
    assert check_float("x", 0.999, 0.0, 1.0, below=True) == 0.999
    with pytest.raises(ValueError, match=r"^x must be a number with 0 <= x < 1, got 1.0$"):
        check_float("x", 1.0, 0.0, 1.0, below=True)
    with pytest.raises(ValueError, match=r"^x must be a number with 0 <= x <= 0.5, got -0.1$"):
        check_float("x", -0.1, 0.0, 0.5)
    with pytest.raises(ValueError, match=r"got False \(bool\)$"):
        check_float("x", False, 0.0, 1.0)


def test_check_bool_takes_only_bools():
    assert check_bool("flag", False) is False
    with pytest.raises(ValueError, match=r"^flag must be True or False, got 1 \(int\)$"):
        check_bool("flag", 1)
