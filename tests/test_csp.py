"""The stepper page's Content-Security-Policy is computed in one place (viz.stepper.stepper_csp):
the page's meta tag and the lab's header both carry it, and it admits exactly the page's inline
style and script."""
import base64
import hashlib
import re

from micrograd.lab import server
from micrograd.lecture import lecture_neuron
from micrograd.viz.stepper import stepper_csp, stepper_html


def sha(text):
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def test_the_page_meta_csp_is_stepper_csp_and_hashes_its_inline_style_and_script():
    page = stepper_html(lecture_neuron(backward=True))
    meta = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert meta == stepper_csp()
    (style,) = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    (script,) = re.findall(r'<script type="module">(.*?)</script>', page, flags=re.S)
    assert meta == f"default-src 'none'; style-src {sha(style)}; script-src {sha(script)}"


def test_the_lab_sends_the_same_policy_with_its_extra_limits():
    assert server._stepper_csp() == (stepper_csp() + "; connect-src 'self'; img-src data:; "
                                                      "base-uri 'none'; "
                                                      "form-action 'none'; frame-ancestors "
                                                      "'self'")
