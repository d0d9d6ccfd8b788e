"""The exercises through the Python API: a solution faithful to the lecture passes every check;
each classic mistake, written as a learner would write it (the lecture's solution with one line
changed), fails with feedback that names it; the learner's exceptions show their own file and
line; a loop that never ends is stopped."""
import pathlib

import pytest
import torch

from micrograd import exercises
from micrograd.engine import OPS

SOLUTIONS = pathlib.Path(__file__).parent / "exercise_solutions"
LECTURE = {"value": "value", "topo": "topo", "neuron": "mlp", "mlp": "mlp",
           "training": "training", "custom_op": "custom_op"}


def solution(name):
    return SOLUTIONS / f"{name}_lecture.py"


def variant(tmp_path, name, old, new, count=1):
    """The lecture's solution to `name` with `old` replaced by `new`: one learner's mistake."""
    text = solution(name).read_text()
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times in {name}"
    path = tmp_path / f"my_{name}.py"
    path.write_text(text.replace(old, new))
    return path


def line_of(path, text):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def assert_learner_facing(result):
    """No traceback and no checker internals in what the learner reads."""
    assert "Traceback" not in result.feedback
    assert "micrograd/exercises" not in result.feedback
    assert "<the check's code>" not in result.feedback


# ---------------------------------------------------------------------------------------------
# the lecture's solutions pass
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(LECTURE))
def test_the_lecture_solution_passes_every_check(name):
    result = exercises.check(name, solution(LECTURE[name]))
    n = len(exercises.EXERCISES[name].CHECKS)
    assert result.passed, result.feedback
    assert [o.status for o in result.outcomes] == ["pass"] * n
    assert result.feedback.endswith(f"All {n} checks pass.")
    assert "your own code: the checker imports your file and runs it" in result.feedback


def test_the_exercises_cover_the_issue():
    assert list(exercises.EXERCISES) == ["value", "topo", "neuron", "mlp", "training", "custom_op"]


# ---------------------------------------------------------------------------------------------
# value
# ---------------------------------------------------------------------------------------------
def test_backward_twice_gives_the_lecture_36_which_is_explained_not_failed():
    x = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    z = (x * x) * 3
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.item() == 24.0                   # PyTorch's answer, which the note quotes
    twice = exercises.check("value", solution("value")).outcome("backward() twice")
    assert twice.passed
    assert "x.grad = 36.0, as the lecture's does; PyTorch gives 24.0" in twice.message


def test_a_pytorch_like_backward_passes_too(tmp_path):
    path = variant(tmp_path, "value", "        self.grad = 1.0\n",
                   "        for node in topo:\n            if node._prev:\n"
                   "                node.grad = 0.0\n        self.grad = 1.0\n")
    result = exercises.check("value", path)
    assert result.passed, result.feedback
    assert "(x.grad = 24.0), as PyTorch does" in result.outcome("backward() twice").message


def test_a_root_grad_that_accumulates_fails_the_second_backward(tmp_path):
    path = variant(tmp_path, "value", "        self.grad = 1.0\n", "        self.grad += 1.0\n")
    twice = exercises.check("value", path).outcome("backward() twice")
    assert twice.status == "fail"
    assert "x.grad is 48.0" in twice.message and "self.grad = 1.0" in twice.message


def test_overwriting_in_add_is_named_gradients_must_accumulate(tmp_path):
    path = variant(tmp_path, "value", "            self.grad += 1.0 * out.grad\n"
                   "            other.grad += 1.0 * out.grad\n",
                   "            self.grad = 1.0 * out.grad\n"
                   "            other.grad = 1.0 * out.grad\n")
    result = exercises.check("value", path)
    assert not result.passed
    add = result.outcome("'+': out = a + b")
    assert add.status == "fail"
    assert add.message.startswith("gradients must accumulate: use +=.")
    assert "a.grad: expected 1.5, yours 1.0" in add.message and "__add__" in add.message
    bug = result.outcome("reuse: b = a + a")
    assert bug.message.startswith("gradients must accumulate: use +=.")
    assert "a.grad is expected 2.0, yours 1.0" in bug.message
    assert result.outcome("'*': out = a * b").passed        # the other ops are not blamed
    assert_learner_facing(result)


def test_overwriting_in_mul_is_named_on_a_times_a(tmp_path):
    path = variant(tmp_path, "value", "            self.grad += other.data * out.grad\n"
                   "            other.grad += self.data * out.grad\n",
                   "            self.grad = other.data * out.grad\n"
                   "            other.grad = self.data * out.grad\n")
    result = exercises.check("value", path)
    square = result.outcome("reuse: b = a * a")
    assert square.message.startswith("gradients must accumulate: use +=.")
    assert "expected 6.0, yours 3.0" in square.message
    assert result.outcome("'*': out = a * b").message.startswith("gradients must accumulate")


def test_a_wrong_local_derivative_is_reported_by_op_with_both_numbers(tmp_path):
    path = variant(tmp_path, "value", "self.grad += (1 - t**2) * out.grad",
                   "self.grad += (1 - t) * out.grad")
    result = exercises.check("value", path)
    tanh = result.outcome("'tanh'")
    assert tanh.status == "fail"
    assert tanh.message.startswith("wrong local derivative of 'tanh'")
    assert "a.grad: expected 0.5, yours 0.292893" in tanh.message
    assert OPS["tanh"].derivatives[0].format(out="out") + " = 0.5" in tanh.message  # the op table's
    neuron = result.outcome("the lecture's neuron").message
    assert "x1.grad: expected -1.5, yours -0.87868" in neuron
    assert "nudging x1 by 1e-06 in your own Value: slope -1.5" in neuron
    assert result.outcome("'*': out = a * b").passed


def test_a_swapped_factor_in_mul_is_reported_on_the_right_input(tmp_path):
    path = variant(tmp_path, "value", "            self.grad += other.data * out.grad\n",
                   "            self.grad += self.data * out.grad\n")
    mul = exercises.check("value", path).outcome("'*': out = a * b")
    assert mul.message.startswith("wrong local derivative of '*'")
    assert "a.grad: expected -3.0, yours 2.0" in mul.message
    assert "with respect to a is b = -3.0" in mul.message


def test_an_op_built_from_a_broken_one_says_so(tmp_path):
    path = variant(tmp_path, "value", "self.grad += other * (self.data ** (other - 1)) * out.grad",
                   "self.grad += other * (self.data ** other) * out.grad")
    div = exercises.check("value", path).outcome("'/': out = a / b")
    assert div.status == "fail"
    assert "Yours is built from '*', '**-1', as the lecture does" in div.message


def test_a_backward_without_a_visited_set_is_named(tmp_path):
    path = variant(tmp_path, "value", "            if v not in visited:\n", "            if True:\n")
    result = exercises.check("value", path)
    order = result.outcome("backward() runs each node's _backward once")
    assert order.message.startswith("no visited set: your backward() ran e's _backward 2 times in")
    assert result.outcome("the lecture's expression").passed        # a tree: no harm there
    # how wrong depends on the order of the lecture's set(_children): only the expected is fixed
    assert "x1.grad: expected -1.5, yours " in result.outcome("the lecture's tanh from exp").message


def test_a_backward_walking_forwards_is_named(tmp_path):
    path = variant(tmp_path, "value", "        for node in reversed(topo):\n",
                   "        for node in topo:\n")
    order = exercises.check("value", path).outcome("backward() runs each node's _backward once")
    assert order.message.startswith("not in reverse topological order: your backward() ran e's "
                                    "_backward before d's")


def test_a_learner_exception_shows_their_file_and_line(tmp_path):
    path = variant(tmp_path, "value", "            self.grad += other.data * out.grad\n",
                   "            self.grad += other.data * out.grad / 0\n")
    result = exercises.check("value", path)
    mul = result.outcome("'*': out = a * b")
    assert mul.status == "error"
    assert mul.message.startswith("your code raised ZeroDivisionError: float division by zero")
    line = line_of(path, "out.grad / 0")
    assert f'File "{path}", line {line}, in _backward' in mul.message
    assert "self.grad += other.data * out.grad / 0" in mul.message
    assert_learner_facing(result)


def test_a_missing_radd_is_explained(tmp_path):
    path = variant(tmp_path, "value", "    def __radd__(self, other):  # other + self\n"
                   "        return self + other\n", "")
    radd = exercises.check("value", path).outcome("'+': out = 1.5 + a")
    assert radd.status == "error"
    assert "unsupported operand type(s) for +: 'float' and 'Value'" in radd.message
    assert "define __radd__" in radd.message


def test_a_backward_that_loops_forever_is_stopped(tmp_path):
    path = variant(tmp_path, "value", "        build_topo(self)\n",
                   "        while True:\n            pass\n")
    result = exercises.check("value", path, timeout=3)
    stopped = result.outcomes[-1]
    assert stopped.status == "timeout"
    assert stopped.message.startswith(
        "stopped after 3 seconds while running the check 'class Value: data, grad, label, "
        "_prev, _op, _backward, backward()': your code did not finish.")
    assert len(result.not_run) == len(exercises.EXERCISES["value"].CHECKS) - 1
    assert f"{len(result.not_run)} more checks did not run" in result.feedback


def test_a_file_that_does_not_parse_is_reported_with_its_line(tmp_path):
    path = variant(tmp_path, "value", "    def tanh(self):\n", "    def tanh(self)\n")
    result = exercises.check("value", path)
    assert not result.passed and result.outcomes == []
    assert result.fatal.startswith("importing your file failed: your file does not parse")
    assert f'File "{path}", line {line_of(path, "def tanh(self)")}' in result.fatal
    assert result.feedback.endswith("No checks ran.")


def test_what_the_learner_prints_stays_out_of_the_feedback(tmp_path):
    path = tmp_path / "noisy.py"
    path.write_text(solution("value").read_text() + "\nprint('hello from my file')\n")
    result = exercises.check("value", path)
    assert result.passed
    assert "hello from my file" in result.output and "hello" not in result.feedback


def test_a_file_that_exits_is_reported(tmp_path):
    path = tmp_path / "exits.py"
    path.write_text("import sys\nsys.exit(3)\n")
    result = exercises.check("value", path)
    assert result.fatal.startswith("importing your file failed: your code raised SystemExit: 3")


def test_a_file_without_value_says_what_is_expected(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    first = exercises.check("value", path).outcomes[0]
    assert first.status == "fail"
    assert first.message == ("your file defines no Value: the exercise expects a class Value, as "
                             "the lecture writes it")


# ---------------------------------------------------------------------------------------------
# topo
# ---------------------------------------------------------------------------------------------
def test_build_topo_without_a_visited_set_is_named_with_the_gradient_it_produces(tmp_path):
    path = variant(tmp_path, "topo", "        if v not in visited:\n", "        if True:\n")
    result = exercises.check("topo", path)
    shared = result.outcome("build_topo: a shared node")
    assert shared.message.startswith("no visited set: a node appears more than once.")
    assert "gives 9 nodes for a graph of 5: a appears 3 times" in shared.message
    assert "a.grad = 36.0, b.grad = -28.0   (yours)" in shared.message
    assert "a.grad = 24.0, b.grad = -20.0   (the right order's)" in shared.message
    assert "x appears 243 times" in result.outcome("build_topo: shared subgraphs").message
    assert result.outcome("build_topo: the lecture's L").passed     # a tree has no sharing


def test_a_topological_order_walked_forwards_is_named(tmp_path):
    path = variant(tmp_path, "topo", "    for node in reversed(build_topo(root)):\n",
                   "    for node in build_topo(root):\n")
    result = exercises.check("topo", path)
    assert all(o.passed for o in result.outcomes if o.title.startswith("build_topo"))
    lecture = result.outcome("backward: the lecture's L").message
    assert lecture.startswith("the topological order walked forwards, not reversed")
    assert "a.grad: expected 6.0, yours 0.0" in lecture


def test_a_recursive_backward_without_a_sort_is_named(tmp_path):
    path = tmp_path / "recursive.py"
    path.write_text("def backward(root):\n    root.grad = 1.0\n\n    def visit(v):\n"
                    "        v._backward()\n        for child in v._prev:\n"
                    "            visit(child)\n    visit(root)\n")
    result = exercises.check("topo", path)
    assert result.outcome("backward: the lecture's L").passed          # right on a tree
    shared = result.outcome("backward: a shared node").message
    assert shared.startswith("no topological sort: recursing from the root")
    assert "a.grad: expected 24.0, yours 54.0" in shared


def test_a_root_first_order_is_named(tmp_path):
    path = variant(tmp_path, "topo", "            for child in v._prev:\n"
                   "                build(child)\n            topo.append(v)\n",
                   "            topo.append(v)\n            for child in v._prev:\n"
                   "                build(child)\n")
    result = exercises.check("topo", path)
    first = result.outcome("build_topo: the lecture's L").message
    assert first.startswith("the root comes first: put it last.")
    assert "a.grad = 0.0, b.grad = 0.0, c.grad = 0.0, f.grad = 4.0   (yours)" in first
    assert result.outcome("backward: the lecture's L").message.startswith(
        "your build_topo's order is not valid")


# ---------------------------------------------------------------------------------------------
# neuron, mlp
# ---------------------------------------------------------------------------------------------
def test_a_neuron_without_tanh_is_named(tmp_path):
    path = variant(tmp_path, "mlp", "        out = act.tanh()\n", "        out = act\n")
    lecture = exercises.check("neuron", path).outcome("the lecture's neuron").message
    assert lecture == ("n([2.0, 0.0]): expected 0.707107, yours 0.881374   (tanh of w·x + b = "
                       "0.881374)\nYours is w·x + b itself: squash it with tanh "
                       "(return act.tanh()).")


def test_a_neuron_without_its_bias_is_named(tmp_path):
    path = variant(tmp_path, "mlp", "zip(self.w, x)), self.b)", "zip(self.w, x)), 0.0)")
    lecture = exercises.check("neuron", path).outcome("the lecture's neuron").message
    assert "Yours is tanh(w·x), without the bias: start the sum from self.b." in lecture


def test_parameters_in_the_wrong_order_fail(tmp_path):
    path = variant(tmp_path, "mlp", "        return self.w + [self.b]\n",
                   "        return [self.b] + self.w\n")
    result = exercises.check("mlp", path)
    assert "differs from position 0 on" in result.outcome("MLP.parameters()").message
    assert result.outcome("MLP(3, [4, 4, 1]): layers").passed
    params = exercises.check("neuron", path).outcome("Neuron(3).parameters()").message
    assert "yours is [b, w[0], w[1], w[2]]" in params


def test_a_layer_of_one_that_gives_a_list_fails(tmp_path):
    path = variant(tmp_path, "mlp", "        return outs[0] if len(outs) == 1 else outs\n",
                   "        return outs\n")
    single = exercises.check("mlp", path).outcome("Layer(3, 1)(x) gives one Value")
    assert single.status == "fail" and "gives a list of 1" in single.message


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def test_a_loop_that_forgets_zero_grad_is_caught_and_named(tmp_path):
    path = variant(tmp_path, "training", "            p.grad = 0.0\n", "            pass\n")
    result = exercises.check("training", path)
    assert result.outcome("the loss falls").passed      # as in the lecture: it still trains
    zero = result.outcome("the gradients are zeroed")
    assert zero.message.startswith("forgot zero_grad: the gradients are never reset")
    assert "3 steps moved the parameters 6.00 times as far as 1 step" in zero.message


def test_the_learning_rates_sign_is_checked(tmp_path):
    path = variant(tmp_path, "training", "p.data += -learning_rate * p.grad",
                   "p.data += learning_rate * p.grad")
    result = exercises.check("training", path)
    assert result.outcome("each step goes against the gradient").message.startswith(
        "the learning rate's sign: one step moves the parameters up the gradient")
    assert result.outcome("the loss falls").message.startswith("the loss does not fall: 6.24427")


def test_a_mean_squared_error_is_accepted(tmp_path):
    path = variant(tmp_path, "training", "zip(ys, ypred))\n", "zip(ys, ypred)) * 0.25\n")
    result = exercises.check("training", path)
    assert result.passed, result.feedback


def test_a_training_loop_that_never_ends_is_stopped(tmp_path):
    path = variant(tmp_path, "training", "    for k in range(steps):\n", "    while True:\n")
    result = exercises.check("training", path, timeout=3)
    assert result.outcomes[0].status == "timeout"
    assert "while running the check 'the loss falls" in result.outcomes[0].message
    assert "a `while loss > target` loop" in result.outcomes[0].message


# ---------------------------------------------------------------------------------------------
# custom_op
# ---------------------------------------------------------------------------------------------
def test_a_wrong_custom_derivative_quotes_the_op_table(tmp_path):
    path = variant(tmp_path, "custom_op", "x.grad += s * (1 - s) * out.grad",
                   "x.grad += (1 - s) * out.grad")
    result = exercises.check("custom_op", path)
    sig = result.outcome("sigmoid: its forward").message
    assert sig.startswith("wrong local derivative of sigmoid")
    assert "x.grad: expected 0.244458, yours 0.425557" in sig
    assert OPS["sigmoid"].derivatives[0].format(out="out") + " = 0.244458" in sig
    assert result.outcome("relu: its forward").passed


def test_an_overwriting_custom_op_is_named(tmp_path):
    path = variant(tmp_path, "custom_op", "x.grad += (out.data > 0) * out.grad",
                   "x.grad = (out.data > 0) * out.grad")
    result = exercises.check("custom_op", path)
    assert result.outcome("relu: its forward").message.startswith(
        "gradients must accumulate: use +=.")
    assert "x.grad: expected 1.2, yours 0.6" in result.outcome("relu inside").message


# ---------------------------------------------------------------------------------------------
# starters and the API's errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(LECTURE))
def test_a_starter_has_todos_no_solution_and_fails_cleanly(name, tmp_path):
    path = exercises.start(name, str(tmp_path / f"{name}.py"))
    text = pathlib.Path(path).read_text()
    assert "TODO" in text and f"micrograd exercises check {name} {name}.py" in text
    assert "+=" not in text                 # no _backward, no update is written out
    result = exercises.check(name, path)
    assert not result.passed and not result.fatal
    assert_learner_facing(result)


def test_start_never_overwrites(tmp_path):
    path = tmp_path / "value.py"
    path.write_text("my work\n")
    with pytest.raises(FileExistsError):
        exercises.start("value", str(path))
    assert path.read_text() == "my work\n"


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match=r"^no exercise called 'values'; choose one of value, "
                                         r"topo, neuron, mlp, training, custom_op$"):
        exercises.check("values", solution("value"))
    with pytest.raises(FileNotFoundError):
        exercises.check("value", tmp_path / "missing.py")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="must be a Python file ending in .py"):
        exercises.check("value", tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        exercises.check("value", solution("value"), timeout=0)


# ---------------------------------------------------------------------------------------------
# every exercise: a learner's exception is theirs, a loop that never ends is stopped
# ---------------------------------------------------------------------------------------------
# exercise -> a line of its lecture solution that the first check runs
FIRST_RUN = {"value": "        self.data = data\n",
             "topo": "    topo = []\n",
             "neuron": "        self.b = Value(random.uniform(-1, 1))\n",
             "mlp": "        self.b = Value(random.uniform(-1, 1))\n",
             "training": "    losses = []\n",
             "custom_op": "    out = Value(0.0 if x.data < 0 else x.data, (x,), 'ReLU')\n"}


def broken(tmp_path, name, statement):
    """The lecture's solution with `statement` run right after the line the first check runs."""
    line = FIRST_RUN[name]
    indent = line[:len(line) - len(line.lstrip())]
    return variant(tmp_path, LECTURE[name], line,
                   line + "".join(indent + s + "\n" for s in statement.splitlines()))


@pytest.mark.parametrize("name", list(LECTURE))
def test_every_exercise_shows_a_learner_exception_with_their_file_and_line(name, tmp_path):
    path = broken(tmp_path, name, "scale = 1 / 0")
    result = exercises.check(name, path)
    first = result.outcomes[0]
    assert first.status == "error"
    assert first.message.startswith("your code raised ZeroDivisionError: division by zero")
    assert f'File "{path}", line {line_of(path, "scale = 1 / 0")}' in first.message
    assert_learner_facing(result)


# each runs out a 2-second time limit on a busy loop: the fast tier has the first exercise's
# (and the checker's own loop tests above); the full run has every exercise's
@pytest.mark.parametrize("name", [n if i == 0 else pytest.param(n, marks=pytest.mark.slow)
                                  for i, n in enumerate(LECTURE)])
def test_every_exercise_stops_a_loop_that_never_ends(name, tmp_path):
    path = broken(tmp_path, name, "while True:\n    pass")
    result = exercises.check(name, path, timeout=2)
    first = exercises.EXERCISES[name].CHECKS[0][0]
    assert [(o.title, o.status) for o in result.outcomes] == [(first, "timeout")]
    assert result.outcomes[0].message.startswith(
        f"stopped after 2 seconds while running the check '{first}': your code did not finish.")
    assert not result.passed


def test_an_exception_while_importing_is_shown_with_its_line(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("import math\n\nanswer = math.sqrt(-1)\n")
    result = exercises.check("value", path)
    assert result.fatal == ("importing your file failed: your code raised ValueError: math "
                            f'domain error\n  File "{path}", line 3, in <module>\n'
                            "    answer = math.sqrt(-1)")


def test_a_file_that_loops_while_importing_is_stopped(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("while True:\n    pass\n")
    result = exercises.check("topo", path, timeout=2)
    assert result.outcomes == [] and not result.passed
    assert result.fatal.startswith("stopped after 2 seconds while importing your file: your code "
                                   "did not finish.")


def test_a_check_that_kills_the_process_is_reported(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("import os\n\ndef build_topo(root):\n    os._exit(7)\n")
    result = exercises.check("topo", path)
    assert result.outcomes == [] and "No checks ran." in result.feedback
    path.write_text("import os\n\ndef build_topo(root):\n    return root.topo()\n\n"
                    "def backward(root):\n    os._exit(7)\n")
    later = exercises.check("topo", path)
    assert [o.status for o in later.outcomes] == ["pass"] * 4
    assert later.fatal.startswith("your code ended the checker's process while running the "
                                  "check 'backward: the lecture's L")
    assert later.feedback.endswith("4 checks ran before that.")
    assert result.fatal.startswith("your code ended the checker's process while running the "
                                   "check 'build_topo: the lecture's L = (a*b + c) * f' (exit "
                                   "status 7)")
