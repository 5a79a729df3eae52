"""The ``zoo`` command line.

Commands are imported only when invoked, so ``zoo --help`` never imports
torch. A :class:`~zoo_core.errors.ZooError` anywhere prints one readable
message and exits 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from zoo_core import __version__
from zoo_core.errors import ZooError

# name -> (module, attribute, one-line help shown by `zoo --help` without importing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("zoo_core.commands.run", "run", "Train and evaluate a TOML recipe."),
    "validate": ("zoo_core.commands.validate", "validate", "Check a recipe without training."),
    "eval": ("zoo_core.commands.run", "eval_cmd", "Evaluate a saved model or run."),
    "predict": ("zoo_core.commands.run", "predict", "Run a trained model's task on inputs."),
    "bench": ("zoo_core.commands.bench", "bench", "Throughput, latency, memory and MFU."),
    "sweep": ("zoo_core.commands.sweep", "sweep", "Search hyperparameters with Optuna."),
    "export": ("zoo_core.commands.export", "export", "Export a model to ONNX or PT2, checked."),
    "quantize": ("zoo_core.commands.export", "quantize", "int8 ONNX with accuracy and latency."),
    "list": ("zoo_core.commands.listing", "list_cmd", "List registered components."),
    "info": ("zoo_core.commands.listing", "info", "Show one component: kind, params, weights."),
    "plugins": ("zoo_core.commands.listing", "plugins", "Installed plugins and their status."),
    "plugin": ("zoo_core.commands.plugin", "plugin", "Create a plugin package: `plugin new`."),
    "pull": ("zoo_core.commands.weights", "pull", "Prefetch weights into the cache."),
    "cache": ("zoo_core.commands.weights", "cache", "Show or free cached weights."),
    "push": ("zoo_core.commands.weights", "push", "Upload a trained model to the Hub."),
}


def _available() -> dict[str, tuple[str, str, str]]:
    return {n: c for n, c in COMMANDS.items() if importlib.util.find_spec(c[0]) is not None}


class LazyGroup(click.Group):
    """A group whose commands are imported on use; plugins may add more."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugin_commands_loaded:
            return
        self._plugin_commands_loaded = True
        from zoo_core.plugins import plugin_set

        extra = click.Group()
        plugin_set().call_each("register_commands", cli=extra)
        for name, cmd in extra.commands.items():
            if name in COMMANDS:  # a plugin cannot replace a core command
                continue
            self.add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(_available()) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = _available().get(name)
        if spec is not None:
            module, attr, _ = spec
            return getattr(importlib.import_module(module), attr)
        self._load_plugin_commands()
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, c[2]) for n, c in _available().items()]
        self._load_plugin_commands()
        rows += [(n, c.get_short_help_str()) for n, c in self.commands.items()]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            raise UserError(str(exc)) from None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from zoo_core.errors import suggestion

            ctx.fail(f"No such command {name!r}.{suggestion(name, self.list_commands(ctx))}")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
def cli() -> None:
    """zoo: a plugin-based model zoo for PyTorch.

    Write a TOML recipe, then `zoo run recipe.toml`. Every model, head,
    data set and task comes from a plugin; `zoo plugins` shows them.
    """


class UserError(click.ClickException):
    """A ZooError on its way out: one message, no traceback, exit code 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        import os

        from rich.console import Console
        from rich.markup import escape

        if int(os.environ.get("RANK", "0")) > 0:  # one of several processes: rank 0 says it
            return

        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[bold red]error:[/bold red] {escape(self.message)}", emoji=False
        )


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="zoo")


if __name__ == "__main__":
    main()
