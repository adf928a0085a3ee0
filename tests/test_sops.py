"""SOPS files, read natively and checked against the real sops: every file here is made by ``sops encrypt``,
and every verdict configsvc gives (the values it opens, or a refusal) is compared with ``sops decrypt``'s."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app import create_app
from configsvc import DecryptError, Secret
from tests.support.reference import resolve, run_cli
from tests.support.sops import AgeKey, SopsTool, configsvc_verdict, tagged

ALICE = AgeKey.generate()
BOB = AgeKey.generate()

EVERY_TYPE = """\
secret_key: s3cret-value-1
port: 8080
ratio: 0.75
tiny: 1.5e-10
debug: false
octal: 0123
octal_text: "0123"
yes_text: yes
created: 2024-01-02T03:04:05.12+02:00
empty: ""
nothing: null
multiline: |
  first line
  second line
celery:
  broker_url: amqp://app:broker-pw-1@rabbit:5672//
  accept_content: [json, msgpack]
  task_default_queue: null
service:
  nested:
    deeper:
      list_of_maps:
        - name: one
          weight: 1
        - name: two
          weight: 2.5
note_unencrypted: kept in the clear
"""


@pytest.fixture
def sops(tmp_path: Path) -> SopsTool:
    """The real sops, run in a folder of this test with a private HOME."""
    return SopsTool(tmp_path / "sops")


def identity_file(tmp_path: Path, *keys: AgeKey, name: str = "keys.txt", mode: int = 0o600) -> Path:
    path = tmp_path / "identities" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"# public key: {key.recipient}\n{key.identity}\n" for key in keys))
    path.chmod(mode)
    return path


def assert_same_verdict(sops: SopsTool, path: Path, *keys: AgeKey) -> bool:
    """configsvc and sops agree on ``path``: both refuse it, or both open it to the same values."""
    theirs, ours = sops.decrypt(path, *keys), configsvc_verdict(path, *keys)
    assert ours.opened == theirs.opened, (ours.message, theirs.message)
    if theirs.opened:
        assert tagged(ours.values) == tagged(theirs.values)
    return theirs.opened


# --- files made by sops resolve to what sops decrypt prints ----------------------------------------------


@pytest.mark.parametrize("name", ["api-config.yaml", "api-config.json"])
def test_a_sops_file_opens_to_exactly_what_sops_decrypt_prints(sops: SopsTool, name: str) -> None:
    text = EVERY_TYPE if name.endswith(".yaml") else json.dumps(yaml.safe_load(EVERY_TYPE), default=str)
    path = sops.encrypt(text, name, [ALICE])
    assert "s3cret-value-1" not in path.read_text()
    assert assert_same_verdict(sops, path, ALICE)


def test_a_sops_file_resolves_like_any_deployment_file_with_every_decrypted_value_secret(
        sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    config = resolve({"FLASK_CONFIG": str(path), "SOPS_AGE_KEY_FILE": str(identity_file(tmp_path, ALICE))},
                     instance_path=tmp_path)
    assert config.reveal("secret_key") == "s3cret-value-1"
    assert config.reveal("port") == 8080
    assert config.reveal("octal") == 83  # sops stores values by type (YAML 1.2): 0123 is octal 83
    assert config.reveal("octal_text") == "0123" and config.reveal("yes_text") == "yes"
    assert config.reveal("celery.broker_url") == "amqp://app:broker-pw-1@rabbit:5672//"
    assert config.reveal("celery.accept_content") == ["json", "msgpack"]
    assert isinstance(config["secret_key"], Secret) and isinstance(config["port"], Secret)
    assert config["note_unencrypted"] == "kept in the clear"  # sops left it in the clear: not secret
    assert config.explain("celery.broker_url").winner == "deployment file (SOPS)"
    shown = json.dumps(config.as_dict())
    assert "s3cret-value-1" not in shown and "broker-pw-1" not in shown
    assert path in config.watched_files


@pytest.mark.parametrize("selector", [
    ("--encrypted-regex", "^(secret_key|broker_url|list_of_maps)$"),
    ("--unencrypted-suffix", "_plain"),
    ("--encrypted-suffix", "_url"),
    ("--unencrypted-regex", "^(port|ratio|celery)$"),
])
def test_files_that_encrypt_only_some_values_verify_as_sops_verifies_them(
        sops: SopsTool, selector: tuple[str, str]) -> None:
    text = EVERY_TYPE + "password_plain: 0x1F\nstamp_plain: 2024-05-06\nflag_plain: TRUE\n"
    path = sops.encrypt(text, "api-config.yaml", [ALICE], *selector)
    assert assert_same_verdict(sops, path, ALICE)
    opened = configsvc_verdict(path, ALICE)
    assert opened.values["celery"]["broker_url"] == "amqp://app:broker-pw-1@rabbit:5672//"


def test_a_file_with_mac_only_encrypted_verifies(sops: SopsTool) -> None:
    rules = f"creation_rules:\n  - age: {ALICE.recipient}\n    mac_only_encrypted: true\n" \
            "    encrypted_regex: ^(secret_key|broker_url)$\n"
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [], config=rules)
    assert "mac_only_encrypted: true" in path.read_text()
    assert assert_same_verdict(sops, path, ALICE)
    # the MAC covers only the encrypted values: sops and configsvc both accept a changed clear value
    changed = path.read_text().replace("port: 8080", "port: 9090")
    path.write_text(changed)
    assert assert_same_verdict(sops, path, ALICE)
    assert configsvc_verdict(path, ALICE).values["port"] == 9090


def test_any_one_of_several_recipients_opens_the_file(sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE, BOB])
    for key in (ALICE, BOB):
        assert assert_same_verdict(sops, path, key)
    stranger = AgeKey.generate()
    assert not assert_same_verdict(sops, path, stranger, )  # neither opens it with a stranger's key
    assert assert_same_verdict(sops, path, stranger, BOB)  # one identity of several suffices


def test_identities_are_found_where_sops_finds_them(sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    home = tmp_path / "home"
    ALICE.write(home / ".config" / "sops" / "age" / "keys.txt")
    environments = [
        {"SOPS_AGE_KEY": ALICE.identity},
        {"SOPS_AGE_KEY": f"{BOB.identity},{ALICE.identity}"},  # several, comma-separated
        {"SOPS_AGE_KEY_FILE": str(identity_file(tmp_path, BOB, ALICE))},
        {"HOME": str(home)},  # ~/.config/sops/age/keys.txt
        {"XDG_CONFIG_HOME": str(home / ".config")},
    ]
    for environ in environments:
        config = resolve({"FLASK_CONFIG": str(path), **environ}, instance_path=tmp_path)
        assert config.reveal("secret_key") == "s3cret-value-1", environ


# --- tampering: refused exactly when sops refuses ----------------------------------------------------------


def _line(text: str, key: str) -> str:
    match = re.search(rf"^\s*{key}: .*$", text, re.MULTILINE)
    assert match is not None, key
    return match.group(0)


def _value(text: str, key: str) -> str:
    return _line(text, key).split(": ", 1)[1]


def _flip_data(enc: str) -> str:
    data = re.search(r"data:([^,]+)", enc)
    assert data is not None
    first = data.group(1)[0]
    return enc.replace(f"data:{first}", f"data:{'B' if first == 'A' else 'A'}", 1)


def _swap_lines(text: str, first: str, second: str) -> str:
    return text.replace(first, "\0").replace(second, first).replace("\0", second)


def _moved_secret_key(text: str) -> str:
    line = _line(text, "secret_key")
    return text.replace(line + "\n", "").replace("celery:\n", "celery:\n    " + line.strip() + "\n")


def _swapped_list_items(text: str) -> str:
    items = re.findall(r"^ +- ENC\[.*$", text, re.MULTILINE)
    return _swap_lines(text, items[0], items[1])


def _retyped_port(text: str) -> str:
    return text.replace(_value(text, "port"), _value(text, "port").replace("type:int", "type:str"))


TAMPERING: dict[str, Callable[[str], str]] = {
    "a value altered": lambda t: t.replace(_value(t, "secret_key"), _flip_data(_value(t, "secret_key"))),
    "a value removed": lambda t: t.replace(_line(t, "port") + "\n", ""),
    "a clear value altered": lambda t: t.replace("kept in the clear", "changed in the clear"),
    "an encrypted value added (copied from another key)": lambda t: t.replace(
        "celery:", f"extra: {_value(t, 'port')}\ncelery:"),
    "a clear value added": lambda t: t.replace("celery:", "extra_unencrypted: 1\ncelery:"),
    "a text value added where sops would have encrypted": lambda t: t.replace("celery:", "extra: x\ncelery:"),
    "an empty string added": lambda t: t.replace("celery:", 'extra: ""\ncelery:'),
    "a null added": lambda t: t.replace("celery:", "extra: null\ncelery:"),
    "two values swapped": lambda t: _swap_lines(t, _value(t, "secret_key"), _value(t, "broker_url")),
    "two list items swapped": _swapped_list_items,
    "two keys reordered": lambda t: _swap_lines(t, _line(t, "port"), _line(t, "ratio")),
    "a value moved under another key": _moved_secret_key,
    "a clear key renamed": lambda t: t.replace("note_unencrypted:", "memo_unencrypted:"),
    "an encrypted value's type tag changed": _retyped_port,
    "a comment added": lambda t: t.replace("celery:", "# a reviewer's note\ncelery:"),
    "the MAC altered": lambda t: t.replace(_value(t, "mac"), _flip_data(_value(t, "mac"))),
    "lastmodified altered": lambda t: re.sub(r"lastmodified: \"(\d{4})",
                                             lambda m: f'lastmodified: "{int(m[1]) - 1}', t),
    "mac_only_encrypted switched on": lambda t: t.replace("    mac:",
                                                          "    mac_only_encrypted: true\n    mac:"),
    "the unencrypted suffix changed": lambda t: t.replace("unencrypted_suffix: _unencrypted",
                                                          "unencrypted_suffix: _clear"),
}
# Where sops accepts a change (and so does configsvc, for it reads as sops reads): documented in the README.
ACCEPTED_BY_SOPS = {"an empty string added", "a null added", "a clear key renamed",
                    "an encrypted value's type tag changed", "a comment added"}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_refused_exactly_when_sops_refuses_it(sops: SopsTool, case: str) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    original = path.read_text()
    tampered = TAMPERING[case](original)
    assert tampered != original
    path.write_text(tampered)
    opened = assert_same_verdict(sops, path, ALICE)
    assert opened == (case in ACCEPTED_BY_SOPS)
    if not opened:
        message = configsvc_verdict(path, ALICE).message
        assert "s3cret-value-1" not in message and "broker-pw-1" not in message
        assert str(path) in message


def test_an_older_version_of_the_whole_file_still_opens_in_both(sops: SopsTool) -> None:
    """sops binds no version: a file rolled back to an earlier version verifies. So does it here."""
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    older = path.read_text()
    sops.set(path, (ALICE,), '["secret_key"]', "s3cret-value-2")
    path.write_text(older)
    assert assert_same_verdict(sops, path, ALICE)


# --- errors: clear, never a value or an identity -----------------------------------------------------------


def refusal(path: Path, environ: dict[str, str], tmp_path: Path) -> str:
    with pytest.raises(DecryptError) as caught:
        resolve({"FLASK_CONFIG": str(path), **environ}, instance_path=tmp_path)
    message = str(caught.value)
    assert str(path) in message or "SOPS_AGE_KEY" in message
    for secret in ("s3cret-value-1", "broker-pw-1", ALICE.identity, BOB.identity):
        assert secret not in message
    return message


def test_no_identity_says_where_it_looked(sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    message = refusal(path, {"HOME": str(tmp_path / "home")}, tmp_path)
    assert "no age identity found" in message
    assert "SOPS_AGE_KEY, SOPS_AGE_KEY_FILE" in message
    assert str(tmp_path / "home" / ".config" / "sops" / "age" / "keys.txt") in message
    assert not sops.decrypt(path).opened


def test_a_wrong_identity_names_the_recipients_not_the_key(sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    message = refusal(path, {"SOPS_AGE_KEY_FILE": str(identity_file(tmp_path, BOB))}, tmp_path)
    assert "none of the age identities" in message and ALICE.recipient in message
    assert not sops.decrypt(path, BOB).opened


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o660, 0o644])
def test_identity_files_follow_the_key_file_mode_rule(sops: SopsTool, tmp_path: Path, mode: int) -> None:
    """Owner-only, or owned by root and readable by one group (0640); sops itself accepts any mode."""
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    keys = identity_file(tmp_path, ALICE, mode=mode)
    accepted = mode in (0o600, 0o400) or (mode == 0o640 and keys.stat().st_uid == 0)
    environ = {"FLASK_CONFIG": str(path), "SOPS_AGE_KEY_FILE": str(keys)}
    if accepted:
        assert resolve(environ, instance_path=tmp_path).reveal("secret_key") == "s3cret-value-1"
    else:
        message = refusal(path, {"SOPS_AGE_KEY_FILE": str(keys)}, tmp_path)
        assert f"mode {mode:04o}" in message and f"chmod 600 {keys}" in message


@pytest.mark.parametrize(("identity", "expected"), [
    ("AGE-SECRET-KEY-PQ-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ", "post-quantum age identity"),
    ("not-an-identity-sentinel", "holds a line that is not an age identity"),
])
def test_identities_configsvc_cannot_use_are_named_not_shown(sops: SopsTool, tmp_path: Path, identity: str,
                                                             expected: str) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    message = refusal(path, {"SOPS_AGE_KEY": identity}, tmp_path)
    assert expected in message and "SOPS_AGE_KEY" in message and identity not in message


def test_shamir_key_groups_are_refused_with_the_way_out(sops: SopsTool, tmp_path: Path) -> None:
    rules = (f"creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{ALICE.recipient}]\n"
             f"      - age: [{BOB.recipient}]\n")
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [], config=rules)
    assert sops.decrypt(path, ALICE, BOB).opened  # sops combines the two shares
    message = refusal(path, {"SOPS_AGE_KEY": f"{ALICE.identity}\n{BOB.identity}"}, tmp_path)
    assert "key groups (Shamir secret sharing)" in message and "decrypt with sops" in message


def test_files_for_other_key_types_name_the_type(sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    document = yaml.safe_load(path.read_text())
    document["sops"]["pgp"] = [{"fp": "0" * 40, "created_at": "2026-01-01T00:00:00Z",
                                "enc": document["sops"].pop("age")[0]["enc"]}]
    path.write_text(yaml.safe_dump(document))
    message = refusal(path, {"SOPS_AGE_KEY": ALICE.identity}, tmp_path)
    assert "can be opened only with pgp keys" in message and "decrypt it with sops" in message


def test_comment_selectors_are_refused(sops: SopsTool, tmp_path: Path) -> None:
    rules = f"creation_rules:\n  - age: {ALICE.recipient}\n    encrypted_comment_regex: sops:enc\n"
    path = sops.encrypt("# sops:enc\nsecret_key: s3cret-value-1\nport: 8080\n", "api-config.yaml", [],
                        config=rules)
    message = refusal(path, {"SOPS_AGE_KEY": ALICE.identity}, tmp_path)
    assert "encrypted_comment_regex" in message


@pytest.mark.parametrize("damage", [
    lambda d: d["sops"].pop("mac"),
    lambda d: d["sops"].update(age="recipient"),
    lambda d: d["sops"].update(lastmodified="yesterday"),
])
def test_a_malformed_sops_block_is_refused(sops: SopsTool, tmp_path: Path,
                                          damage: Callable[[dict], object]) -> None:  # type: ignore[type-arg]
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    document = yaml.safe_load(path.read_text())
    damage(document)
    path.write_text(yaml.safe_dump(document))
    message = refusal(path, {"SOPS_AGE_KEY": ALICE.identity}, tmp_path)
    assert "sops block is malformed" in message or "cannot be read" in message
    assert not sops.decrypt(path, ALICE).opened


# --- the CLI: reads SOPS files, never writes them ----------------------------------------------------------


@pytest.mark.parametrize("command", [
    ("set", "secret_key", "new-value"),
    ("edit",),
    ("rotate-key",),
    ("rotate-key", "--data-key"),
    ("encrypt",),
])
def test_commands_that_write_refuse_a_sops_file_and_leave_it_unchanged(sops: SopsTool, tmp_path: Path,
                                                                      command: tuple[str, ...]) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    before = path.read_bytes()
    name, *rest = command
    done = run_cli(name, str(path), *rest, env={"SOPS_AGE_KEY": ALICE.identity, "EDITOR": "true"})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "this is a SOPS file" in done.stderr and "Use sops instead: sops " in done.stderr
    assert path.read_bytes() == before
    assert sops.decrypt(path, ALICE).opened


def test_show_explain_and_decrypt_read_a_sops_file(sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE, "api-config.yaml", [ALICE])
    env = {"FLASK_CONFIG": str(path), "SOPS_AGE_KEY": ALICE.identity}
    shown = run_cli("show", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "deployment file (SOPS)" in shown.stdout and "s3cret-value-1" not in shown.stdout
    explained = run_cli("explain", "celery.broker_url", env=env)
    assert "(from deployment file (SOPS))" in explained.stdout and "broker-pw-1" not in explained.stdout
    decrypted = run_cli("decrypt", str(path), env=env)
    assert decrypted.returncode == 0, decrypted.stderr
    assert tagged(yaml.safe_load(decrypted.stdout)) == tagged(sops.decrypt(path, ALICE).values)


# --- random documents, encrypted by the real sops, round-trip ----------------------------------------------

KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True).filter(lambda key: key != "sops")
# Text that one YAML reader or another types as something else (YAML 1.1 vs 1.2, Go's number forms).
LOOKALIKES = st.sampled_from(["0123", "0o17", "0x1F", "0b101", "1_000", "+12", ".5", "1e3", "-.inf", ".NaN",
                              "2024-01-02", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05", "yes", "No", "on",
                              "True", "FALSE", "~", "null", "Null", "", " ", "1:20", "0.", "-0", "=", "<<"])
SCALARS = (st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
           | LOOKALIKES
           | st.integers(-(2**53), 2**53) | st.booleans() | st.none()
           | st.floats(allow_nan=False, allow_infinity=False, width=64))
DOCUMENTS = st.dictionaries(
    KEYS | KEYS.map(lambda key: key + "_unencrypted"),
    st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(KEYS | KEYS.map(lambda key: key + "_unencrypted"), inner, max_size=3),
                 max_leaves=8),
    min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(document=DOCUMENTS, as_json=st.booleans())
def test_random_documents_encrypted_by_sops_round_trip(sops: SopsTool, document: dict, as_json: bool,
                                                       ) -> None:  # type: ignore[type-arg]
    name = "doc.json" if as_json else "doc.yaml"
    text = json.dumps(document) if as_json else yaml.safe_dump(document, allow_unicode=True)
    path = sops.encrypt(text, name, [ALICE])
    # Not "sops opens it": some files sops writes it cannot read back (see the README's quirks); what must
    # hold is that configsvc gives sops's verdict, and sops's values when it opens the file.
    opened = assert_same_verdict(sops, path, ALICE)
    event("sops opens the file it wrote" if opened else "sops refuses the file it wrote")


@pytest.mark.parametrize(("name", "sops_opens_it"), [("doc.yaml", False), ("doc.json", True)])
def test_an_unencrypted_negative_zero_gets_the_verdict_sops_gives(sops: SopsTool, name: str,
                                                                  sops_opens_it: bool) -> None:
    """Found by the random documents: sops 3.11 writes an unencrypted -0.0 in YAML as ``-0``, reads that
    back as the integer 0, and refuses the file it just wrote (MAC mismatch); in JSON it opens. configsvc
    gives sops's verdict in both; an encrypted -0.0 opens in both formats."""
    def document(values: str) -> str:
        return values if name.endswith(".yaml") else json.dumps(yaml.safe_load(values))

    unencrypted = sops.encrypt(document("a: -0.0\nz_unencrypted: -0.0\n"), name, [ALICE])
    assert assert_same_verdict(sops, unencrypted, ALICE) is sops_opens_it
    encrypted = sops.encrypt(document("a: -0.0\nz_unencrypted: 0.5\n"), "encrypted-" + name, [ALICE])
    assert assert_same_verdict(sops, encrypted, ALICE)


# --- live: a running service follows what sops writes ------------------------------------------------------


def test_the_identity_file_is_watched_and_a_refused_reload_keeps_the_last_good(sops: SopsTool,
                                                                               tmp_path: Path) -> None:
    path = sops.encrypt(EVERY_TYPE.replace("port: 8080", "port: 8080\nconfig_reload_interval: 0"),
                        "api-config.yaml", [ALICE])
    keys = identity_file(tmp_path, ALICE)
    app = create_app(environ={"FLASK_CONFIG": str(path), "SOPS_AGE_KEY_FILE": str(keys)})
    state = app.extensions["configsvc"]
    assert app.config["SECRET_KEY"] == "s3cret-value-1" and keys in state.config.watched_files
    assert not state.reload(force=False)  # nothing changed: nothing read
    identity_file(tmp_path, BOB)  # the identity file alone replaced, by one that cannot open the file
    assert not state.reload(force=False)  # read again (the file is watched) and refused
    assert state.state == "stale" and "none of the age identities" in str(state.problem)
    assert app.config["SECRET_KEY"] == "s3cret-value-1"  # the last good configuration stays
    identity_file(tmp_path, BOB, ALICE)
    state.reload(force=False)
    assert state.state == "ok" and state.problem is None
    rules = f"creation_rules:\n  - age: {BOB.recipient}\n"
    done = sops.run("--config", sops.config(rules), "updatekeys", "--yes", str(path), keys=(ALICE,))
    assert done.returncode == 0, done.stderr
    identity_file(tmp_path, BOB)  # ALICE retired: the file is now for BOB only
    state.reload(force=False)
    assert state.state == "ok" and state.problem is None  # the same values: nothing to apply
    done = sops.run("rotate", "--in-place", str(path), keys=(BOB,))  # a new data key
    assert done.returncode == 0, done.stderr
    state.reload(force=False)
    assert state.state == "ok" and state.problem is None
    before = state.fingerprint
    sops.set(path, (BOB,), '["secret_key"]', "s3cret-value-2")
    assert state.reload(force=False) and state.state == "ok"
    assert app.config["SECRET_KEY"] == "s3cret-value-2" and state.fingerprint != before


def test_a_sops_file_replaced_by_plaintext_is_refused_while_running(sops: SopsTool, tmp_path: Path) -> None:
    path = sops.encrypt("secret_key: s3cret-value-1\nconfig_reload_interval: 0\n", "api-config.yaml", [ALICE])
    app = create_app(environ={"FLASK_CONFIG": str(path), "SOPS_AGE_KEY": ALICE.identity})
    state = app.extensions["configsvc"]
    path.write_text("secret_key: chosen-by-whoever-wrote-the-file\nconfig_reload_interval: 0\n")
    assert not state.reload(force=False)
    assert "was a SOPS file and is now plaintext: refused" in str(state.problem)
    assert app.config["SECRET_KEY"] == "s3cret-value-1"


@pytest.mark.brokers
def test_a_running_web_and_worker_follow_a_sops_set(sops: SopsTool, tmp_path: Path) -> None:
    """gunicorn (2 processes) and a prefork worker on a SOPS file; ``sops set`` moves the broker to a new
    RabbitMQ user; the old one is revoked; both follow (the worker per ``configsvc fleet``, the web
    processes per the tasks they publish), with no sops binary in their environment."""
    from tests.support.brokers import delete_rabbitmq_user, rabbitmq_user, rabbitmq_vhost
    from tests.support.http import http
    from tests.support.processes import celery_worker, web_process

    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as first, rabbitmq_user(vhost) as second:
        urls = [f"amqp://{name}:{password}@127.0.0.1:5672/{vhost}" for name, password in (first, second)]
        text = (f"secret_key: sops-secret-key\nconfig_reload_interval: 0.1\n"
                f"celery:\n  broker_url: {urls[0]}\n  result_backend: file://{tmp_path / 'results'}\n")
        path = sops.encrypt(text, "api-config.yaml", [ALICE])
        env = {"FLASK_CONFIG": str(path), "SOPS_AGE_KEY_FILE": str(identity_file(tmp_path, ALICE)),
               "PATH": "/usr/bin:/bin"}  # no sops on the PATH of the service
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log",
                           pool=("--pool=prefork", "--concurrency=2")), \
                web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _):
            fingerprint = http("GET", url + "/healthz")[1]["fingerprint"]
            sops.set(path, (ALICE,), '["celery"]["broker_url"]', urls[1])
            done = run_cli("fleet", "--wait", "15", env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            delete_rabbitmq_user(first[0])
            for _ in range(6):  # both gunicorn processes, whichever answers
                status, body, _ = http("POST", url + "/task/", {"seconds": 0})
                assert status == 202, body
            assert http("GET", url + "/healthz")[1]["fingerprint"] != fingerprint
        for log in ("worker.log", "web.log"):
            logged = (tmp_path / log).read_text()
            assert "Traceback" not in logged and "sops-secret-key" not in logged, log
            assert first[1] not in logged and second[1] not in logged, log


# Hardening round 3: SOPS undid "no downgrade". age is public-key encryption, and a SOPS file lists its
# recipients: anyone who can write the deployment file can make a valid SOPS file with values of their choice.
@pytest.mark.parametrize("where", ["CONFIGSVC_KEY", "master.key"])
def test_a_sops_file_is_refused_when_a_configsvc_key_is_configured(sops: SopsTool, tmp_path: Path,
                                                                   where: str) -> None:
    from configsvc.crypto import keys as master_keys

    path = sops.encrypt("secret_key: chosen-by-an-attacker\n", "api-config.yaml", [ALICE])
    environ = {"FLASK_CONFIG": str(path), "SOPS_AGE_KEY": ALICE.identity}
    if where == "CONFIGSVC_KEY":
        environ["CONFIGSVC_KEY"] = master_keys.generate()
    else:
        master_keys.write_new_key_file(path.parent / "master.key")
    with pytest.raises(DecryptError, match=r"the file is a SOPS file, but a configsvc master key is "
                                           r"configured \(.*\): refused, since age is public-key") as caught:
        resolve(environ, instance_path=tmp_path)
    assert "CONFIGSVC_ALLOW_SOPS=1" in str(caught.value) and "chosen-by" not in str(caught.value)
    done = run_cli("check", env=environ)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "is a SOPS file, but a configsvc master key is configured" in done.stderr
    allowed = resolve({**environ, "CONFIGSVC_ALLOW_SOPS": "1"}, instance_path=tmp_path)
    assert allowed.reveal("secret_key") == "chosen-by-an-attacker"  # only when the deployment says so


def test_a_configsvc_file_replaced_by_a_sops_file_is_refused_while_running(deployment_file, sops: SopsTool,
                                                                          tmp_path: Path) -> None:
    """The attack while running: the key stays, the file becomes a SOPS file for the public recipient."""
    plain = "secret_key: s3cret-value-1\nconfig_reload_interval: 0\n"
    path = deployment_file(plain)
    assert run_cli("keygen", "--out", str(tmp_path / "master.key")).returncode == 0
    assert run_cli("encrypt", str(path)).returncode == 0
    environ = {"FLASK_CONFIG": str(path), "SOPS_AGE_KEY": ALICE.identity}
    app = create_app(environ=environ)
    state = app.extensions["configsvc"]
    assert state.config.encryption == "configsvc"
    forged = sops.encrypt(plain.replace("s3cret-value-1", "chosen-by-an-attacker"), "forged.yaml", [ALICE])
    forged.replace(path)
    assert not state.reload(force=True)  # not even SIGHUP takes it
    assert state.state == "stale" and app.config["SECRET_KEY"] == "s3cret-value-1"
    assert "the file is a SOPS file, but a configsvc master key is configured" in str(state.problem)


def test_a_running_process_never_switches_between_encrypted_formats(
        deployment_file, sops: SopsTool, tmp_path: Path) -> None:
    """With both formats accepted on purpose (CONFIGSVC_ALLOW_SOPS=1), SOPS to configsvc's format is still
    refused on a reload and taken at a restart; plaintext to encrypted is taken (nobody gains by it)."""
    plain = "secret_key: s3cret-value-1\nconfig_reload_interval: 0\n"
    path = sops.encrypt(plain, "api-config.yaml", [ALICE])
    key = tmp_path / "elsewhere.key"
    assert run_cli("keygen", "--out", str(key)).returncode == 0
    environ = {"FLASK_CONFIG": str(path), "SOPS_AGE_KEY": ALICE.identity, "CONFIGSVC_KEY_FILE": str(key),
               "CONFIGSVC_ALLOW_SOPS": "1"}
    app = create_app(environ=environ)
    state = app.extensions["configsvc"]
    assert state.config.encryption == "sops"
    changed = deployment_file(plain.replace("s3cret-value-1", "s3cret-value-2"), name="changed.yaml")
    assert run_cli("encrypt", str(changed), env={"CONFIGSVC_KEY_FILE": str(key)}).returncode == 0
    changed.replace(path)
    assert not state.reload(force=True)
    assert "was a SOPS file and is now encrypted (configsvc): refused" in str(state.problem)
    assert app.config["SECRET_KEY"] == "s3cret-value-1"
    restarted = create_app(environ=environ)
    assert restarted.config["SECRET_KEY"] == "s3cret-value-2"  # a restart takes the new format

    plain_path = deployment_file(plain, name="plain.yaml")
    upgraded = create_app(environ={"FLASK_CONFIG": str(plain_path), "SOPS_AGE_KEY": ALICE.identity})
    sops.encrypt(plain.replace("s3cret-value-1", "s3cret-value-3"), "plain.yaml", [ALICE]).replace(plain_path)
    assert upgraded.extensions["configsvc"].reload(force=False)
    assert upgraded.config["SECRET_KEY"] == "s3cret-value-3"
