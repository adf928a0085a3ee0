"""How the file commands write (hardening round 3): through symlinks, one writer at a time, and a disk that
is full — each through the real console script."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from configsvc.options import clean_environ
from tests.support.reference import VENV_BIN, run_cli


def test_set_through_a_symlink_replaces_the_target_and_keeps_the_link(deployment_file) -> None:
    target = deployment_file({"port": 8080, "secret_key": "s"}, name="real/api-config.yaml", mode=0o640)
    link = target.parent.parent / "api-config.yaml"
    link.symlink_to(target)
    done = run_cli("set", str(link), "admin_token", "token-two")
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.resolve() == target  # the link is still a link, to the same file
    assert yaml.safe_load(target.read_text())["admin_token"] == "token-two"  # and the target has the change
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["api-config.yaml"]  # nothing left beside it
    done = run_cli("set", str(link), "admin_token", "token-three")  # again: the link leads to the change
    assert done.returncode == 0 and yaml.safe_load(link.read_text())["admin_token"] == "token-three"


def test_set_through_a_kubelet_style_chain_of_links(deployment_file) -> None:
    """``api-config.yaml -> ..data/api-config.yaml``, ``..data -> ..2026_12_02``: the file in the
    versioned folder is replaced and both links stay."""
    target = deployment_file({"port": 8080}, name="..2026_12_02/api-config.yaml")
    folder = target.parent.parent
    (folder / "..data").symlink_to("..2026_12_02")
    (folder / "api-config.yaml").symlink_to("..data/api-config.yaml")
    assert run_cli("set", str(folder / "api-config.yaml"), "admin_token", "token-two").returncode == 0
    assert (folder / "..data").is_symlink() and (folder / "api-config.yaml").is_symlink()
    assert yaml.safe_load(target.read_text())["admin_token"] == "token-two"


@pytest.mark.parametrize("encrypted", [False, True])
def test_concurrent_sets_keep_every_key(tmp_path: Path, deployment_file, encrypted: bool) -> None:
    """Twelve ``configsvc set`` at once, each a key of its own: all twelve are in the file (9 of 12 were
    kept without the lock)."""
    path = deployment_file({"port": 8080, "secret_key": "s"})
    env = {}
    if encrypted:
        assert run_cli("keygen", "--out", str(tmp_path / "master.key")).returncode == 0
        assert run_cli("encrypt", str(path)).returncode == 0
        env = {"CONFIGSVC_KEY_FILE": str(tmp_path / "master.key")}
    with ThreadPoolExecutor(max_workers=12) as pool:
        done = list(pool.map(lambda n: run_cli("set", str(path), f"feature.key{n}", f"value-{n}", env=env),
                             range(12)))
    assert all(result.returncode == 0 for result in done), [r.stderr for r in done if r.returncode]
    shown = run_cli("decrypt", str(path), env=env).stdout if encrypted else path.read_text()
    assert yaml.safe_load(shown)["feature"] == {f"key{n}": f"value-{n}" for n in range(12)}


def test_set_waits_for_an_edit_session_and_is_not_overwritten_by_it(tmp_path: Path, deployment_file) -> None:
    """An ``edit`` holds the file while its editor is open; a ``set`` meanwhile waits, then applies on
    top of the saved edit (before: the edit's save dropped the set's key)."""
    path = deployment_file({"port": 8080, "secret_key": "s"})
    assert run_cli("keygen", "--out", str(tmp_path / "master.key")).returncode == 0
    assert run_cli("encrypt", str(path)).returncode == 0
    opened, release = tmp_path / "editor-opened", tmp_path / "editor-may-save"
    editor = deployment_file(f"#!/bin/sh\ntouch {opened}\nwhile [ ! -e {release} ]; do sleep 0.05; done\n"
                      "sed -i 's/^port: 8080$/port: 8081/' \"$1\"\n", name="editor.sh")
    editor.chmod(0o755)
    env = {**clean_environ(), "EDITOR": str(editor), "CONFIGSVC_KEY_FILE": str(tmp_path / "master.key")}
    output = tmp_path / "edit.out"
    with open(output, "wb") as out:
        edit = subprocess.Popen([str(VENV_BIN / "configsvc"), "edit", str(path)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not opened.exists():
            assert time.monotonic() < deadline and edit.poll() is None, output.read_text()
            time.sleep(0.05)
        results: list[subprocess.CompletedProcess[str]] = []
        setter = threading.Thread(target=lambda: results.append(
            run_cli("set", str(path), "admin_token", "set-during-the-edit", env=env)))
        setter.start()
        time.sleep(1.0)
        assert setter.is_alive()  # waiting for the edit
        release.touch()
        assert edit.wait(timeout=30) == 0, output.read_text()
        setter.join(timeout=60)
    finally:
        if edit.poll() is None:
            edit.kill()
            edit.wait()
    assert results[0].returncode == 0, results[0].stderr
    opened_text = yaml.safe_load(run_cli("decrypt", str(path), env=env).stdout)
    assert opened_text["port"] == 8081 and opened_text["admin_token"] == "set-during-the-edit"


def _can_mount() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs root (unshare -m) to mount a small tmpfs")
def test_set_on_a_full_disk_says_so_in_one_line_and_leaves_the_file(tmp_path: Path) -> None:
    """A 64 KiB tmpfs in a private mount namespace, filled up: ``set`` exits 1 with one line naming the
    file, no traceback; the file is intact and no temporary file is left."""
    folder = tmp_path / "small"
    folder.mkdir()
    original = "port: 8080\nsecret_key: s\n"
    script = (
        f"mount -t tmpfs -o size=64k tmpfs {folder} && cd {folder} && "
        f"printf '{original}' > api-config.yaml && "
        "(dd if=/dev/zero of=filler bs=4k 2>/dev/null || true) && "
        f"{VENV_BIN}/configsvc set api-config.yaml feature.text {'x' * 8000}; echo \"exit=$?\"; "
        "cat api-config.yaml; ls -A"
    )
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env=clean_environ())
    assert "exit=1" in done.stdout, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: api-config.yaml: cannot be written (no space left on device); the file is unchanged"]
    listing = done.stdout.split("exit=1\n", 1)[1]
    assert listing.startswith(original)  # intact
    assert sorted(listing[len(original):].split()) == ["api-config.yaml", "filler"]
