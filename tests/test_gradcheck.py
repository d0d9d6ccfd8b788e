"""gradcheck: central differences agree with backward(), and a wrong derivative is caught by name."""
import pytest

from micrograd.engine import Op, Value
from micrograd.gradcheck import GradcheckError, analytic_grad, gradcheck, numerical_grad


def test_numerical_gradient_of_the_lecture_expression():
    L = lambda a, b, c, f: (a * b + c) * f
    assert numerical_grad(L, [2.0, -3.0, 10.0, -2.0]) == pytest.approx([6.0, -4.0, -2.0, 4.0],
                                                                        abs=1e-6)
    assert analytic_grad(L, [2.0, -3.0, 10.0, -2.0]) == [6.0, -4.0, -2.0, 4.0]


@pytest.mark.parametrize("f, xs", [
    (lambda a, b: (a * b + b ** 3).tanh(), [0.3, -0.7]),
    (lambda a: a.exp() / (1 + a.exp()), [0.5]),
    (lambda a, b: (a / b).log() + a.sigmoid() * b.relu(), [1.5, 0.8]),
    (lambda a, b: a ** b, [1.7, 2.3]),
])
def test_gradcheck_passes_for_correct_ops(f, xs):
    assert gradcheck(f, xs)


def test_gradcheck_names_the_input_that_disagrees():
    wrong = Op("wrong_square", lambda a: a * a, lambda out, a: (a,))     # should be 2a
    f = lambda x, y: wrong(x) + y
    with pytest.raises(GradcheckError) as err:
        gradcheck(f, [Value(3.0, label="x"), 1.0])
    message = str(err.value)
    assert "x: backward() gives 3.0, numerical 6.0" in message
    assert "input 1" not in message          # y's gradient is right


def test_gradcheck_refuses_functions_that_do_not_return_a_value():
    with pytest.raises(TypeError, match="f must return a Value, got float"):
        gradcheck(lambda a: 1.0, [1.0])
