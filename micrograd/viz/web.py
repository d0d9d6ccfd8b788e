"""The front end's scripts as Python hands them to a browser, and the CSP that admits them.

The pages' scripts are ES modules, with no build step: `micrograd/viz/ui.js` holds what the
stepper and the lab both need (element helpers, number formats, fetching JSON); the stepper's
modules sit beside it, the lab's in `micrograd/lab/static/`. A served page (the lab, the static
site) loads them as files, the browser resolving `import {...} from "./ui.js"`. A page that must
stand alone (the stepper: a file opened from disk, or an iframe's srcdoc in Jupyter, the lab
and the site, which can import nothing relative) gets them inlined by `inline_module`: one
module script, the same source files. The Content-Security-Policy that admits an inline script
or style is `csp_hash` of its text, computed here and nowhere else.

The modules keep to a form this file can read without a JavaScript parser: imports are whole
lines `import { a, b as c } from "./name.js";` at the top, exports are `export function`,
`export async function`, `export const`, `export let` or `export class` declarations. Anything
else (`export default`, `export {...}`, an import from elsewhere) is refused by name.
"""
import base64
import hashlib
import re
from importlib import resources

__all__ = ["csp_hash", "inline_module", "module_text", "imports_with_query", "SHARED"]

SHARED = "ui.js"                  # the helpers both pages use; lives in micrograd.viz

_IMPORT = re.compile(r'^import \{([^}]*)\} from "\./([\w-]+\.js)";[ \t]*\n', re.M)
_EXPORT = re.compile(r"^export (?=(?:async function|function|const|let|class)\b)", re.M)
_EXPORTED = re.compile(r"^export (?:async function\*?|function\*?|const|let|class)\s+([\w$]+)",
                       re.M)
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_IMPORT_FROM = re.compile(r'(^import \{[^}]*\} from "\./[\w-]+\.js)(";)', re.M)


def csp_hash(text):
    """The CSP source that admits exactly this inline element's text ('sha256-...')."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def module_text(name):
    """The source of one of micrograd.viz's modules (the stepper's, or the shared ui.js)."""
    return resources.files("micrograd.viz").joinpath(name).read_text(encoding="utf-8")


def _imports(name, text):
    """[(bindings as JS destructuring, module name)] of a module's imports, checked."""
    found = []
    for names, source in _IMPORT.findall(text):
        pairs = []
        for item in names.split(","):
            parts = item.split()
            if len(parts) == 1 and _NAME.fullmatch(parts[0]):
                pairs.append(parts[0])
            elif len(parts) == 3 and parts[1] == "as" and _NAME.fullmatch(parts[0]) \
                    and _NAME.fullmatch(parts[2]):
                pairs.append(f"{parts[0]}: {parts[2]}")
            elif item.strip():
                raise RuntimeError(f"{name}: cannot read the import of {item.strip()!r} "
                                   f"from ./{source}")
        found.append(("{ " + ", ".join(pairs) + " }", source))
    rest = _IMPORT.sub("", text)
    if re.search(r"^\s*import\b|\bimport\s*\(", rest, re.M):
        raise RuntimeError(f"{name}: an import that is not `import {{...}} from \"./x.js\";` "
                           f"on a line of its own")
    return found, rest


def inline_module(entry):
    """The module `entry` and every module it imports, as the text of one module script.

    Each imported module becomes a function scope that returns its exports (so their names
    cannot collide), in the order the imports need them, each once; the entry's own code
    follows at the top level. The files stay the ES modules the served pages load."""
    order, seen = [], set()

    def visit(name, stack):
        if name in stack:
            raise RuntimeError(f"modules import each other in a circle: "
                               f"{' -> '.join(stack + (name,))}")
        if name in seen:
            return
        imports, body = _imports(name, module_text(name))
        for _, source in imports:
            visit(source, stack + (name,))
        seen.add(name)
        order.append((name, imports, body))

    visit(entry, ())
    parts = []
    for name, _, body in order:         # the text goes inside <script>: it must not end it
        if re.search(r"</script|<!--", body, re.I):
            raise RuntimeError(f"{name}: '</script' or '<!--' cannot be inlined into a page")
    for name, imports, body in order:
        bindings = "".join(f"const {b} = {_scope(s)};\n" for b, s in imports)
        if name == entry:
            if _EXPORTED.search(body):
                raise RuntimeError(f"{entry} is a page's entry module: it exports nothing")
            parts.append(f"// {name}\n{bindings}{body}")
            continue
        exported = _EXPORTED.findall(body)
        body = _EXPORT.sub("", body)
        if re.search(r"^export\b", body, re.M):
            raise RuntimeError(f"{name}: an export that is not `export function|const|let|"
                               f"class NAME`")
        parts.append(f"// {name}\nconst {_scope(name)} = (() => {{\n{bindings}{body}"
                     f"return {{ {', '.join(exported)} }};\n}})();\n")
    return "\n".join(parts)


def _scope(name):
    return "__" + re.sub(r"\W", "_", name[:-len(".js")])


def imports_with_query(text, query):
    """A module's text whose imports of its siblings carry `?query` (the lab's token: every
    request to the lab needs it, and a relative import drops the importer's query)."""
    return _IMPORT_FROM.sub(lambda m: f"{m.group(1)}?{query}{m.group(2)}", text)
