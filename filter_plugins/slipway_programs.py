"""Jinja filter giving the text of a program whose one source is Python shared code (module_utils).

{{ 'git-askpass' | slipway_program }}  -> module_utils/slipway/gitops.py's ASKPASS_SCRIPT, the askpass
                                          program the roles install root-owned (roles/slipway_git_askpass)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ansible.errors import AnsibleFilterError

_GITOPS = Path(__file__).resolve().parent.parent / "module_utils" / "slipway" / "gitops.py"
_spec = importlib.util.spec_from_file_location("slipway_gitops_for_filters", _GITOPS)
gitops = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gitops  # its dataclasses look their module up while it loads
_spec.loader.exec_module(gitops)

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
