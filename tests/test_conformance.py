"""The built-in torch backend passes the backend conformance suite; so does a backend plugin
registered without installing it. The pytest fixtures for plugin authors work as a pytest plugin."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llamatasks.backends.torch_backend import TorchEngine
from llamatasks.engine.base import BackendSpec
from llamatasks.plugins import hookimpl
from llamatasks.testing.conformance import BackendConformance

pytest_plugins = ["pytester"]


class TestTorchBackend(BackendConformance):
    """SmolLM2-style ChatML checkpoint: LLaMA 2 vocabulary, grouped-query attention."""

    backend = "torch"
    kind = "chatml"


class TestTorchBackendOnLlama31(BackendConformance):
    """LLaMA 3.1 checkpoint: 128k vocabulary, llama3 rope scaling."""

    backend = "torch"
    kind = "llama3.1-instruct"


class UnsharingTorchEngine(TorchEngine):
    """The torch engine without shared-prefix reuse: a backend that runs every prompt in full still passes."""

    share_prefixes = False


class TorchUnderAnotherName:
    """A backend plugin, as a third party would write it."""

    @hookimpl
    def register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(BackendSpec(name="torch-plugin", load=UnsharingTorchEngine.load,
                             description="the torch engine without prefix reuse, via a plugin"))


class TestABackendPluginRegisteredWithoutInstalling(BackendConformance):
    backend = "torch-plugin"
    plugin = TorchUnderAnotherName()
    kind = "llama1"  # no grouped-query attention


def test_the_fixtures_work_as_a_pytest_plugin(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["llamatasks.testing.fixtures"]')
    pytester.makepyfile(test_plugin='''
        from llamatasks.plugins import hookimpl

        class Loud:
            @hookimpl
            def register_tasks(self, register):
                from llamatasks.tasks.classify import SentimentTask
                task = SentimentTask()
                task.name = "loud-sentiment"
                register(task)

        def test_fresh_manager(plugin_manager):
            from llamatasks.plugins.manager import DEFAULT_PLUGINS

            assert [name for name, _ in plugin_manager.list_name_plugin()] == list(DEFAULT_PLUGINS)

        def test_registry_with_a_plugin(make_registry):
            registry = make_registry(Loud())
            assert registry.owners_of("task", "loud-sentiment") == "Loud"
            assert registry.problems == []
    ''')
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
