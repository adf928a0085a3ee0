"""Encryption at rest: round trips, every kind of tampering refused, master keys."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configsvc import DecryptError, FileError, Secret
from configsvc.crypto import keys as master_keys
from configsvc.crypto.document import METADATA_KEY, open_document, seal
from configsvc.formats import dump_json, dump_yaml, parse_json, parse_yaml
from tests.support.reference import resolve

KEY = master_keys.generate()
OTHER_KEY = master_keys.generate()
PLAINTEXT = """\
port: 8080
secret_key: 0123
admin_token: tok-abc
celery:
  broker_url: amqp://app:pw@rabbit:5672//
  result_backend: redis://:rpw@localhost:6379/0
  accept_content: [json, yaml]
  task_acks_late: yes
  result_expires: 3600.5
  task_default_queue: null
"""


def encrypted_text(text: str = PLAINTEXT, key: str = KEY, only: str | None = None) -> str:
    return dump_yaml(seal(parse_yaml(text).data, master_keys.parse(key, "test"), only=only))


def open_text(text: str, key: str = KEY) -> dict[str, Any]:
    return open_document(parse_yaml(text).data, [master_keys.parse(key, "test")], "f.yaml", False).tree


def resolve_file(tmp_path: Path, text: str, name: str = "api-config.yaml", **environ: str) -> Any:
    path = tmp_path / name
    path.write_text(text)
    return resolve({"FLASK_CONFIG": str(path), "CONFIGSVC_KEY": KEY, **environ}, instance_path=tmp_path)


# --- round trips -------------------------------------------------------------------------------

def test_encrypted_file_resolves_exactly_like_its_plaintext(tmp_path: Path) -> None:
    plain = resolve_file(tmp_path, PLAINTEXT, CONFIGSVC_ALLOW_PLAINTEXT="1")  # the same file in plaintext
    encrypted = resolve_file(tmp_path, encrypted_text())
    assert encrypted.as_dict(reveal_secrets=True) == plain.as_dict(reveal_secrets=True)
    assert encrypted.reveal("secret_key") == "0123"
    assert encrypted.reveal("port") == 8080
    assert encrypted.reveal("celery.task_acks_late") is True
    assert encrypted.reveal("celery.result_expires") == 3600.5


def test_every_encrypted_value_is_secret(tmp_path: Path) -> None:
    config = resolve_file(tmp_path, encrypted_text())
    assert isinstance(config["port"], Secret)
    assert isinstance(config["celery.accept_content"], Secret)
    assert config.as_dict()["celery"]["broker_url"] == "amqp://app:***@rabbit:5672//"
    assert config.as_dict()["celery"]["accept_content"] == "***"


def test_only_encrypts_matching_keys(tmp_path: Path) -> None:
    text = encrypted_text(only=r"secret|password|broker_url")
    assert "port: 8080" in text
    assert re.search(r"secret_key: ENC\[", text)
    assert re.search(r"broker_url: ENC\[", text)
    assert "result_backend: redis://" in text  # not matched: left as written
    config = resolve_file(tmp_path, text)
    assert config["port"] == 8080 and not isinstance(config["port"], Secret)
    assert config.reveal("celery.broker_url") == "amqp://app:pw@rabbit:5672//"


def test_json_round_trip(tmp_path: Path) -> None:
    text = '{"port": 8080, "secret_key": 1e3, "debug": true, "celery": {"accept_content": ["json"]}}'
    document = seal(parse_json(text).data, master_keys.parse(KEY, "t"))
    config = resolve_file(tmp_path, dump_json(document), name="api-config.json")
    assert config.reveal("secret_key") == "1e3"
    assert config.reveal("port") == 8080
    assert config.reveal("debug") is True


keys_ = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))),
)
trees = st.dictionaries(keys_, st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(keys_, inner, max_size=4)), max_leaves=12),
    min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, json_format=st.booleans())
def test_round_trip_any_tree(tree: dict[str, Any], json_format: bool) -> None:
    import json

    import yaml

    text = json.dumps(tree) if json_format else yaml.safe_dump(tree)
    parsed = (parse_json if json_format else parse_yaml)(text).data
    document = seal(parsed, master_keys.parse(KEY, "t"))
    stored = (dump_json if json_format else dump_yaml)(document)
    reparsed = (parse_json if json_format else parse_yaml)(stored).data
    opened = open_document(reparsed, [master_keys.parse(KEY, "t")], "f", json_format)
    assert opened.tree == parsed


# --- tampering ---------------------------------------------------------------------------------

def _value(text: str, key: str) -> str:
    match = re.search(rf"^(\s*){re.escape(key)}: (ENC\[[^\]]+\])$", text, re.M)
    assert match, key
    return match.group(2)


def _replace_value(text: str, key: str, new: str) -> str:
    return re.sub(rf"^(\s*{re.escape(key)}): .*$", lambda m: f"{m.group(1)}: {new}", text, count=1,
                  flags=re.M)


def _flip_a_byte(token: str) -> str:
    data = re.search(r"data:([^,]+)", token).group(1)  # type: ignore[union-attr]
    flipped = ("B" if data[0] != "B" else "C") + data[1:]
    return token.replace(f"data:{data}", f"data:{flipped}")


def test_a_changed_byte_is_refused() -> None:
    text = encrypted_text()
    tampered = _replace_value(text, "broker_url", _flip_a_byte(_value(text, "broker_url")))
    with pytest.raises(DecryptError, match=r"f.yaml: celery.broker_url: a value fails authentication"):
        open_text(tampered)


def test_values_swapped_between_keys_are_refused() -> None:
    text = encrypted_text()
    a, b = _value(text, "secret_key"), _value(text, "admin_token")
    tampered = _replace_value(_replace_value(text, "secret_key", b), "admin_token", a)
    with pytest.raises(DecryptError) as caught:
        open_text(tampered)
    assert {p.key for p in caught.value.problems} == {"secret_key", "admin_token"}


def test_a_value_moved_to_another_key_is_refused() -> None:
    text = encrypted_text("a: one\nb: two\n")
    tampered = _replace_value(text, "b", _value(text, "a"))
    with pytest.raises(DecryptError, match=r"b: a value fails authentication: .*moved here"):
        open_text(tampered)


def test_reordered_list_items_are_refused() -> None:
    text = encrypted_text("hosts: [one, two]\n")
    items = re.findall(r"^- (ENC\[[^\]]+\])$", text, re.M)
    tampered = text.replace(items[0], "@@").replace(items[1], items[0]).replace("@@", items[1])
    with pytest.raises(DecryptError, match="hosts: a value fails authentication"):
        open_text(tampered)


def test_a_removed_value_is_refused() -> None:
    text = encrypted_text()
    tampered = re.sub(r"^admin_token: .*\n", "", text, flags=re.M)
    with pytest.raises(DecryptError, match="fails its integrity check"):
        open_text(tampered)


@pytest.mark.parametrize("added", ["extra: plain\n", "debug: true\n"])
def test_an_added_value_is_refused(added: str) -> None:
    with pytest.raises(DecryptError, match="fails its integrity check"):
        open_text(added + encrypted_text())


def test_an_added_encrypted_value_from_another_file_is_refused() -> None:
    other = encrypted_text("extra: x\n")
    with pytest.raises(DecryptError, match="extra: a value fails authentication"):
        open_text(f"extra: {_value(other, 'extra')}\n" + encrypted_text())


def test_a_value_from_a_file_with_another_data_key_is_refused() -> None:
    text, other = encrypted_text(), encrypted_text()  # same key, same plaintext, new data key
    tampered = _replace_value(text, "broker_url", _value(other, "broker_url"))
    with pytest.raises(DecryptError, match=r"celery\.broker_url: a value fails authentication"):
        open_text(tampered)


def test_rollback_of_one_value_is_refused(deployment_file, tmp_path: Path) -> None:
    from configsvc.commands.file_ops import set_value

    path = deployment_file(encrypted_text())
    old = path.read_text()
    set_value(path, {"CONFIGSVC_KEY": KEY}, "admin_token", "tok-new")
    new = path.read_text()
    assert open_text(new)["admin_token"] == "tok-new"
    rolled_back = _replace_value(new, "admin_token", _value(old, "admin_token"))
    with pytest.raises(DecryptError, match="replaced by an older one"):
        open_text(rolled_back)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: re.sub(r"mac: (\w)", lambda m: "mac: " + ("0" if m.group(1) != "0" else "1"), t),
     "fails its integrity check"),
    (lambda t: re.sub(r"mac: (\w)", "mac: \u00e9", t), "fails its integrity check"),  # found by the fuzzer
    (lambda t: t.replace("version: 1", "version: 2"), "unsupported encryption format version"),
    (lambda t: t.replace("only: null", "only: port"), "fails its integrity check"),
    # \S, not \w: base64 may start with + or / (the test then changed nothing, 1 run in 32)
    (lambda t: re.sub(r"wrapped: (\S)", lambda m: "wrapped: " + ("A" if m.group(1) != "A" else "B"), t),
     "wrapped data key for master key .* is damaged or was altered"),
    # the id may be quoted: a key id of decimal digits only is written '0123...' (1 run in about 1,900)
    (lambda t: re.sub(r"- id: '?\w+'?", "- id: abcdefabcdefabcd", t), "wrong master key"),
    (lambda t: t.replace("  keys:", "  keyz:"), f"the {METADATA_KEY} block is damaged"),
    (lambda t: t.split(METADATA_KEY)[0] + f"{METADATA_KEY}: nothing\n", "block is damaged"),
])
def test_a_changed_metadata_block_is_refused(change: Any, message: str) -> None:
    original = encrypted_text()
    tampered = change(original)
    assert tampered != original
    with pytest.raises(DecryptError, match=message):
        open_text(tampered)


def test_malformed_token_is_refused() -> None:
    text = encrypted_text("a: one\n")
    with pytest.raises(DecryptError, match="a: an encrypted value is malformed"):
        open_text(text.replace("type:str]", "type:blob]"))


# --- keys --------------------------------------------------------------------------------------

def test_key_from_a_key_file_beside_the_deployment_file(deployment_file, tmp_path: Path) -> None:
    master_keys.write_new_key_file(tmp_path / "master.key")
    key = (tmp_path / "master.key").read_text().strip()
    path = deployment_file(encrypted_text(key=key))
    config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config.reveal("admin_token") == "tok-abc"


def test_key_file_named_by_variable(deployment_file, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    key_file = tmp_path / "keys" / "prod.key"
    master_keys.write_new_key_file(key_file)
    path = deployment_file(encrypted_text(key=key_file.read_text().strip()))
    config = resolve({"FLASK_CONFIG": str(path), "CONFIGSVC_KEY_FILE": str(key_file)}, instance_path=tmp_path)
    assert config.reveal("port") == 8080


ME, ROOT, SOMEONE = os.geteuid(), 0, 4242


@pytest.mark.parametrize(("owner", "mode", "accepted"), [
    (ME, 0o600, True), (ME, 0o400, True),                          # the owner only
    (ROOT, 0o640, True), (ROOT, 0o440, True),                      # root-owned, one group reads (fsGroup)
    (ROOT, 0o600, True),
    (ME, 0o604, False), (ME, 0o644, False), (ME, 0o602, False), (ME, 0o606, False),
    (ROOT, 0o660, False), (ROOT, 0o650, False), (ROOT, 0o644, False), (ROOT, 0o604, False),
    (SOMEONE, 0o600, False), (SOMEONE, 0o640, False),              # another user's file
    (ME, 0o640, ME == ROOT), (ME, 0o620, False),
])
def test_key_file_modes(owner: int, mode: int, accepted: bool) -> None:
    status = os.stat_result((0o100000 | mode, 1, 1, 1, owner, 0, 60, 0, 0, 0))
    path = Path("/etc/app/master.key")
    if accepted:
        master_keys.check_key_file_status(path, status, "key file")
        return
    message = (rf"the key file has mode {mode:04o} and owner uid {owner}: it must be readable by its "
               r"owner only \(chmod 600 /etc/app/master.key\), or owned by root and readable by one group")
    with pytest.raises(DecryptError, match=message):
        master_keys.check_key_file_status(path, status, "key file")


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o602])
def test_a_key_file_open_to_others_is_refused_when_read(deployment_file, tmp_path: Path, mode: int) -> None:
    master_keys.write_new_key_file(tmp_path / "master.key")
    (tmp_path / "master.key").chmod(mode)
    path = deployment_file(encrypted_text())
    with pytest.raises(DecryptError, match=rf"master.key: the key file has mode {mode:04o}"):
        resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_key_file_that_is_not_a_small_regular_file_is_refused(
        deployment_file, tmp_path: Path, kind: str) -> None:
    key = tmp_path / "master.key"
    if kind == "fifo":
        os.mkfifo(key, 0o600)  # would block a plain open() forever
    elif kind == "device":
        key.symlink_to("/dev/zero")  # would be read until memory runs out
    else:
        key.write_bytes(b"#" * (master_keys.MAX_KEY_FILE_BYTES + 1))
        key.chmod(0o600)
    path = deployment_file(encrypted_text())
    message = {"fifo": "not a regular file (a FIFO)", "device": "not a regular file (a device)",
               "huge": "over the 65536 byte limit for a key file"}[kind]
    with pytest.raises(DecryptError, match=re.escape(message)):
        resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)


def test_missing_key(deployment_file, tmp_path: Path) -> None:
    path = deployment_file(encrypted_text())
    with pytest.raises(DecryptError, match=r"no master key: CONFIGSVC_KEY is not set and there is no "
                                           rf"key file at {tmp_path}/master.key"):
        resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)


def test_wrong_key(tmp_path: Path) -> None:
    with pytest.raises(DecryptError, match="wrong master key: the file opens with key id"):
        resolve_file(tmp_path, encrypted_text(), CONFIGSVC_KEY=OTHER_KEY)


@pytest.mark.parametrize(("value", "message"), [
    ("", "the 1st key in CONFIGSVC_KEY is empty"),
    ("  ", "the 1st key in CONFIGSVC_KEY is empty"),
    ("hunter2", "the 1st key in CONFIGSVC_KEY is not a configsvc key"),
    (f"{KEY},configsvc1:short", "the 2nd key in CONFIGSVC_KEY is malformed"),
    ("configsvc1:!!!!", "malformed"),
    (f"{KEY},", "the 2nd key in CONFIGSVC_KEY is empty"),
], ids=["empty", "blank", "not-a-key", "second-malformed", "malformed", "second-empty"])
def test_bad_keys(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(DecryptError, match=message) as caught:
        resolve_file(tmp_path, encrypted_text(), CONFIGSVC_KEY=value)
    assert KEY.split(":")[1] not in str(caught.value)


def test_any_key_in_the_list_decrypts(tmp_path: Path) -> None:
    config = resolve_file(tmp_path, encrypted_text(), CONFIGSVC_KEY=f"{OTHER_KEY},{KEY}")
    assert config.reveal("port") == 8080


def test_rotation_new_key_alone_opens_and_old_key_alone_does_not(deployment_file, tmp_path: Path) -> None:
    from configsvc.commands.file_ops import rotate_file

    path = deployment_file(encrypted_text(key=KEY))
    rotate_file(path, {"CONFIGSVC_KEY": f"{OTHER_KEY},{KEY}"}, new_data_key=False)
    assert resolve_file(tmp_path, path.read_text(), CONFIGSVC_KEY=OTHER_KEY).reveal("port") == 8080
    with pytest.raises(DecryptError, match="wrong master key"):
        resolve_file(tmp_path, path.read_text(), CONFIGSVC_KEY=KEY)


def test_rotating_the_data_key_re_encrypts_every_value(deployment_file, tmp_path: Path) -> None:
    from configsvc.commands.file_ops import rotate_file

    path = deployment_file(encrypted_text(only="secret|token"))
    before = path.read_text()
    rotate_file(path, {"CONFIGSVC_KEY": KEY}, new_data_key=True)
    after = path.read_text()
    assert _value(before, "secret_key") != _value(after, "secret_key")
    assert re.search(r"wrapped: (\S+)", before).group(1) != re.search(r"wrapped: (\S+)", after).group(1)  # type: ignore[union-attr]
    assert "port: 8080" in after  # what was plaintext stays plaintext
    assert open_text(after)["secret_key"] == open_text(before)["secret_key"]


def test_key_material_never_in_reprs() -> None:
    key = master_keys.parse(KEY, "CONFIGSVC_KEY")
    assert KEY.split(":")[1] not in repr(key)
    assert key.id in repr(key)


def test_a_file_cut_before_its_metadata_is_refused(deployment_file, tmp_path: Path) -> None:
    text = encrypted_text()
    cut = text[: text.index(METADATA_KEY)]  # half-written: the tokens are there, the metadata is not
    with pytest.raises(DecryptError, match="the file is not encrypted, but a master key is configured"):
        resolve_file(tmp_path, cut)  # with a key: no plaintext, half-written or not
    before_first_value = text[: text.index("ENC[")].rsplit("\n", 1)[0] + "\n"
    with pytest.raises(DecryptError, match="a master key is configured"):
        resolve_file(tmp_path, before_first_value)  # cut before the first ENC[: plain YAML, still refused
    deployment_file(cut)
    with pytest.raises(DecryptError) as caught:  # no key anywhere: the tokens still give it away
        resolve({"FLASK_CONFIG": str(tmp_path / "api-config.yaml")}, instance_path=tmp_path)
    assert "no configsvc_encryption block" in str(caught.value)
    assert caught.value.key is not None and "ENC[" not in str(caught.value)


@pytest.mark.parametrize("where", ["CONFIGSVC_KEY", "CONFIGSVC_KEY_FILE", "master.key"])
def test_a_plaintext_file_is_refused_when_a_key_is_configured(
        deployment_file, tmp_path: Path, where: str) -> None:
    """The downgrade: someone who can write the file but has no key replaces it with plaintext."""
    path = deployment_file("secret_key: chosen-by-an-attacker\nadmin_token: also-chosen\n")
    master_keys.write_new_key_file(tmp_path / "master.key")
    environ = {"FLASK_CONFIG": str(path)}
    if where == "CONFIGSVC_KEY":
        environ["CONFIGSVC_KEY"] = KEY
        (tmp_path / "master.key").unlink()
    elif where == "CONFIGSVC_KEY_FILE":
        (tmp_path / "master.key").rename(tmp_path / "elsewhere.key")
        environ["CONFIGSVC_KEY_FILE"] = str(tmp_path / "elsewhere.key")
    named = where if where != "master.key" else re.escape(str(tmp_path))
    with pytest.raises(DecryptError, match=rf"the file is not encrypted, but a master key is configured "
                                           rf"\({named}"):
        resolve(environ, instance_path=tmp_path)
    allowed = resolve({**environ, "CONFIGSVC_ALLOW_PLAINTEXT": "1"}, instance_path=tmp_path)
    assert allowed.reveal("secret_key") == "chosen-by-an-attacker"  # only when the deployment says so


def test_an_alias_bomb_inside_an_encrypted_file_is_refused_before_it_expands(tmp_path: Path) -> None:
    """Depth 7 used to take 3 GB and a minute inside decryption, holding the reloader's lock."""
    import time

    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 8)]
    metadata = encrypted_text().split(METADATA_KEY, 1)[1]
    started = time.monotonic()
    with pytest.raises(FileError, match="expands to more than 100000 values"):
        resolve_file(tmp_path, "\n".join(lines) + f"\n{METADATA_KEY}{metadata}")
    assert time.monotonic() - started < 2
