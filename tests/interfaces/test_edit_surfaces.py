"""Edits on the surfaces: the installed CLI (a subprocess, answers piped in), %aiex / %%aiex edit in a real
IPython shell, and the review widget driven through its model."""

import json
import textwrap

import pytest

import aiex_kernel
from aiex_kernel.interfaces.cli import main

pytest.importorskip("ipywidgets")

CALC = textwrap.dedent('''
    import math


    def area(r):
        return 3.14 * r * r


    def perimeter(r):
        return 2 * 3.14 * r
    ''').lstrip()
TWO_BLOCKS = ("geo/calc.py\n<<<<<<< SEARCH\n    return 3.14 * r * r\n=======\n    return math.pi * r * r\n"
              ">>>>>>> REPLACE\n\ngeo/calc.py\n<<<<<<< SEARCH\n    return 2 * 3.14 * r\n=======\n"
              "    return 2 * math.pi * r\n>>>>>>> REPLACE\n")


@pytest.fixture
def project(tmp_path, monkeypatch, llm_server):
    root = tmp_path / "geo"
    (root / "geo").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'geo'\n")
    (root / "geo" / "calc.py").write_text(CALC)
    monkeypatch.chdir(root)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-edit-surfaces")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
    monkeypatch.setenv("AIEX_DEFAULT_MODEL", "openai:gpt-4o")
    llm_server.reply_text = TWO_BLOCKS
    return root


def test_the_cli_shows_the_diff_asks_and_applies_undoes_and_lists(project, cli):
    calc = project / "geo" / "calc.py"
    no = cli("edit", "geo/calc.py", "-p", "use math.pi", "--no-context", cwd=project, input="n\n")
    assert no.returncode == 0, no.stderr
    assert "-    return 3.14 * r * r\n+    return math.pi * r * r" in no.stdout
    assert "Apply edit" in no.stderr and "not applied" in no.stderr and calc.read_text() == CALC
    yes = cli("edit", "geo/calc.py", "-p", "use math.pi", "--no-context", cwd=project, input="y\n")
    assert yes.returncode == 0, yes.stderr
    assert "applied edit" in yes.stderr and calc.read_text().count("math.pi") == 2
    listed = json.loads(cli("list", "edits", "--json", cwd=project).stdout)["edits"]
    assert [e["status"] for e in listed] == ["applied", "proposed"]
    undone = cli("undo", "edit", cwd=project)
    assert undone.returncode == 0 and "restored geo/calc.py" in undone.stdout and calc.read_text() == CALC
    stale = listed[1]["edit"]  # the one not applied: still applicable, without asking the model
    applied = cli("apply", "edit", stale, "--yes", cwd=project)
    assert applied.returncode == 0, applied.stderr
    assert calc.read_text().count("math.pi") == 2
    again = cli("apply", "edit", stale, "--yes", cwd=project)
    assert again.returncode == 1 and "applied" in again.stderr


def test_the_cli_dry_run_json_and_instruction_from_a_pipe(project, cli, llm_server):
    calc = project / "geo" / "calc.py"
    dry = cli("edit", "geo/calc.py", "-p", "-", "--no-context", "--dry-run", "--json", cwd=project,
              input="use math.pi everywhere\n")
    assert dry.returncode == 0, dry.stderr
    data = json.loads(dry.stdout)["edits"][0]
    assert data["instruction"] == "use math.pi everywhere" and data["applied"] is False
    assert data["files"] == [{"path": "geo/calc.py", "kind": "modify", "added": 2, "removed": 2, "hunks": 1}]
    assert calc.read_text() == CALC
    assert "use math.pi everywhere" in llm_server.last["body"]["messages"][-1]["content"]
    shown = cli("show", "edit", data["edit"], cwd=project)
    assert "+    return 2 * math.pi * r" in shown.stdout
    missing = cli("edit", "geo/calc.py", cwd=project)
    assert missing.returncode == 2 and "Say what to change" in missing.stderr


def test_the_cli_test_command_failing_feeds_a_repair_round(project, cli, llm_server):
    (project / "check.py").write_text("import sys\nsys.path.insert(0, 'geo')\nimport calc\n"
                                      "assert 'math.pi * r * r' in open('geo/calc.py').read(), 'area'\n"
                                      "assert 'tau' in open('geo/calc.py').read(), 'perimeter should use tau'\n")
    llm_server.queue_replies(TWO_BLOCKS, "geo/calc.py\n<<<<<<< SEARCH\n    return 2 * math.pi * r\n=======\n"
                                         "    return math.tau * r\n>>>>>>> REPLACE\n")
    done = cli("edit", "geo/calc.py", "-p", "use math constants", "--no-context", "--yes", "--test",
               "python check.py", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "failed (exit 1); asking for a repair (1 of 2)" in done.stderr and "passed" in done.stderr
    assert "perimeter should use tau" in llm_server.last["body"]["messages"][-1]["content"]
    assert "math.tau * r" in (project / "geo" / "calc.py").read_text()


def test_edit_in_ipython_line_and_cell_magics(project, llm_server):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    aiex_kernel.load_ipython_extension(sh)
    calc = project / "geo" / "calc.py"
    try:
        r = sh.run_cell("%%aiex edit geo/calc.py --no-context --dry-run\nuse math.pi, it's the constant", store_history=True)
        assert r.error_in_exec is None, r.error_in_exec
        assert llm_server.last["body"]["messages"][-1]["content"].endswith("use math.pi, it's the constant")
        assert calc.read_text() == CALC
        r = sh.run_cell("%aiex edit geo/calc.py --no-context --yes -p don't keep 3.14", store_history=True)
        assert r.error_in_exec is None, r.error_in_exec
        assert llm_server.last["body"]["messages"][-1]["content"].endswith("don't keep 3.14")
        assert calc.read_text().count("math.pi") == 2
        r = sh.run_cell("%aiex undo edit", store_history=True)
        assert r.error_in_exec is None and calc.read_text() == CALC
        r = sh.run_cell("%%aiex edit\nno path", store_history=True)
        assert r.error_in_exec is not None and "PATH" in str(r.error_in_exec)
    finally:
        aiex_kernel.unload_ipython_extension(sh)


def test_the_review_widget_applies_chosen_hunks_per_file_and_undoes(project, llm_server):
    from aiex_kernel.config import load_settings
    from aiex_kernel.core.requests import ContextOptions, EditRequest
    from aiex_kernel.interfaces.notebook.edits import _Runner
    from aiex_kernel.runtime.edits import load_proposal
    from aiex_kernel.runtime.service import AssistantService

    calc = project / "geo" / "calc.py"
    long = CALC.replace("def perimeter", "\n\n".join(f"X{i} = {i}" for i in range(10)) + "\n\n\ndef perimeter")
    calc.write_text(long)
    service = AssistantService(lambda: load_settings(), origin="kernel")
    try:
        request = EditRequest("use math.pi", (str(calc),), context=ContextOptions(enabled=False))
        events = list(service.edit_sync(request))
        proposal = load_proposal(service, events[-1].edit)

        class Args:
            commit, yes, test = False, False, None

        class Surface:
            pass

        surface = Surface()
        surface.service = service
        runner = _Runner(surface, request, Args(), proposal)
        review = runner.review()
        assert len(review.toggles["geo/calc.py"]) == 2  # the two changes are far apart: two hunks
        assert review.apply_selected.description == "Apply selected (2 of 2)"
        review.toggles["geo/calc.py"][1].value = "Reject"
        assert review.apply_selected.description == "Apply selected (1 of 2)"
        review.set_file("geo/calc.py", False)
        assert review.apply_selected.disabled
        review.toggles["geo/calc.py"][0].value = "Apply"
        review.apply_selected.click()
        assert review.state == "applied", review.note.value
        text = calc.read_text()
        assert "math.pi * r * r" in text and "2 * 3.14 * r" in text  # only the chosen hunk
        assert all(t.disabled for t in review.toggles["geo/calc.py"]) and not review.undo_button.disabled
        review.undo_button.click()
        assert review.state == "undone" and calc.read_text() == long
        assert "restored geo/calc.py" in review.note.value
        html = "".join(getattr(c, "value", "") for c in review.view.children[:3])
        assert "aiex-diff" in html and "math.pi" in html
    finally:
        service.close()


def test_a_conflict_shows_in_the_widget_and_writes_nothing(project, llm_server):
    from aiex_kernel.config import load_settings
    from aiex_kernel.core.requests import ContextOptions, EditRequest
    from aiex_kernel.interfaces.widgets.edits import EditReview
    from aiex_kernel.runtime.edits import apply_edit, load_proposal
    from aiex_kernel.runtime.service import AssistantService

    calc = project / "geo" / "calc.py"
    service = AssistantService(lambda: load_settings(), origin="kernel")
    try:
        events = list(service.edit_sync(EditRequest("use math.pi", (str(calc),), context=ContextOptions(enabled=False))))
        proposal = load_proposal(service, events[-1].edit)
        review = EditReview(proposal, on_apply=lambda chosen: apply_edit(service, proposal.edit, chosen) and "ok")
        calc.write_text(CALC + "# changed meanwhile\n")
        review.apply_all.click()
        assert review.state == "review" and "EditConflict" in review.note.value
        assert calc.read_text().endswith("# changed meanwhile\n")
        review.reject_all.click()
        assert review.state == "rejected" and "nothing was written" in review.note.value
    finally:
        service.close()


def test_usage_errors_on_the_cli(project, capsys):
    assert main(["edit", "geo", "-p", "x"]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["undo", "edit", "nope"]) == 1
    assert "No edit 'nope'" in capsys.readouterr().err
