"""Running notebooks: a clean build log (no kernel noise, a bar only on a terminal)."""

from __future__ import annotations

import asyncio
import io
import signal

import pytest

from cohort.report import execute


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with execute.Progress(3, "report x", stream=out) as progress:
        for name in ("01_a", "02_b", "03_c"):
            progress.done(name)
    lines = out.getvalue().splitlines()
    assert lines == [
        "report x: 1/3 notebooks done (01_a)",
        "report x: 2/3 notebooks done (02_b)",
        "report x: 3/3 notebooks done (03_c)",
    ]
    assert "\r" not in out.getvalue()


def test_progress_is_a_bar_on_a_terminal():
    out = _Terminal()
    with execute.Progress(2, "report x", stream=out) as progress:
        progress.done("01_a")
        progress.done("02_b")
    text = out.getvalue()
    assert "\r" in text and "2/2" in text
    assert "notebooks done" not in text


def test_no_progress_shows_nothing():
    for stream in (io.StringIO(), _Terminal()):
        with execute.Progress(1, "report x", enabled=False, stream=stream) as progress:
            progress.done("01_a")
        assert stream.getvalue() == ""


def _signals_sent_on_shutdown(manager_class) -> list[int]:
    """Start a real kernel with ``manager_class``, shut it down, return the signals sent."""
    sent: list[int] = []

    async def run():
        km = manager_class(kernel_name=execute.KERNEL_NAME)
        original = km._async_signal_kernel

        async def spy(signum):
            sent.append(signum)
            await original(signum)

        km._async_signal_kernel = spy
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
        finally:
            kc.stop_channels()
        await km.shutdown_kernel()
        assert not await km.is_alive()

    with execute._kernel_environment():
        asyncio.run(run())
    return sent


@pytest.mark.slow
def test_kernels_are_shut_down_without_an_interrupt():
    from jupyter_client.manager import AsyncKernelManager

    # jupyter_client's own manager interrupts first: the SIGINT that made kernels log
    # "KeyboardInterrupt caught in kernel" when it landed inside a message handler.
    assert signal.SIGINT in _signals_sent_on_shutdown(AsyncKernelManager)
    assert signal.SIGINT not in _signals_sent_on_shutdown(execute._quiet_shutdown_kernel_manager())


def test_a_running_kernel_can_still_be_interrupted():
    manager = execute._quiet_shutdown_kernel_manager()()
    sent = []

    async def spy(signum):
        sent.append(signum)

    manager._async_signal_kernel = spy
    manager._kernel_spec = type("Spec", (), {"interrupt_mode": "signal"})()
    manager.provisioner = type("Provisioner", (), {"has_process": True})()  # a kernel runs
    asyncio.run(manager._async_interrupt_kernel())
    assert sent == [signal.SIGINT]
    manager.shutting_down = True
    asyncio.run(manager._async_interrupt_kernel())
    assert sent == [signal.SIGINT]
