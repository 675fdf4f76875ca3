"""``make bench`` measures every function's cold start: each one in template.yaml needs a sample event.

SecurePageFunction was added without one, and ``python -m bench`` stopped with a RuntimeError after
its request figures (found running ``make bench``).
"""

from __future__ import annotations

from bench import coldstart


def test_every_template_function_has_a_cold_start_sample() -> None:
    functions = {logical for logical, _module in coldstart._functions()}
    assert functions, "template.yaml lists no functions"
    assert sorted(functions - set(coldstart.SAMPLES)) == []
    assert sorted(set(coldstart.SAMPLES) - functions) == []


def test_every_sample_event_file_exists() -> None:
    for logical, sample in coldstart.SAMPLES.items():
        if not sample.startswith("live"):
            assert (coldstart.EVENTS / sample).is_file(), logical
