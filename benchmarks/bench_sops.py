"""Resolving a SOPS file natively, against the same file in plaintext and against what users do today
(``sops decrypt`` as a subprocess, then parse its output), in one run, interleaved.

Input: a deployment file with 100 values encrypted by the real sops for one age recipient (the same
document as bench_encrypted), and the same file unencrypted.
Targets (issue 12): at most 2.0x plaintext; at most 0.2x ``sops decrypt`` + parse. Prints medians and
ratios; asserts nothing but that all three read the same values.

    .venv/bin/python -m benchmarks.bench_sops [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import pyrage
import yaml

from benchmarks.bench_encrypted import document
from benchmarks.timing import interleaved, ratio_summary, timed
from configsvc import resolve

SOPS = Path(sys.executable).parent / "sops"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    identity = pyrage.x25519.Identity.generate()
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "plain.yaml"
        plain.write_text(yaml.safe_dump(document(), sort_keys=False))
        sops_file = Path(folder) / "sops.yaml"
        sops_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": folder,
                    "SOPS_DISABLE_VERSION_CHECK": "1", "SOPS_AGE_KEY": str(identity)}
        subprocess.run([str(SOPS), "encrypt", "--age", str(identity.to_public()), "--encrypted-regex",
                        "^service_", "--output", str(sops_file), str(plain)], env=sops_env, check=True)
        count = sops_file.read_text().split("\nsops:")[0].count("ENC[")  # the values, not the MAC
        assert count == 100, count

        def configsvc_resolve(path: Path) -> Callable[[], object]:
            def resolve_once() -> object:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return resolve({"FLASK_CONFIG": str(path), "SOPS_AGE_KEY": str(identity)},
                                   instance_path=Path(folder))
            return resolve_once

        def sops_then_parse() -> object:
            done = subprocess.run([str(SOPS), "decrypt", str(sops_file)], env=sops_env, check=True,
                                  capture_output=True)
            return yaml.safe_load(done.stdout)

        native = configsvc_resolve(sops_file)().as_dict(reveal_secrets=True)  # type: ignore[attr-defined]
        assert native == configsvc_resolve(plain)().as_dict(reveal_secrets=True)  # type: ignore[attr-defined]
        assert sops_then_parse() == yaml.safe_load(plain.read_text())
        samples = interleaved(args.rounds, {
            "plaintext": timed(configsvc_resolve(plain)),
            "sops file": timed(configsvc_resolve(sops_file)),
            "sops decrypt + parse": timed(sops_then_parse),
        })
    plain_ms, sops_ms, alternative_ms = (statistics.median(samples[name]) for name in samples)
    to_plain, to_alternative = sops_ms / plain_ms, sops_ms / alternative_ms
    version = subprocess.run([str(SOPS), "--version", "--disable-version-check"], capture_output=True,
                             text=True, check=True).stdout.split()[1]  # no network: no version check
    print(f"input: {count} values encrypted by sops {version} (age); {args.rounds} interleaved rounds")
    print(f"  configsvc, plaintext file   {plain_ms:7.2f} ms")
    print(f"  configsvc, SOPS file        {sops_ms:7.2f} ms")
    print(f"  sops decrypt + yaml parse   {alternative_ms:7.2f} ms")
    print(f"  SOPS / plaintext            {ratio_summary(samples['sops file'], samples['plaintext'])}  "
          f"(target <= 2.00x: {'met' if to_plain <= 2 else 'NOT met'})")
    alternative = ratio_summary(samples["sops file"], samples["sops decrypt + parse"])
    verdict = "met" if to_alternative <= 0.2 else "NOT met"
    print(f"  SOPS / sops decrypt + parse {alternative}  (target <= 0.20x: {verdict})")
    return 0 if to_plain <= 2 and to_alternative <= 0.2 else 1


if __name__ == "__main__":
    sys.exit(main())
