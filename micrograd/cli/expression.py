"""Expressions typed on the command line, built into Values safely: `micrograd graph --expr`.

An expression is parsed with `ast` and evaluated by walking a whitelist (numbers, the names
given with --set, + - * / **, unary minus, and tanh exp log relu sigmoid abs as functions or
methods); it is never passed to eval().
"""
import ast
import keyword

from micrograd.engine import Value

__all__ = ["build_expression", "parse_sets", "ExprError", "FUNCTIONS", "ALLOWED"]

FUNCTIONS = ("tanh", "exp", "log", "relu", "sigmoid", "abs")
METHODS = ("tanh", "exp", "log", "relu", "sigmoid")
MAX_CHARS = 5000
MAX_NODES = 2000
MAX_NESTING = 400
ALLOWED = ("numbers, names given with --set, + - * / **, unary minus, "
           "and tanh exp log relu sigmoid abs")

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_OTHER_OPS = {ast.MatMult: "@", ast.Mod: "%", ast.FloorDiv: "//", ast.LShift: "<<",
              ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
              ast.Invert: "~", ast.Not: "not"}
_WHAT = {ast.Lambda: "lambda", ast.Subscript: "indexing", ast.Attribute: "attribute access",
         ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "if/else",
         ast.ListComp: "comprehensions", ast.GeneratorExp: "generators",
         ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
         ast.JoinedStr: "f-strings", ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts",
         ast.Set: "sets", ast.Starred: "*-unpacking", ast.NamedExpr: ":=",
         ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
         ast.Slice: "slices", ast.FormattedValue: "f-strings"}


class ExprError(ValueError):
    """An expression or a --set value that cannot be used; the message is one line."""


def _snippet(text, node):
    try:
        seg = ast.get_source_segment(text, node) or ""
    except Exception:                  # pragma: no cover - defensive
        seg = ""
    seg = " ".join(seg.split())
    return seg if len(seg) <= 40 else seg[:37] + "..."


class _Evaluator:
    def __init__(self, text, env):
        self.text = text
        self.env = dict(env)           # name -> Value
        self.named = set(self.env.values())
        self.count = 0

    def refuse(self, node, what=None):
        what = what or _WHAT.get(type(node), type(node).__name__)
        seg = _snippet(self.text, node)
        where = f" in {seg!r}" if seg else ""
        raise ExprError(f"{what} not allowed{where}; an expression may use {ALLOWED}")

    def label(self, v, node):
        if v not in self.named and not v.label:
            text = _snippet(self.text, node)          # as the user spelled it
            if text and len(text) <= 24:
                v.label = text
        return v

    def eval(self, node, depth=0):
        self.count += 1
        if self.count > MAX_NODES:
            raise ExprError(f"expression too long (more than {MAX_NODES} parts)")
        if depth > MAX_NESTING:
            raise ExprError(f"expression nested too deeply (more than {MAX_NESTING} levels)")
        if isinstance(node, ast.Constant):
            return Value(self.number(node))
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            if node.id in FUNCTIONS:
                raise ExprError(f"{node.id} is a function: write {node.id}(x) or x.{node.id}()")
            raise ExprError(f"unknown name {node.id!r}: give it a value with --set "
                            f"{node.id}=<number>")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                self.refuse(node, f"operator '{_OTHER_OPS.get(type(node.op), '?')}'")
            a = self.eval(node.left, depth + 1)
            if op == "**" and self.is_number(node.right):
                b = self.number(node.right)          # x ** 2 is the lecture's '**2' node
            else:
                b = self.eval(node.right, depth + 1)
            out = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                   "/": lambda: a / b, "**": lambda: a ** b}[op]()
            return self.label(out, node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                if isinstance(node.operand, ast.Constant):
                    return Value(-self.number(node.operand))
                return self.label(-self.eval(node.operand, depth + 1), node)
            if isinstance(node.op, ast.UAdd):
                return self.eval(node.operand, depth + 1)
            self.refuse(node, f"operator '{_OTHER_OPS.get(type(node.op), '?')}'")
        if isinstance(node, ast.Call):
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                self.refuse(node, "keyword or * arguments")
            f = node.func
            if isinstance(f, ast.Name) and f.id in FUNCTIONS:
                if len(node.args) != 1:
                    raise ExprError(f"{f.id}() takes exactly one argument")
                x = self.eval(node.args[0], depth + 1)
                out = abs(x) if f.id == "abs" else getattr(Value, f.id)(x)
                return self.label(out, node)
            if isinstance(f, ast.Attribute) and f.attr in METHODS:
                if node.args:
                    raise ExprError(f".{f.attr}() takes no arguments")
                x = self.eval(f.value, depth + 1)
                return self.label(getattr(Value, f.attr)(x), node)
            if isinstance(f, ast.Name):
                self.refuse(node, f"calling {f.id}()")
            if isinstance(f, ast.Attribute):
                self.refuse(node, f"calling .{f.attr}()")
            self.refuse(node, "this call")
        self.refuse(node)

    def is_number(self, node):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            node = node.operand
        return isinstance(node, ast.Constant) and type(node.value) in (int, float)

    def number(self, node):
        sign = 1
        if isinstance(node, ast.UnaryOp):
            sign = -1 if isinstance(node.op, ast.USub) else 1
            node = node.operand
        v = node.value
        if type(v) not in (int, float):
            raise ExprError(f"only numbers are allowed as constants, not {type(v).__name__} "
                            f"{_snippet(self.text, node)!r}")
        if type(v) is int:
            try:
                f = float(v)
            except OverflowError:
                raise ExprError(f"number too large: {_snippet(self.text, node)}") from None
            if f.is_integer() and abs(v) < 2 ** 53:
                return sign * v                    # keep 2 as 2, so x**2 is the '**2' node
            return sign * f
        return sign * v


def build_expression(text, values=None):
    """The Value of `text` with the named inputs `values` ({name: number}), built safely.

    `text` is one expression, or statements separated by ';' or newlines where all but the
    last are assignments `name = expression` (the name becomes the node's label, as in the
    lecture: "e = a*b; d = e + c; L = d*f"). Raises ExprError (a ValueError) with a one-line
    message for anything outside the whitelist, and ValueError/OverflowError from the engine
    for math without a real result (log(0), exp(1000))."""
    if not isinstance(text, str):
        raise ExprError("the expression must be a string")
    if len(text) > MAX_CHARS:
        raise ExprError(f"expression too long ({len(text)} characters, at most {MAX_CHARS})")
    if not text.strip():
        raise ExprError("the expression is empty")
    env = {}
    for name, x in (values or {}).items():
        _check_name(name)
        env[name] = Value(_float(x, name), label=name)
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise ExprError(f"cannot parse the expression{col}: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError("cannot parse the expression (too deeply nested or too large)") from None
    if not tree.body:
        raise ExprError("the expression is empty")
    ev = _Evaluator(text, env)
    out = None
    try:
        for k, stmt in enumerate(tree.body):
            last = k == len(tree.body) - 1
            if isinstance(stmt, ast.Expr):
                if not last:
                    raise ExprError(f"only the last statement may be a bare expression; name "
                                    f"the others: {_snippet(text, stmt)!r} -> x = ...")
                out = ev.eval(stmt.value)
            elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                name = stmt.targets[0].id
                _check_name(name)
                if name in ev.env:
                    raise ExprError(f"{name} already has a value; pick another name")
                v = ev.eval(stmt.value)
                if v not in ev.named:
                    v.label = name
                    ev.named.add(v)
                ev.env[name] = v
                out = v
            else:
                ev.refuse(stmt, "this statement" if not isinstance(stmt, ast.Assign)
                          else "this assignment")
    except RecursionError:
        raise ExprError("expression nested too deeply") from None
    if not out.label:
        out.label = "out"
    return out


def _check_name(name):
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ExprError(f"{name!r} is not a usable name (letters, digits and _, not starting "
                        f"with a digit)")
    if name in FUNCTIONS:
        raise ExprError(f"{name!r} is a function name; call the input something else")
    if name.startswith("__"):
        raise ExprError(f"{name!r}: names may not start with __")


def _float(x, name):
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ExprError(f"--set {name}={x}: not a number") from None


def parse_sets(items):
    """--set NAME=NUMBER items -> {name: number}, each name checked and given once."""
    values = {}
    for item in items or ():
        name, eq, x = item.partition("=")
        name = name.strip()
        if not eq:
            raise ExprError(f"--set {item!r}: write NAME=NUMBER, e.g. --set a=2")
        _check_name(name)
        if name in values:
            raise ExprError(f"--set {name} given twice")
        values[name] = _float(x.strip(), name)
    return values
