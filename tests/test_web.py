"""micrograd.viz.web: the front end's ES modules inlined into one module script where a page
must stand alone (the stepper), imports given the lab's token, and the CSP hash."""
import base64
import hashlib

import pytest

from micrograd.viz import web


def modules(monkeypatch, files):
    monkeypatch.setattr(web, "module_text", lambda name: files[name])


def test_each_imported_module_is_a_scope_of_its_own_once_before_its_users(monkeypatch):
    modules(monkeypatch, {
        "main.js": 'import { a, b as bee } from "./m.js";\nimport { c } from "./n.js";\n'
                   'const x = 1;\nuse(a, bee, c, x);\n',
        "m.js": 'import { c } from "./n.js";\nconst x = 2;\nexport function a() { return c + x; }\n'
                'export const b = 3;\n',
        "n.js": "const x = 3;\nexport const c = x;\nexport async function later() {}\n",
    })
    assert web.inline_module("main.js") == (
        "// n.js\nconst __n = (() => {\nconst x = 3;\nconst c = x;\nasync function later() {}\n"
        "return { c, later };\n})();\n\n"
        "// m.js\nconst __m = (() => {\nconst { c } = __n;\nconst x = 2;\n"
        "function a() { return c + x; }\nconst b = 3;\nreturn { a, b };\n})();\n\n"
        "// main.js\nconst { a, b: bee } = __m;\nconst { c } = __n;\nconst x = 1;\n"
        "use(a, bee, c, x);\n")


@pytest.mark.parametrize("files, message", [
    ({"main.js": 'import { a } from "./m.js";\n', "m.js": "export default 1;\n"},
     r"^m\.js: an export that is not `export function\|const\|let\|class NAME`$"),
    ({"main.js": 'import { a } from "./m.js";\n', "m.js": "const a = 1;\nexport { a };\n"},
     r"^m\.js: an export that is not"),
    ({"main.js": 'import { a } from "./m.js";\n',
      "m.js": 'import { b } from "./main.js";\nexport const a = 1;\n'},
     r"^modules import each other in a circle: main\.js -> m\.js -> main\.js$"),
    ({"main.js": 'import x from "./m.js";\n'},
     r"^main\.js: an import that is not `import \{\.\.\.\} from \"\./x\.js\";` on a line"),
    ({"main.js": 'const m = import("./m.js");\n'}, r"^main\.js: an import that is not"),
    ({"main.js": 'import { a-b } from "./m.js";\n'},
     r"^main\.js: cannot read the import of 'a-b' from \./m\.js$"),
    ({"main.js": 'el.textContent = "</script><script>alert(1)";\n'},
     r"^main\.js: '</script' or '<!--' cannot be inlined into a page$"),
    ({"main.js": "export const a = 1;\n"}, r"^main\.js is a page's entry module: it exports"),
])
def test_what_cannot_be_inlined_is_refused_by_name(monkeypatch, files, message):
    modules(monkeypatch, files)
    with pytest.raises(RuntimeError, match=message):
        web.inline_module("main.js")


def test_the_stepper_inlines_every_module_it_imports_and_nothing_else():
    text = web.inline_module("stepper.js")
    assert [line for line in text.splitlines() if line.startswith("// ") and
            line.endswith(".js")] == ["// ui.js", "// stepper-graph.js", "// stepper-panel.js",
                                      "// stepper-size.js", "// stepper.js"]
    assert "import " not in text.replace("// ", "") and "\nexport " not in text


def test_imports_of_siblings_carry_the_query():
    text = 'import { $ } from "./ui.js";\nimport { a } from "./lab-api.js";\nfoo("./ui.js");\n'
    assert web.imports_with_query(text, "token=abc") == (
        'import { $ } from "./ui.js?token=abc";\nimport { a } from "./lab-api.js?token=abc";\n'
        'foo("./ui.js");\n')


def test_csp_hash_is_the_sha256_of_the_utf8_text_in_base64():
    text = "\nconst a = 'π';\n"
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
    assert web.csp_hash(text) == f"'sha256-{digest}'"
