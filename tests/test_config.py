from pathlib import Path

import pytest

from aiex_kernel.config import data_dir, find_project_root, load_settings
from aiex_kernel.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(isolated_env):
    s = load_settings()
    assert s.max_file_bytes == 1024 * 1024
    assert s.dashboard is False
    assert s.scheduler is None
    assert s.data_dir == isolated_env / "data"


def test_precedence_flags_env_project_user(tmp_path, monkeypatch, isolated_env):
    project = tmp_path / "proj"
    write(isolated_env / "config" / "config.toml", "max_file_bytes = 10\nworkers = 3\nthreads_per_worker = 2\n")
    write(project / ".aiex" / "config.toml", "max_file_bytes = 20\nworkers = 4\n")
    s = load_settings(project)
    assert (s.max_file_bytes, s.workers, s.threads_per_worker) == (20, 4, 2)  # project over user
    monkeypatch.setenv("AIEX_MAX_FILE_BYTES", "30")
    assert load_settings(project).max_file_bytes == 30  # env over project
    assert load_settings(project, max_file_bytes=40).max_file_bytes == 40  # flag over env
    assert load_settings(project, max_file_bytes=None).max_file_bytes == 30  # None = flag not given
    assert load_settings(None).workers == 3  # no project: user file only


def test_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AIEX_DATA_DIR", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    assert load_settings().data_dir == tmp_path / "d"


def test_invalid_value_names_setting(monkeypatch):
    monkeypatch.setenv("AIEX_WORKERS", "many")
    with pytest.raises(ConfigError, match=r"setting workers in AIEX_WORKERS: Expected `int \| null`, got `str`"):
        load_settings()


@pytest.mark.parametrize(("text", "expected"), [("0", "Expected `int` >= 1"), ("2.5", "Expected `int`")])
def test_out_of_range_value_names_setting_and_bound(isolated_env, text, expected):
    path = write(isolated_env / "config" / "config.toml", f"threads_per_worker = {text}\n")
    with pytest.raises(ConfigError, match="threads_per_worker") as info:
        load_settings()
    assert str(path) in str(info.value) and expected in str(info.value) and "\n" not in str(info.value)


def test_lax_conversions(monkeypatch, tmp_path):
    for word, value in [("yes", True), ("off", False), ("TRUE", True), ("0", False)]:
        monkeypatch.setenv("AIEX_DASHBOARD", word)
        assert load_settings().dashboard is value
    monkeypatch.setenv("AIEX_DASHBOARD", "maybe")
    with pytest.raises(ConfigError, match="dashboard in AIEX_DASHBOARD"):
        load_settings()
    monkeypatch.delenv("AIEX_DASHBOARD")
    monkeypatch.setenv("AIEX_CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("AIEX_DATA_DIR", str(tmp_path))
    s = load_settings(workers="3", prices={"m": [1, 2]})
    assert (s.connect_timeout, s.workers, s.data_dir, s.prices) == (2.5, 3, tmp_path, {"m": (1.0, 2.0)})
    monkeypatch.setenv("AIEX_CONNECT_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="connect_timeout in AIEX_CONNECT_TIMEOUT: Expected `float` > 0"):
        load_settings()


def test_invalid_toml_names_file(isolated_env):
    bad = write(isolated_env / "config" / "config.toml", "max_file_bytes = = 3\n")
    with pytest.raises(ConfigError, match=str(bad).replace("\\", "\\\\")):
        load_settings()


def test_unknown_key_is_refused(isolated_env):
    path = write(isolated_env / "config" / "config.toml", "max_file_byte = 3\n")
    with pytest.raises(ConfigError, match="max_file_byte") as info:
        load_settings()
    assert str(path) in str(info.value)
    path.unlink()
    with pytest.raises(ConfigError, match="setting bogus in the command flags"):
        load_settings(bogus=1)


def test_tables_merge_key_by_key_and_a_bad_entry_names_its_key_and_file(tmp_path, isolated_env):
    project = tmp_path / "proj"
    write(isolated_env / "config" / "config.toml",
          '[endpoints.mine]\nbase_url = "http://h/v1"\n[concurrency]\nopenai = 2\n[aliases]\nfast = "a:b"\n')
    write(project / ".aiex" / "config.toml", '[endpoints.mine]\nkey_env = "MINE_KEY"\n[aliases]\nslow = "c:d"\n')
    s = load_settings(project, concurrency={"default": 3})
    assert (s.endpoints["mine"].base_url, s.endpoints["mine"].key_env) == ("http://h/v1", "MINE_KEY")
    assert s.aliases == {"fast": "a:b", "slow": "c:d"} and s.concurrency == {"openai": 2, "default": 3}
    bad = write(project / ".aiex" / "config.toml", '[concurrency]\nollama = 0\n')
    with pytest.raises(ConfigError, match="concurrency.ollama in ") as info:
        load_settings(project)
    assert str(bad) in str(info.value) and "Expected `int` >= 1" in str(info.value)
    write(project / ".aiex" / "config.toml", '[endpoints.other]\nkey_env = "K"\n')
    with pytest.raises(ConfigError, match="endpoints.other in .*missing required field `base_url`"):
        load_settings(project)


def test_reserved_alias_and_bad_json_are_refused(monkeypatch):
    monkeypatch.setenv("AIEX_ALIASES", '{"preferred": "ollama:x"}')
    with pytest.raises(ConfigError, match="aliases.preferred in AIEX_ALIASES: 'preferred' is reserved"):
        load_settings()
    monkeypatch.setenv("AIEX_ALIASES", "{fast")
    with pytest.raises(ConfigError, match="aliases in AIEX_ALIASES: not valid JSON"):
        load_settings()


def test_list_setting_from_env(monkeypatch):
    monkeypatch.setenv("AIEX_ALLOW_SECRETS", '[".env"]')
    assert load_settings().allow_secrets == [".env"]


@pytest.mark.parametrize("marker", [".git", "pyproject.toml", ".aiex"])
def test_root_is_nearest_marked_ancestor(tmp_path, marker):
    top = tmp_path / "top"
    deep = top / "a" / "b"
    deep.mkdir(parents=True)
    m = top / marker
    m.mkdir() if marker != "pyproject.toml" else m.write_text("")
    f = deep / "x.py"
    f.write_text("")
    assert find_project_root(path=f) == top.resolve()
    assert find_project_root(path=deep) == top.resolve()


def test_root_flag_wins_and_must_exist(tmp_path):
    (tmp_path / ".git").mkdir()
    sub = tmp_path / "sub"
    sub.mkdir()
    assert find_project_root(path=tmp_path, root=sub) == sub.resolve()
    with pytest.raises(ConfigError, match="not a directory"):
        find_project_root(root=tmp_path / "missing")


def test_root_falls_back_to_path_then_cwd(tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    f = plain / "m.py"
    f.write_text("")
    # tmp dirs have no markers above them (pytest's tmp root is not a project)
    assert find_project_root(path=f) == plain.resolve()
    assert find_project_root(path=plain) == plain.resolve()
    monkeypatch.chdir(plain)
    assert find_project_root() == plain.resolve()
