"""The %aiex / %%aiex magics on a real (bare) IPython shell, against the loopback LLM server."""

import subprocess
import sys
import textwrap

import pytest
from IPython.core.error import UsageError as IPythonUsageError

import aiex_kernel
from aiex_kernel.errors import ProviderError
from aiex_kernel.interfaces.notebook.display import AiexResult


@pytest.fixture
def shell(llm_server, monkeypatch, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)  # in no project: no project context unless a test asks for it
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-magics")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
    sh = InteractiveShell.instance()
    sh.user_ns.pop("Err", None)
    aiex_kernel.load_ipython_extension(sh)
    yield sh
    aiex_kernel.unload_ipython_extension(sh)
    sh.rl_next_input = None


def run(sh, cell):
    result = sh.run_cell(cell, store_history=True)
    return result


def last_prompt(server) -> str:
    return server.last["body"]["messages"][-1]["content"]


def test_loading_is_idempotent_and_light():
    code = textwrap.dedent("""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        import aiex_kernel
        sh = InteractiveShell.instance()
        aiex_kernel.load_ipython_extension(sh)
        first = sh.magics_manager.registry["AiexMagics"]
        aiex_kernel.load_ipython_extension(sh)
        assert sh.magics_manager.registry["AiexMagics"] is first
        assert "aiex" in sh.magics_manager.magics["line"] and "aiex" in sh.magics_manager.magics["cell"]
        heavy = [m for m in ("dask", "distributed", "tree_sitter", "pydantic", "openai", "anthropic", "ollama")
                 if m in sys.modules]
        print(",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cell_magic_answers_and_binds_the_result(shell, llm_server, capsys):
    llm_server.reply_text = "A *dict* maps keys to values."
    r = run(shell, "%%aiex -o answer\nWhat is a dict?")
    assert r.error_in_exec is None
    assert isinstance(r.result, AiexResult) and r.result.text == llm_server.reply_text
    assert shell.user_ns["answer"] is r.result is shell.user_ns["_aiex"]
    assert r.result.model_id == "openai:gpt-4o-mini" and r.result.cost_usd > 0
    assert r.result._repr_mimebundle_()["text/markdown"] == llm_server.reply_text
    out = capsys.readouterr().out
    assert "aiex: using openai:gpt-4o-mini (OPENAI_API_KEY is set)" in out
    assert llm_server.reply_text in out  # streamed to stdout in a terminal shell
    assert llm_server.last["body"]["stream"] is True


def test_interpolation_is_safe_with_code(shell, llm_server):
    n = shell.execution_count
    run(shell, "name = 'Ada'\nitems = [1, 2]")
    cell = "%%aiex\nHi {name}, {items[1]}, {missing}, {{name}}, d = {'k': {name}}, {'k': 1} f'{x:>{w}}' {In[N]}"
    cell = cell.replace("N", str(n))
    run(shell, cell)
    # a placeholder touching another brace ({{name}}, {name}}) counts as escaped
    expected = "Hi Ada, 2, {missing}, {{name}}, d = {'k': {name}}, {'k': 1} f'{x:>{w}}' name = 'Ada'\nitems = [1, 2]"
    assert last_prompt(llm_server) == expected
    run(shell, "%%aiex --no-interpolate\nkeep {name}")
    assert last_prompt(llm_server) == "keep {name}"


def test_out_and_err_placeholders(shell, llm_server):
    n_out = shell.execution_count
    run(shell, "40 + 2")
    n_err = shell.execution_count
    run(shell, "int('x')")
    run(shell, f"%%aiex\nvalue {{Out[{n_out}]}} error {{Err[{n_err}]}}")
    prompt = last_prompt(llm_server)
    assert prompt.startswith("value 42 error Traceback")
    assert "ValueError: invalid literal for int() with base 10: 'x'" in prompt


def test_formats_and_code_goes_to_the_next_cell(shell, llm_server):
    llm_server.reply_text = "```python\ndef add(a, b):\n    return a + b\n```"
    r = run(shell, "%%aiex -f code\nan add function")
    assert "Reply with only code" in llm_server.last["body"]["messages"][0]["content"]
    assert shell.rl_next_input == "def add(a, b):\n    return a + b"
    assert r.result.format == "code"
    llm_server.reply_text = "<b>hi</b>"
    r = run(shell, "%%aiex -f html --no-stream\nbold hi")
    assert r.result._repr_mimebundle_()["text/html"] == "<b>hi</b>"


def test_memory_keeps_the_last_exchanges_and_reset_forgets(shell, llm_server):
    magics = shell.magics_manager.registry["AiexMagics"]
    magics.max_history = 2
    for i in range(3):
        run(shell, f"%%aiex\nquestion {i}")
    messages = llm_server.last["body"]["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users == ["question 0", "question 1", "question 2"]
    run(shell, "%%aiex\nquestion 3")
    users = [m["content"] for m in llm_server.last["body"]["messages"] if m["role"] == "user"]
    assert users == ["question 1", "question 2", "question 3"]
    run(shell, "%aiex reset")
    run(shell, "%%aiex\nfresh")
    assert [m["role"] for m in llm_server.last["body"]["messages"]] == ["system", "user"]


def test_cells_adds_recent_history(shell, llm_server):
    run(shell, "a = 1")
    run(shell, "a + 41")
    run(shell, "undefined_name")
    run(shell, "%%aiex --cells 2\nwhat happened?")
    prompt = last_prompt(llm_server)
    assert "a = 1" not in prompt
    assert "a + 41" in prompt and "Out[" in prompt and ": 42" in prompt
    assert "undefined_name" in prompt and "NameError" in prompt
    assert prompt.endswith("what happened?")


def test_line_ask_takes_the_raw_line_and_no_memory(shell, llm_server):
    run(shell, "%%aiex\nremember me")
    r = run(shell, "%aiex ask what's this?")
    assert r.error_in_exec is None
    assert last_prompt(llm_server) == "what's this?"
    assert [m["role"] for m in llm_server.last["body"]["messages"]] == ["system", "user"]
    run(shell, '%aiex ask -m openai:gpt-4o "quoted" words')
    assert llm_server.last["body"]["model"] == "gpt-4o"
    assert last_prompt(llm_server) == '"quoted" words'


def test_explain_a_live_object(shell, llm_server):
    run(shell, "def area(r: float) -> float:\n    'Area of a circle.'\n    return 3.14159 * r * r\n")
    run(shell, "%aiex explain area")
    prompt = last_prompt(llm_server)
    assert "`area`" in prompt and "Signature: (r: float) -> float" in prompt
    assert "Area of a circle." in prompt
    run(shell, "data = list(range(1000))")
    run(shell, "%aiex explain data")
    prompt = last_prompt(llm_server)
    assert "Type: list" in prompt and "len: 1000" in prompt and "..." in prompt
    r = run(shell, "%aiex explain no_such_thing")
    assert isinstance(r.error_in_exec, IPythonUsageError) and "Cannot evaluate" in str(r.error_in_exec)


def test_fix_the_last_exception(shell, llm_server):
    r = run(shell, "%aiex fix")
    if r.error_in_exec is not None:  # nothing failed yet in this shell
        assert "No exception to fix" in str(r.error_in_exec)
    run(shell, "def half(x):\n    return x / 0\nhalf(4)")
    run(shell, "%aiex fix")
    prompt = last_prompt(llm_server)
    assert "ZeroDivisionError" in prompt and "return x / 0" in prompt and "half(4)" in prompt


def test_insert_puts_the_last_code_in_a_new_cell(shell, llm_server):
    llm_server.reply_text = "Try:\n```python\nprint(1)\n```\nand\n```python\nprint(2)\n```"
    run(shell, "%%aiex\ntwo prints")
    run(shell, "%aiex insert")
    assert shell.rl_next_input == "print(1)\nprint(2)"


def test_aliases_for_the_session(shell, llm_server):
    run(shell, "%aiex alias big openai:gpt-4o")
    run(shell, "%%aiex big\nhello")
    assert llm_server.last["body"]["model"] == "gpt-4o"
    run(shell, "%aiex dealias big")
    r = run(shell, "%%aiex big\nhello")
    assert isinstance(r.error_in_exec, IPythonUsageError) and "names no provider" in str(r.error_in_exec)
    r = run(shell, "%aiex dealias big")
    assert isinstance(r.error_in_exec, IPythonUsageError)


def test_provider_errors_are_exceptions_you_can_catch(shell, llm_server):
    llm_server.fail_next(500)
    r = run(shell, "%%aiex\nhello")
    assert isinstance(r.error_in_exec, ProviderError) and "answered 500" in str(r.error_in_exec)
    llm_server.fail_next(500)
    r = run(shell, "try:\n    get_ipython().run_cell_magic('aiex', '', 'hi')\n"
                   "except aiex_kernel.ProviderError as e:\n    caught = str(e)")
    shell.user_ns["aiex_kernel"] = aiex_kernel
    llm_server.fail_next(500)
    run(shell, "try:\n    get_ipython().run_cell_magic('aiex', '', 'hi')\n"
               "except aiex_kernel.ProviderError as e:\n    caught = str(e)")
    assert "answered 500" in shell.user_ns["caught"]


def test_bad_usage_is_a_usage_error_and_sends_nothing(shell, llm_server):
    for cell in ("%%aiex -f nope\nhi", "%%aiex --cells -1\nhi", "%%aiex\n   ", "%aiex bogus", "%aiex ask",
                 "%aiex alias onlyname", "%%aiex -o 1x\nhi", "%aiex analyze"):
        r = run(shell, cell)
        assert isinstance(r.error_in_exec, IPythonUsageError), cell
    assert llm_server.requests == []


def test_cli_commands_through_the_registry(shell, llm_server, capsys, tmp_path):
    run(shell, "%aiex version")
    assert "aiex " + aiex_kernel.__version__ in capsys.readouterr().out
    r = run(shell, "%aiex list models --json")
    assert r.result["default"]["model"] == "openai:gpt-4o-mini"
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    r = run(shell, f"%aiex analyze code --path {tmp_path} --json")
    assert r.result["totals"]["files"] == 1
    run(shell, "%aiex help")
    out = capsys.readouterr().out
    assert "%aiex explain" in out and "analyze" in out


def test_traitlets_and_config_toml_configure_the_magics(isolated_env, tmp_path):
    """ipython_config.py (traitlets) and config.toml both reach AiexMagics, through the real `ipython`."""
    profile = isolated_env / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_config.py").write_text(
        "c.AiexMagics.default_model = 'ollama:llama3.2'\nc.AiexMagics.aliases = {'fast': 'openai:gpt-4o-mini'}\n")
    (isolated_env / "config").mkdir()
    (isolated_env / "config" / "config.toml").write_text("max_history = 9\ncells_budget = 500\n")
    code = ("%load_ext aiex_kernel\n"
            "m = get_ipython().magics_manager.registry['AiexMagics']\n"
            "s = m.surface.settings()\n"
            "print('RESULT', m.default_model, m.aliases, s.max_history, s.cells_budget)\n")
    script = tmp_path / "probe.ipy"
    script.write_text(code)
    out = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", str(script)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT"))
    assert line == "RESULT ollama:llama3.2 {'fast': 'openai:gpt-4o-mini'} 9 500", out.stderr


def test_standalone_questions_leave_memory_alone(shell, llm_server):
    run(shell, "%%aiex\nfirst")
    run(shell, "%aiex ask standalone")
    run(shell, "%aiex explain len")
    run(shell, "%%aiex\nsecond")
    users = [m["content"] for m in llm_server.last["body"]["messages"] if m["role"] == "user"]
    assert users == ["first", "second"]


def test_option_mistakes_never_send(shell, llm_server):
    for cell in ("%aiex ask --max-tokens 0 --dry-run hi", "%aiex ask --bogus hi", "%%aiex --max-tokens 0\nhi",
                 "%%aiex -o In\nhi", "%aiex alias openai local", "%aiex alias x x"):
        r = run(shell, cell)
        assert isinstance(r.error_in_exec, IPythonUsageError), cell
    assert llm_server.requests == []
    r = run(shell, "%aiex ask --max-tokens 5 --dry-run hi")
    assert r.result["max_tokens"] == 5 and llm_server.requests == []


def test_broken_str_and_raw_history(shell, llm_server):
    run(shell, "class Bad:\n    def __str__(self):\n        raise RuntimeError('boom')\nb = Bad()")
    n = shell.execution_count
    run(shell, "x = 1  # typed like this")
    r = run(shell, f"%%aiex --dry-run\nvalue {{b}} and cell {{In[{n}]}}")
    content = r.result["messages"][-1]["content"]
    assert "<" in content and "Bad object" in content and "x = 1  # typed like this" in content


def test_fix_ignores_aiex_usage_errors_and_handles_syntax_errors(shell, llm_server):
    shell.magics_manager.registry["AiexMagics"].errors.last = None
    run(shell, "%aiex explain nothing_here")
    r = run(shell, "%aiex fix --dry-run")
    if not isinstance(r.error_in_exec, IPythonUsageError):  # an earlier real error of this shell may remain
        assert "UsageError" not in r.result["messages"][-1]["content"]
    run(shell, "def f(:\n    pass")
    r = run(shell, "%aiex fix --dry-run")
    content = r.result["messages"][-1]["content"]
    assert "def f(:" in content and "SyntaxError" in content and "interactiveshell" not in content


def test_insert_needs_code(shell, llm_server):
    llm_server.reply_text = "Just prose, no code."
    run(shell, "%%aiex\nsay something")
    r = run(shell, "%aiex insert")
    assert isinstance(r.error_in_exec, IPythonUsageError) and "no code block" in str(r.error_in_exec)
    shell.rl_next_input = None
    run(shell, "%%aiex -f code\nsay something")
    assert shell.rl_next_input is None


def test_explain_a_class_typed_in_a_cell(shell, llm_server):
    run(shell, "class Invoice:\n    '''A bill.'''\n    def __init__(self, total):\n        self.total = total * 1.2\n")
    run(shell, "inv = Invoice(10)")
    r = run(shell, "%aiex explain --dry-run inv")
    content = r.result["messages"][-1]["content"]
    assert "class Invoice:" in content and "self.total = total * 1.2" in content


def test_stats_in_a_notebook_come_with_a_figure(shell, llm_server, monkeypatch, capsys):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    run(shell, "%%aiex\nfirst question")
    r = run(shell, "%aiex show stats --by model")
    assert r.error_in_exec is None
    out = capsys.readouterr().out
    assert "openai:gpt-4o-mini" in out and "requests" in out
    from matplotlib.figure import Figure

    figure = next(o for o in shown if isinstance(o, Figure))
    assert [ax.get_title() for ax in figure.axes] == ["cost per day (USD)", "latency per model (s)"]
    data = run(shell, "%aiex show stats --json").result
    assert data["rows"][0]["key"] == "openai:gpt-4o-mini" and data["rows"][0]["requests"] >= 1
