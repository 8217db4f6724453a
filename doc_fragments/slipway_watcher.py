"""The option every watcher module shares: where watcher.config.json is."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  config:
    description:
      - Path of the watcher configuration, C(watcher.config.json) (Forgejo URL, repository and token,
        Claude, paths and budgets). The token is read from it by the module itself and never passes
        through playbook variables.
    type: path
    default: ~/issue-watcher/watcher.config.json
requirements:
  - httpx
"""
