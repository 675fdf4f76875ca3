"""The bench's virtual clock: tasks interleave at their sleeps in virtual-time order, one at a time."""

from __future__ import annotations

import pytest

from bench.virtualtime import VirtualTime


def test_tasks_interleave_in_virtual_time_order_and_the_clock_follows() -> None:
    clock = VirtualTime(1000.0)
    seen: list[tuple[str, float]] = []

    def worker(name: str, pause: float, rounds: int) -> None:
        for _ in range(rounds):
            seen.append((name, clock.time()))
            clock.sleep(pause)

    clock.spawn("fast", lambda: worker("fast", 1.0, 3), container="a")
    clock.spawn("slow", lambda: worker("slow", 2.5, 2), container="b")
    clock.run()
    assert seen == [
        ("fast", 1000.0),
        ("slow", 1000.0),
        ("fast", 1001.0),
        ("fast", 1002.0),
        ("slow", 1002.5),
    ]
    assert clock.time() == 1005.0  # slow's last sleep ends at 1002.5 + 2.5


def test_each_task_sees_its_own_container() -> None:
    clock = VirtualTime(0.0)
    containers: list[str] = []

    def body() -> None:
        containers.append(clock.container())
        clock.sleep(1)
        containers.append(clock.container())

    clock.spawn("one", body, container="sender-0")
    clock.spawn("two", body, container="sender-1")
    clock.run()
    assert containers == ["sender-0", "sender-1", "sender-0", "sender-1"]
    assert clock.container() == "main"


def test_sleep_outside_a_task_moves_the_clock() -> None:
    clock = VirtualTime(10.0)
    clock.sleep(5)
    clock.set(12.0)  # never backwards
    assert clock.time() == 15.0


def test_a_task_error_reaches_the_caller() -> None:
    clock = VirtualTime(0.0)

    def broken() -> None:
        clock.sleep(1)
        raise ValueError("boom")

    clock.spawn("broken", broken, container="x")
    with pytest.raises(ValueError, match="boom"):
        clock.run()
