"""``llamatasks export onnx [MODEL] OUT_DIR``: the export toolkit on the command line.

The main CLI mounts ``export_app`` as its ``export`` group. Errors end the
command with their message and hint (the main CLI's error handling), never a
traceback; nothing heavy is imported until a command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llamatasks.errors import InvalidInputError

export_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                         help="Export a model for deployment (ONNX Runtime, no PyTorch at run time).")
_out = Console()


@export_app.callback()
def export_group() -> None:
    """Export a model for deployment (ONNX Runtime, no PyTorch at run time)."""
    # A callback keeps ``export`` a command group even with one subcommand, so
    # ``llamatasks export onnx ...`` stays the spelling when more formats come.


@export_app.command("onnx")
def onnx_command(
    paths: Annotated[list[str], typer.Argument(
        metavar="[MODEL] OUT_DIR",
        help="Model folder or .gguf (default: LLAMATASKS_MODEL or SmolLM2), then the output folder.")],
    precision: str = typer.Option("fp32", "--precision", "-p", help="fp32, fp16 (CUDA graph), int8 or int4 (weights only)."),
    force: bool = typer.Option(False, "--force", help="Keep an export that fails validation; skip the memory check."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT_DIR if it holds files."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    model_opt: str | None = typer.Option(None, "--model", "-m", help="Model, as an option instead of MODEL."),
) -> None:
    """Export a LLaMA-family model to ONNX with its KV cache, validated against PyTorch."""
    from llamatasks_export.export import export_onnx

    model, out_dir = _split_paths(paths, model_opt)
    manifest = export_onnx(model, out_dir, precision, force, overwrite=overwrite)  # type: ignore[arg-type]
    if as_json:
        print(manifest.model_dump_json(indent=2))
        return
    v = manifest.validation
    table = Table("check", "result", show_header=False)
    table.add_row("exported", f"{manifest.source.name} -> {out_dir} ({manifest.precision}, opset {manifest.graph.opset})")
    table.add_row("max |logit diff|", f"{v.max_abs_logit_diff:.2e}")
    table.add_row("top-1 agreement", f"{v.top1_agreement:.1%} of {v.positions} positions")
    table.add_row("greedy agreement", f"{v.greedy_agreement:.1%} of {v.greedy_tokens} tokens x {v.prompts} prompts")
    table.add_row("validation", "passed" if v.passed else "FAILED (kept with --force)")
    _out.print(table)


def _split_paths(paths: list[str], model_opt: str | None) -> tuple[str | None, str]:
    if len(paths) == 1:
        return model_opt, paths[0]
    if len(paths) == 2 and model_opt is None:
        return paths[0], paths[1]
    raise InvalidInputError("expected [MODEL] OUT_DIR", hint="e.g. `llamatasks export onnx out/smollm2` or "
                            "`llamatasks export onnx path/to/model out/model --precision int8`")
