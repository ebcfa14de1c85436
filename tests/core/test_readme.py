"""The README documents every configuration option the model knows."""

import os
import re

from torbox import config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_option_is_documented():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", readme, flags=re.M))
    options = set()
    for schema in config.SCHEMAS.values():
        options |= set(schema)
    missing = options - documented
    assert not missing, f"options missing from README's configuration reference: {missing}"


def test_readme_has_the_two_commands():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "make demo" in readme and "make test" in readme
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert "make test" in ci
