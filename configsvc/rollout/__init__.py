"""Staged rollout: a new configuration goes to a canary first, then in steps, and back when it fails.

Processes stage a valid new file (``rollout.mode: staged``, :mod:`configsvc.flask.reloader`); ``configsvc
rollout`` (:mod:`configsvc.commands.rollout`) tells them over the broker, with the signed messages of
:mod:`configsvc.rollout.messages`, to apply it or to roll it back.
"""
