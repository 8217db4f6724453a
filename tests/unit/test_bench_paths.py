"""bench/paths on small synthetic trees: the module_utils closure, the YAML walk and the three paths."""

from __future__ import annotations

import json
import subprocess
import textwrap

from bench import paths
from bench.paths import Tree


def make(files: dict[str, str]) -> Tree:
    return Tree({name: textwrap.dedent(text) for name, text in files.items()})


MU = "module_utils/slipway"


def test_closure_follows_every_import_form_transitively():
    t = make(
        {
            "library/mod.py": "from ansible.module_utils.slipway.a import thing\n",
            f"{MU}/__init__.py": "",
            f"{MU}/a.py": "from ansible.module_utils.slipway import b, c\n",
            f"{MU}/b.py": "def late():\n    from . import d\n    return d\n",
            f"{MU}/c.py": "import ansible.module_utils.slipway.e as e\nimport json\n",
            f"{MU}/d.py": "from .a import thing  # a cycle back to a\n",
            f"{MU}/e.py": "",
            f"{MU}/unused.py": "",
            f"{MU}/json.py": "",
        }
    )
    assert paths.closure(t, ["library/mod.py"]) == {f"{MU}/{n}.py" for n in "abcde"}


def test_flat_imports_only_on_the_agent_side_and_files_run_by_path():
    t = make(
        {
            "agent-run": """\
                #!/usr/bin/python3
                import agent_protocol as protocol
                LIB = "/usr/lib/x"
                def step():
                    import model_gateway
                    return [LIB + "/agent_steps.py"], model_gateway
                """,
            f"{MU}/agent_protocol.py": "",
            f"{MU}/model_gateway.py": "",
            f"{MU}/agent_steps.py": "import gitops\n",
            f"{MU}/gitops.py": "",
            f"{MU}/not_run.py": "",
        }
    )
    assert paths.closure(t, ["agent-run"]) == set()
    assert paths.closure(t, ["agent-run"], flat=True, by_path_force=["agent-run"]) == {
        f"{MU}/agent_protocol.py",
        f"{MU}/model_gateway.py",
        f"{MU}/agent_steps.py",
        f"{MU}/gitops.py",
    }


def test_spec_from_file_location_loads_the_named_file():
    source = """\
        import importlib.util
        from pathlib import Path
        _L = Path(__file__).parent.parent / "module_utils" / "slipway" / "lifecycle.py"
        _spec = importlib.util.spec_from_file_location("x", _L)
        """
    t = make(
        {"filter_plugins/f.py": source, f"{MU}/lifecycle.py": "from . import labels\n", f"{MU}/labels.py": ""}
    )
    assert paths.closure(t, ["filter_plugins/f.py"]) == {f"{MU}/lifecycle.py", f"{MU}/labels.py"}
    # Without the loader call a string naming a file is not an import.
    t = make({"filter_plugins/f.py": 'NOTE = "lifecycle.py"\n', f"{MU}/lifecycle.py": ""})
    assert paths.closure(t, ["filter_plugins/f.py"]) == set()


RELEASE_TREE = {
    "release.yml": "- name: r\n  ansible.builtin.import_playbook: playbooks/release.yml\n",
    "playbooks/release.yml": """\
        - name: Release.
          hosts: all
          roles:
            - role: rel
          tasks:
            - name: Other role.
              ansible.builtin.include_role:
                name: helper
        """,
    "roles/rel/defaults/main.yml": "rel_x: 1\n",
    "roles/rel/tasks/main.yml": """\
        - name: Block.
          block:
            - name: A.
              ansible.builtin.include_tasks: a.yml
          rescue:
            - name: B.
              ansible.builtin.import_tasks:
                file: b.yml
        """,
    "roles/rel/tasks/a.yml": """\
        - name: Lock.
          my_lock:
            path: /x
        - name: Config.
          ansible.builtin.template:
            src: conf.j2
            dest: /etc/conf
        - name: Copy templated.
          ansible.builtin.copy:
            src: "{{ somewhere }}/f"
            dest: /y
        """,
    "roles/rel/tasks/b.yml": "- name: Filter.\n  ansible.builtin.debug:\n    msg: \"{{ x | slipway_pick('fix') }}\"\n",
    "roles/rel/tasks/unreached.yml": "- name: U.\n  other_mod: {}\n",
    "roles/rel/templates/conf.j2": "x\n",
    "roles/rel/templates/unused.j2": "x\n",
    "roles/helper/tasks/main.yml": '- name: T.\n  ansible.builtin.include_tasks: "{{ kind }}.yml"\n',
    "roles/helper/tasks/one.yml": "- name: One.\n  ansible.builtin.debug: {}\n",
    "roles/helper/tasks/two.yml": "- name: Two.\n  ansible.builtin.debug: {}\n",
    "library/my_lock.py": "from ansible.module_utils.slipway.lock import take\n",
    "library/other_mod.py": "",
    f"{MU}/lock.py": "from ansible.module_utils.slipway import proc\n",
    f"{MU}/proc.py": "",
    "filter_plugins/life.py": "class FilterModule:\n    def filters(self):\n        return {'slipway_pick': pick}\n",
    "roles/slipway_forgejo_runner/files/release-tag": "#!/usr/bin/python3\n",
}


def test_playbook_walk_follows_imports_roles_and_task_includes():
    t = make(RELEASE_TREE)
    walk = paths.walk_playbook(t, "release.yml")
    assert walk.roles == ["rel", "helper"]
    assert walk.files == {
        "release.yml",
        "playbooks/release.yml",
        "roles/rel/defaults/main.yml",
        "roles/rel/tasks/main.yml",
        "roles/rel/tasks/a.yml",
        "roles/rel/tasks/b.yml",
        "roles/rel/templates/conf.j2",
        "roles/helper/tasks/main.yml",
        "roles/helper/tasks/one.yml",
        "roles/helper/tasks/two.yml",
    }
    assert any("templated include" in note and "helper" in note for note in walk.notes)


def test_tag_path_adds_modules_filters_and_their_closure():
    figure = paths.tag_path(make(RELEASE_TREE))
    assert "library/my_lock.py" in figure.files
    assert "library/other_mod.py" not in figure.files  # only called from an unreached task file
    assert {f"{MU}/lock.py", f"{MU}/proc.py", "filter_plugins/life.py"} <= set(figure.files)
    assert "roles/slipway_forgejo_runner/files/release-tag" in figure.files
    assert figure.count == 15  # 10 from the walk, the wrapper, a module, a filter, 2 module_utils


def issue_tree(workspace: bool) -> Tree:
    files = {
        "playbooks/watcher.yml": """\
            - name: Watch.
              hosts: localhost
              tasks:
                - name: List.
                  forgejo_issue_info: {}
                  register: listed
                - name: Lock.
                  slipway_lock: {}
                - name: Fix.
                  block:
                    - name: Fix each.
                      claude_fix: {}
                      loop: "{{ listed.issues | slipway_pick('fix') }}"
            """,
        "library/forgejo_issue_info.py": "from ansible.module_utils.slipway import forgejo\n",
        "library/claude_fix.py": "from ansible.module_utils.slipway import fixer\n",
        "library/slipway_lock.py": "from ansible.module_utils.slipway import lock\n",
        f"{MU}/forgejo.py": "",
        f"{MU}/fixer.py": "from ansible.module_utils.slipway import workspace\n" if workspace else "",
        f"{MU}/workspace.py": "",
        f"{MU}/lock.py": "",
        f"{MU}/lifecycle.py": "",
        f"{MU}/gitops.py": "",
        "filter_plugins/life.py": (
            "from ansible.module_utils.slipway import lifecycle\n"
            "class FilterModule:\n    def filters(self):\n        return {'slipway_pick': lifecycle.pick}\n"
        ),
        paths.AGENT_RUN: "import gitops\n",
    }
    return make(files)


def test_issue_path_adds_the_agent_side_only_when_workspace_is_on_it():
    without = paths.issue_path(issue_tree(workspace=False))
    assert without.files == sorted(
        [
            "playbooks/watcher.yml",
            "library/forgejo_issue_info.py",
            "library/claude_fix.py",
            "filter_plugins/life.py",
            f"{MU}/forgejo.py",
            f"{MU}/fixer.py",
            f"{MU}/lifecycle.py",
        ]
    )
    assert any("library/claude_triage.py does not exist" in note for note in without.notes)
    with_agent = paths.issue_path(issue_tree(workspace=True))
    assert set(with_agent.files) - set(without.files) == {
        f"{MU}/workspace.py",
        paths.AGENT_RUN,
        f"{MU}/gitops.py",
    }


def test_token_variables_reach_a_fixed_point_across_roles():
    t = make(
        {
            "roles/a/defaults/main.yml": "a_token: \"{{ slipway_forgejo_token | default('') }}\"\nunrelated: 1\n",
            "roles/b/defaults/main.yml": 'b_header: "token {{ a_token }}"\nb_other: "{{ unrelated }}"\n',
        }
    )
    assert paths.token_variables(t) == {"slipway_forgejo_token", "a_token", "b_header"}


def test_token_path_matches_code_not_comments_or_docstrings():
    t = make(
        {
            "inventories/prod/group_vars/all.yml": 'slipway_forgejo_token: "{{ vault_slipway_forgejo_token }}"\n',
            "inventories/prod/README.md": "slipway_forgejo_token\n",
            "roles/w/defaults/main.yml": 'w_token: "{{ slipway_forgejo_token }}"\n',
            "roles/w/templates/config.json.j2": '{"token": "{{ w_token }}"}\n',
            "roles/w/tasks/main.yml": "# w_token is only mentioned in a comment here\n- name: X.\n  ansible.builtin.debug: {}\n",
            "roles/w/meta/argument_specs.yml": "w_token: {}\n",
            f"{MU}/config.py": "def load_config(path):\n    return path\n",
            f"{MU}/client.py": "def auth(cfg):\n    return {'Authorization': 'token ' + cfg.token}\n",
            f"{MU}/git.py": "env = {'GIT_ASKPASS': '/x'}\n",
            f"{MU}/quiet.py": '"""Mentions GIT_ASKPASS and cfg.token in a docstring."""\n# cfg.token in a comment\nX = 1\n',
            "library/opt.py": "spec = dict(forgejo_token=dict(no_log=True))\nname = 'forgejo_token'\n",
            "scripts/tool": "#!/bin/sh\n# SLIPWAY_GIT_PASSWORD in a comment\necho hi\n",
            "roles/w/files/helper": "#!/bin/sh\nprintf '%s' \"$SLIPWAY_GIT_PASSWORD\"\n",
        }
    )
    figure = paths.token_path(t)
    assert figure.files == sorted(
        [
            "inventories/prod/group_vars/all.yml",
            "roles/w/defaults/main.yml",
            "roles/w/templates/config.json.j2",
            f"{MU}/config.py",
            f"{MU}/client.py",
            f"{MU}/git.py",
            "library/opt.py",
            "roles/w/files/helper",
        ]
    )


def test_git_tree_reads_a_revision_without_checking_it_out(tmp_path, capsys):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout

    git("init", "-q")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    (tmp_path / "library").mkdir()
    (tmp_path / "library/slipway_lock.py").write_text("from ansible.module_utils.slipway import lock\n")
    (tmp_path / "module_utils/slipway").mkdir(parents=True)
    (tmp_path / "module_utils/slipway/lock.py").write_text("from . import proc\n")
    (tmp_path / "module_utils/slipway/proc.py").write_text("")
    (tmp_path / "bin.dat").write_bytes(b"\x00\x01")
    git("add", "-A")
    git("commit", "-qm", "one")
    (tmp_path / "module_utils/slipway/lock.py").write_text("")
    git("commit", "-qam", "two")
    old = paths.GitTree("HEAD~1", str(tmp_path))
    assert old.read("module_utils/slipway/lock.py") == "from . import proc\n"
    assert old.read("bin.dat") is None and old.exists("bin.dat")
    result = paths.figures(old)
    assert result["module_utils_slipway_files"] == 2
    assert result["slipway_lock_closure"]["files"] == [
        "module_utils/slipway/lock.py",
        "module_utils/slipway/proc.py",
    ]
    assert paths.figures(paths.GitTree("HEAD", str(tmp_path)))["slipway_lock_closure"]["count"] == 1
    paths.render(result, "header")
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "header" and "summary:" in out
    assert json.loads(json.dumps(result))["paths"]["issue"]["count"] == 0
