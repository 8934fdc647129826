"""The definitions every published number rests on, each implemented once.

They follow ``docs/definitions.md`` and are pinned by the spec tests in ``tests/spec/``.
"""
