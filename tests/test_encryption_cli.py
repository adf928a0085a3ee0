"""The encryption commands through the real console script, with scripted editors and a leak sweep."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from configsvc.crypto import keys as master_keys
from configsvc.options import clean_environ
from tests.support.reference import VENV_BIN, run_cli

SECRET_VALUES = ["sentinel-key-1f2e", "sentinel-pass-9a8b", "sentinel-token-77aa", "sentinel-new-5c5c"]
PLAINTEXT = f"""\
port: 8080
secret_key: {SECRET_VALUES[0]}
admin_token: {SECRET_VALUES[2]}
celery:
  broker_url: amqp://app:{SECRET_VALUES[1]}@rabbit:5672//
"""


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path | str]:
    """A folder with a key file and a plaintext deployment file, and a private TMPDIR to watch."""
    folder = tmp_path / "deploy"
    folder.mkdir()
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    master_keys.write_new_key_file(folder / "master.key")
    config = folder / "api-config.yaml"
    config.write_text(PLAINTEXT)
    config.chmod(0o640)
    return {"folder": folder, "config": config, "tmp": temporary,
            "key": (folder / "master.key").read_text().strip()}


def cli(workspace: dict[str, Path | str], *args: str, stdin: str | None = None, **env: str):  # type: ignore[no-untyped-def]
    """The CLI from the workspace folder, for the reference app (FLASK_APP: its schema types the values)."""
    return run_cli(*args, env={"TMPDIR": str(workspace["tmp"]), "FLASK_APP": "app", **env},
                   cwd=Path(str(workspace["folder"])), stdin=stdin)


def assert_no_plaintext_left(workspace: dict[str, Path | str]) -> None:
    assert list(Path(str(workspace["tmp"])).iterdir()) == []
    names = sorted(p.name for p in Path(str(workspace["folder"])).iterdir())
    assert all(name in ("api-config.yaml", "master.key", "editor.sh", "count", "out.yaml")
               for name in names), names


def test_keygen(tmp_path: Path) -> None:
    done = run_cli("keygen")
    assert done.returncode == 0
    master_keys.parse(done.stdout, "stdout")
    out = tmp_path / "new.key"
    assert run_cli("keygen", "--out", str(out)).returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    before = out.read_text()
    again = run_cli("keygen", "--out", str(out))
    assert again.returncode == 1
    assert "already exists; a key file is never overwritten" in again.stderr
    assert out.read_text() == before


def test_encrypt_in_place_keeps_mode_and_resolves(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    done = cli(workspace, "encrypt", str(config))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    text = config.read_text()
    assert "configsvc_encryption:" in text
    assert all(secret not in text for secret in SECRET_VALUES)
    shown = cli(workspace, "show", "--json", FLASK_CONFIG=str(config))
    assert shown.returncode == 0, shown.stderr
    assert '"value": "***"' in shown.stdout
    assert all(secret not in shown.stdout for secret in SECRET_VALUES)
    again = cli(workspace, "encrypt", str(config))
    assert again.returncode == 1
    assert "already encrypted" in again.stderr


def test_encrypt_only_and_out(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    out = Path(str(workspace["folder"])) / "out.yaml"
    done = cli(workspace, "encrypt", str(config), "--only", "^secret_key$", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert config.read_text() == PLAINTEXT
    assert SECRET_VALUES[0] not in out.read_text()
    assert SECRET_VALUES[1] in out.read_text()  # not matched by --only
    bad = cli(workspace, "encrypt", str(config), "--only", "(")
    assert bad.returncode == 1
    assert "--only is not a valid regular expression" in bad.stderr


def test_decrypt_to_stdout_and_to_a_private_file(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    done = cli(workspace, "decrypt", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout == PLAINTEXT
    out = Path(str(workspace["folder"])) / "out.yaml"
    out.write_text("old")
    out.chmod(0o644)
    assert cli(workspace, "decrypt", str(config), "-o", str(out)).returncode == 0
    assert out.read_text() == PLAINTEXT
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    plain = cli(workspace, "decrypt", str(out))
    assert plain.returncode == 1 and "the file is not encrypted" in plain.stderr


def test_set_reads_a_password_from_stdin(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config), "--only", "secret")
    done = cli(workspace, "set", str(config), "celery.broker_url", "-", stdin=f"amqp://app:{SECRET_VALUES[3]}@r//\n")
    assert done.returncode == 0, done.stderr
    assert SECRET_VALUES[3] not in config.read_text()  # encrypted, although --only did not match it
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    shown = cli(workspace, "show", "--json", "--reveal", FLASK_CONFIG=str(config))
    assert f'"value": "amqp://app:{SECRET_VALUES[3]}@r//"' in shown.stdout
    nested = cli(workspace, "set", str(config), "Celery.Result_Backend", "redis://x/0")
    assert nested.returncode == 0
    assert "  Result_Backend: ENC[" in config.read_text()  # a new key is written as given ...
    assert "Celery:" not in config.read_text()  # ... under the existing spelling of celery
    before = config.read_bytes()
    into_scalar = cli(workspace, "set", str(config), "port.inner", "1")  # port is an int, not a mapping
    assert into_scalar.returncode == 1 and "port: expected an integer" in into_scalar.stderr
    assert config.read_bytes() == before
    into_text = cli(workspace, "set", str(config), "feature.level", "1")
    assert into_text.returncode == 0
    nested_in_text = cli(workspace, "set", str(config), "feature.level.inner", "1")
    assert nested_in_text.returncode == 1 and "feature.level holds a single value" in nested_in_text.stderr


def test_set_on_a_plaintext_file_beside_a_master_key(workspace: dict[str, Path | str]) -> None:
    """It used to write a file the next start refuses ("not encrypted, but a master key is configured")."""
    config = Path(str(workspace["config"]))
    before = config.read_bytes()
    refused = cli(workspace, "set", str(config), "port", "9090")  # a master.key lies beside it
    assert refused.returncode == 1 and config.read_bytes() == before
    assert "the file is not encrypted, but a master key is configured" in refused.stderr
    assert "Encrypt it first (configsvc encrypt PATH)" in refused.stderr and "unchanged" in refused.stderr
    assert cli(workspace, "set", str(config), "port", "9090", CONFIGSVC_ALLOW_PLAINTEXT="1").returncode == 0
    assert "port: 9090" in config.read_text()  # written as YAML reads it
    done = cli(workspace, "check", FLASK_CONFIG=str(config), CONFIGSVC_ALLOW_PLAINTEXT="1")
    assert done.returncode == 0


def test_rotate_key(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    new = master_keys.generate()
    old = str(workspace["key"])
    assert cli(workspace, "rotate-key", str(config), CONFIGSVC_KEY=f"{new},{old}").returncode == 0
    assert cli(workspace, "check", FLASK_CONFIG=str(config), CONFIGSVC_KEY=new).returncode == 0
    refused = cli(workspace, "check", FLASK_CONFIG=str(config), CONFIGSVC_KEY=old)
    assert refused.returncode == 1 and "wrong master key" in refused.stderr
    assert cli(workspace, "rotate-key", "--data-key", str(config), CONFIGSVC_KEY=new).returncode == 0
    assert cli(workspace, "decrypt", str(config), CONFIGSVC_KEY=new).stdout == PLAINTEXT


def write_editor(workspace: dict[str, Path | str], script: str) -> str:
    editor = Path(str(workspace["folder"])) / "editor.sh"
    editor.write_text("#!/bin/sh\nset -e\n" + script)
    return f"sh {editor}"


def test_edit_good(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    editor = write_editor(workspace, "grep -q 'secret_key: sentinel-key-1f2e' \"$1\"\n"
                                     "sed -i 's/port: 8080/port: 9191/' \"$1\"\n")
    done = cli(workspace, "edit", str(config), EDITOR=editor)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted" in done.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert "port: ENC[" in config.read_text()
    assert cli(workspace, "decrypt", str(config)).stdout == PLAINTEXT.replace("8080", "9191")
    assert_no_plaintext_left(workspace)


def test_edit_broken_and_not_reopened(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    before = config.read_text()
    editor = write_editor(workspace, "printf 'port: [unclosed\\n' > \"$1\"\n")
    done = cli(workspace, "edit", str(config), EDITOR=editor, stdin="n\n")
    assert done.returncode == 1
    assert "error: line 2: invalid YAML" in done.stderr
    assert "the edit was not saved" in done.stderr
    assert config.read_text() == before
    assert_no_plaintext_left(workspace)


def test_edit_broken_then_fixed_after_reopening(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    count = Path(str(workspace["folder"])) / "count"
    editor = write_editor(workspace, (
        f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n+1)) > {count}\n"
        "if [ \"$n\" = 0 ]; then sed -i 's/port: 8080/port: eighty/' \"$1\"; "
        "else sed -i 's/port: eighty/port: 8181/' \"$1\"; fi\n"))
    done = cli(workspace, "edit", str(config), EDITOR=editor, stdin="y\n")
    assert done.returncode == 0, done.stderr
    assert "port: expected an integer" in done.stderr
    assert count.read_text().strip() == "2"
    assert "port: 8181" in cli(workspace, "decrypt", str(config)).stdout
    assert_no_plaintext_left(workspace)


@pytest.mark.parametrize(("script", "code", "message"), [
    ("exit 3\n", 1, "the editor exited with status 3"),
    # If the signal were not handled, the editor would end after 5 s with nothing changed: exit 0.
    ("kill -INT $PPID; exec sleep 5 >/dev/null 2>&1\n", 130, "interrupted"),
    ("kill -TERM $PPID; exec sleep 5 >/dev/null 2>&1\n", 130, "interrupted"),
    ("kill -HUP $PPID; exec sleep 5 >/dev/null 2>&1\n", 130, "interrupted"),
])
def test_edit_aborted(workspace: dict[str, Path | str], script: str, code: int, message: str) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    before = config.read_text()
    done = cli(workspace, "edit", str(config), EDITOR=write_editor(workspace, script))
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert config.read_text() == before
    assert_no_plaintext_left(workspace)


def test_edit_interrupted_when_started_with_sigint_ignored(workspace: dict[str, Path | str]) -> None:
    """A background job starts with SIGINT ignored; the edit command takes the signal itself."""
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    before = config.read_text()
    editor = write_editor(workspace, "kill -INT $PPID; exec sleep 5 >/dev/null 2>&1\n")
    done = subprocess.run(
        ["sh", "-c", f"trap '' INT; exec {VENV_BIN / 'configsvc'} edit {config}"],
        env={**clean_environ(), "EDITOR": editor, "TMPDIR": str(workspace["tmp"])},
        cwd=Path(str(workspace["folder"])), capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr
    assert config.read_text() == before
    assert_no_plaintext_left(workspace)


def test_edit_without_changes_writes_nothing(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    before = config.read_text()
    done = cli(workspace, "edit", str(config), EDITOR=write_editor(workspace, "true\n"))
    assert done.returncode == 0
    assert "no changes" in done.stderr
    assert config.read_text() == before


def test_leak_sweep(workspace: dict[str, Path | str]) -> None:
    """Every command and every error path: no planted secret and no key material in any output."""
    config = Path(str(workspace["config"]))
    key = str(workspace["key"])
    outputs = []

    def run(*args: str, stdin: str | None = None, **env: str) -> None:
        done = cli(workspace, *args, stdin=stdin, **env)
        outputs.append(done.stdout + done.stderr)

    run("encrypt", str(config))
    run("show", FLASK_CONFIG=str(config))
    run("show", "--json", FLASK_CONFIG=str(config))
    run("check", FLASK_CONFIG=str(config))
    for name in ("secret_key", "admin_token", "celery.broker_url", "celery", "port"):
        run("explain", name, FLASK_CONFIG=str(config))
    run("set", str(config), "admin_token", "-", stdin=SECRET_VALUES[3])
    run("rotate-key", str(config))
    run("rotate-key", "--data-key", str(config))
    run("edit", str(config), EDITOR=write_editor(workspace, "sed -i 's/port: 8080/port: [x/' \"$1\"\n"),
        stdin="n\n")
    wrong = master_keys.generate()
    run("check", FLASK_CONFIG=str(config), CONFIGSVC_KEY=wrong)
    run("decrypt", str(config), CONFIGSVC_KEY=wrong)
    run("check", FLASK_CONFIG=str(config), CONFIGSVC_KEY=key + "x")
    run("check", FLASK_CONFIG=str(config), CONFIGSVC_KEY="")
    tampered = config.read_text().replace("mac: ", "mac: 0")
    (Path(str(workspace["folder"])) / "out.yaml").write_text(tampered)
    run("check", FLASK_CONFIG=str(Path(str(workspace["folder"])) / "out.yaml"))
    os.chmod(Path(str(workspace["folder"])) / "master.key", 0o644)
    run("check", FLASK_CONFIG=str(config))
    text = "\n".join(outputs)
    for secret in [*SECRET_VALUES, key, key.split(":")[1], wrong.split(":")[1]]:
        assert secret not in text
    assert "Traceback" not in text
    assert text.count("error: ") >= 6


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_writes_keep_the_owner(workspace: dict[str, Path | str]) -> None:
    config = Path(str(workspace["config"]))
    cli(workspace, "encrypt", str(config))
    os.chown(config, 65534, 65534)
    assert cli(workspace, "set", str(config), "port", "9000").returncode == 0
    assert (config.stat().st_uid, config.stat().st_gid) == (65534, 65534)
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
