"""Jinja filter giving the text of a program whose one source is Python shared code (module_utils).

{{ 'git-askpass' | slipway_program }}  -> module_utils/slipway/gitops.py's ASKPASS_SCRIPT, the askpass
                                          program the roles install root-owned (roles/slipway_git_askpass)
"""

from __future__ import annotations

from pathlib import Path

import ansible.module_utils
from ansible.errors import AnsibleFilterError

# The one way code outside Ansible's module runner imports the core (as slipway_lifecycle.py does).
_MODULE_UTILS = str(Path(__file__).resolve().parents[1] / "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.slipway import gitops  # noqa: E402

PROGRAMS = {"git-askpass": gitops.ASKPASS_SCRIPT}


def program(name: str) -> str:
    try:
        return PROGRAMS[name]
    except KeyError:
        raise AnsibleFilterError(
            f"slipway_program: no program {name!r} (known: {', '.join(PROGRAMS)})"
        ) from None


class FilterModule:
    def filters(self) -> dict:
        return {"slipway_program": program}
