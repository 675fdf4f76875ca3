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


def test_the_cold_start_bench_gives_the_environment_back(monkeypatch) -> None:
    """``make bench`` runs the pacing bench after this one: it used to send its requests to the cold-start
    bench's stopped moto server (AWS_ENDPOINT_URL was left behind) and fail."""
    import os

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    before = dict(os.environ)
    moto = coldstart._Moto()
    assert os.environ["AWS_ENDPOINT_URL"] == moto.endpoint
    moto.stop()
    assert dict(os.environ) == before
