"""The fuzz harness: targets, a seed corpus with every input the hardening run found, a mutator, a runner.

``python -m tests.fuzz --seconds 600`` (``make fuzz``) fuzzes every target; ``tests/test_fuzz.py`` replays the
corpus and fuzzes each target for a few seconds in every ``make test``. Each target runs in a child
process, so a crash of the interpreter (a segfault in a C parser) is a finding, not the end of the run.
"""
