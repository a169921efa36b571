"""The `llm-drift-otel` command: a failover demo, and shape tools to use before a fallback goes live.

    llm-drift-otel demo                          the product doing its job, locally, in a minute
    llm-drift-otel fingerprint [FILE|-]          the shape of each recorded output
    llm-drift-otel baseline build OUT.jsonl -o baselines.json
    llm-drift-otel baseline show baselines.json
    llm-drift-otel compare PRIMARY.jsonl FALLBACK.jsonl [--html report.html] [--fail-over 0.5]
    llm-drift-otel check                         the environment's configuration, and what would be instrumented

Exit codes: 0 ok; 1 `compare` drift above `--fail-over`, or `check` found a malformed variable;
2 a usage mistake or bad input (one line on stderr naming the file, line and what was expected);
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
from typing import Any, Callable, Sequence

from . import semconv as sc
from ._cli_io import InputError, display_name, read_rows
from .version import __version__

PROG = "llm-drift-otel"


class _Usage(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (and `main` returns instead of exiting)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise _Usage(2)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            sys.stderr.write(message)
        raise _Usage(status)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def _positive_seconds(minimum: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
        if not value >= minimum or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected at least {minimum:g} seconds, got {text!r}")
        return value

    return parse


def _positive_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected requests per second, got {text!r}") from None
    if not 0.5 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected 0.5 to 100 requests per second, got {text!r}")
    return value


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="See when fallback LLM traffic answers in a different structure than the primary's.",
        epilog="Start with `llm-drift-otel demo`. Docs: docs/cli.md in the repository.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # demo
    demo = sub.add_parser(
        "demo", help="run a failover demo against local mock providers (no API key, no network)",
        description="An instrumented app (real openai and anthropic SDK clients) sends requests to local mock "
                    "providers on 127.0.0.1; the primary fails for a while, requests fall back to the other "
                    "provider, and the live view shows the serving models, the fallback share, the drift per "
                    "prompt variant and the alert. With `prometheus` on PATH, a real Prometheus evaluates the "
                    "shipped alert rules.")
    demo.add_argument("--duration", type=_positive_seconds(20), default=60.0, metavar="SECONDS",
                      help="how long to run (default 60; the primary fails from 30%% to 70%% of it; at least 20)")
    demo.add_argument("--seed", type=int, default=1, help="seed of the mock providers and the request mix (default 1)")
    demo.add_argument("--rate", type=_positive_rate, default=8.0, metavar="PER_SECOND",
                      help="requests per second (default 8)")
    demo.add_argument("--otlp-endpoint", metavar="URL",
                      help="also export spans and metrics over OTLP/HTTP to a collector, e.g. http://localhost:4318 "
                           "(needs opentelemetry-exporter-otlp-proto-http)")
    group = demo.add_mutually_exclusive_group()
    group.add_argument("--prometheus", metavar="PATH",
                       help="the prometheus binary to run (default: `prometheus` on PATH)")
    group.add_argument("--no-prometheus", action="store_true", help="do not run Prometheus; in-process verdicts only")
    demo.add_argument("--rules", metavar="FILE",
                      help="Prometheus rules file (default: collector/prometheus/llm-drift-rules.yml of this checkout)")
    demo.add_argument("--plain", action="store_true",
                      help="print periodic status lines instead of redrawing the screen (default when not a terminal)")
    demo.set_defaults(func=_cmd_demo)

    # fingerprint
    fp = sub.add_parser(
        "fingerprint", help="print the shape of each recorded output",
        description="One shape per output. Input: JSONL rows with an 'output' field (a string, or parsed JSON), "
                    "or, when the first non-blank line is not a one-line JSON object, the whole input is one "
                    "plain-text output. '-' (the default) reads standard input.")
    fp.add_argument("file", nargs="?", default="-", metavar="FILE|-")
    fp.add_argument("--json", action="store_true", help="print each shape as a JSON object (Shape.to_dict())")
    fp.add_argument("--text", action="store_true", help="treat the whole input as one plain-text output")
    fp.add_argument("--output-field", default="output", metavar="FIELD", help="the JSONL field holding the output")
    fp.set_defaults(func=_cmd_fingerprint)

    # baseline
    baseline = sub.add_parser("baseline", help="build or show baselines files (LLM_DRIFT_BASELINE_FILE)",
                              description="Baselines learned from recorded primary outputs, so a fresh replica "
                                          "gives verdicts from its first call (LLM_DRIFT_BASELINE_FILE).")
    bsub = baseline.add_subparsers(dest="baseline_command", metavar="ACTION", parser_class=_Parser)
    build = bsub.add_parser("build", help="learn baselines from recorded primary outputs",
                            description="Learn one baseline per prompt variant from recorded PRIMARY outputs "
                                        "(JSONL rows with an 'output' field) and write them for "
                                        "LLM_DRIFT_BASELINE_FILE. Use the same LLM_DRIFT_SIGNATURE_KEYS and "
                                        "LLM_DRIFT_MAX_SCAN_BYTES as the app.")
    build.add_argument("outputs", metavar="OUTPUTS.jsonl")
    build.add_argument("-o", "--output", required=True, metavar="BASELINES.json", help="file to write")
    build.add_argument("--variant-field", metavar="FIELD",
                       help="the JSONL field naming the prompt variant (default: every row is --variant)")
    build.add_argument("--variant", default="none", metavar="NAME",
                       help="variant of rows without the variant field (default 'none': calls with no variant "
                            "name and no system prompt); use the name given to ld.prompt_variant()")
    build.add_argument("--output-field", default="output", metavar="FIELD", help="the JSONL field holding the output")
    build.set_defaults(func=_cmd_baseline_build)
    show = bsub.add_parser("show", help="summarise a baselines file")
    show.add_argument("file", metavar="BASELINES.json")
    show.set_defaults(func=_cmd_baseline_show)
    baseline.set_defaults(func=_need_action(baseline))

    # compare
    cmp_ = sub.add_parser(
        "compare", help="compare the shapes of a fallback's answers with the primary's, per prompt variant",
        description="Per prompt variant: the shape mix of each side, the drift score (share of windows of W "
                    "fallback answers that differ from a baseline of the primary's answers), refusal rates, "
                    "contract violations. Exit 1 when a drift score exceeds --fail-over (for CI, before a "
                    "fallback goes live).")
    cmp_.add_argument("primary", metavar="PRIMARY.jsonl")
    cmp_.add_argument("fallback", metavar="FALLBACK.jsonl")
    cmp_.add_argument("--variant-field", metavar="FIELD",
                      help="the JSONL field naming the prompt variant (default: the whole file is one variant)")
    cmp_.add_argument("--variant", default="default", metavar="NAME",
                      help="variant of rows without the variant field (default 'default')")
    cmp_.add_argument("--output-field", default="output", metavar="FIELD", help="the JSONL field holding the output")
    cmp_.add_argument("--window", type=_int_at_least(5), default=20, metavar="W",
                      help="answers per window for the drift score (default 20)")
    cmp_.add_argument("--fail-over", type=_fraction, metavar="SCORE",
                      help="exit 1 when a variant's drift score exceeds SCORE (0..1)")
    cmp_.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    cmp_.add_argument("--json", action="store_true", help="print a JSON summary instead of the table")
    cmp_.add_argument("--contract-kind", choices=sc.KINDS, metavar="KIND",
                      help=f"declared contract: the kind every answer must have ({', '.join(sc.KINDS)})")
    cmp_.add_argument("--contract-keys", metavar="K1,K2",
                      help="declared contract: top-level JSON keys every answer must have")
    cmp_.set_defaults(func=_cmd_compare)

    # check
    check = sub.add_parser("check", help="validate the environment's configuration; list what would be instrumented",
                           description="Reads the LLM_DRIFT_* / OTEL_* variables (SPEC §5) as the plugin would, "
                                       "reports malformed ones (exit 1) and the defaults in use, and lists the "
                                       "installed LLM SDKs and the methods that would be instrumented.")
    check.add_argument("--verify", action="store_true",
                       help="import the installed SDKs and check that each method exists in this version")
    check.set_defaults(func=_cmd_check)
    return parser


def _need_action(parser: _Parser) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        parser.error("an action is required: build or show")
        return 2

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except _Usage as usage:
        return usage.code
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    command = args.command + (f" {args.baseline_command}" if getattr(args, "baseline_command", None) else "")
    try:
        return args.func(args)
    except _Usage as usage:
        return usage.code
    except InputError as exc:
        sys.stderr.write(f"{PROG} {command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG} {command}: interrupted\n")
        return 130
    except BrokenPipeError:  # `... | head`: stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 0


# --- fingerprint ---------------------------------------------------------------------------------------


def _fingerprinter() -> Callable[[Any], Any]:
    from ._config import from_env
    from ._fingerprint import fingerprint_output

    config = from_env()
    scan, hash_keys = config.max_scan_bytes, config.hash_signature_keys
    return lambda output: fingerprint_output(output, max_scan_bytes=scan, hash_keys=hash_keys)


def _cmd_fingerprint(args: argparse.Namespace) -> int:
    if args.file == "-" and sys.stdin.isatty():
        raise InputError("no input: give a FILE, or pipe JSONL rows or a text into standard input")
    fingerprint = _fingerprinter()
    out = sys.stdout
    width = shutil.get_terminal_size((120, 24)).columns
    header = False
    for row in read_rows(args.file, output_field=args.output_field, allow_text=True, force_text=args.text):
        shape = fingerprint(row.output)
        if args.json:
            out.write(json.dumps(shape.to_dict(), sort_keys=False) + "\n")
            continue
        if not header:
            out.write(f"{'line':>6}  {'kind':<10} {'id':<16}  signature\n")
            header = True
        signature = shape.signature
        room = max(20, width - 38)
        if len(signature) > room and out.isatty():
            signature = signature[: room - 1] + "…"
        out.write(f"{row.line:>6}  {shape.kind:<10} {shape.id:<16}  {signature}\n")
    out.flush()
    return 0


# --- baseline ------------------------------------------------------------------------------------------


def _registry() -> Any:
    from ._baseline import BaselineRegistry
    from ._config import from_env

    config = from_env()
    return config, BaselineRegistry(max_variants=config.max_variants, warmup=config.warmup,
                                    max_shapes=config.max_baseline_shapes)


def _baseline_summary(baseline: Any) -> tuple[dict[str, int], int]:
    obj = json.loads(baseline.to_json())
    return obj.get("kinds", {}), len(obj.get("ids", []))


def _kinds_text(kinds: dict[str, int], total: int) -> str:
    if not total:
        return "-"
    parts = sorted(kinds.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{kind} {100 * count / total:.0f}%" for kind, count in parts if count)


def _cmd_baseline_build(args: argparse.Namespace) -> int:
    config, registry = _registry()
    fingerprint = _fingerprinter()
    rows = 0
    for row in read_rows(args.outputs, output_field=args.output_field, variant_field=args.variant_field):
        registry.get(row.variant or args.variant).learn(fingerprint(row.output))
        rows += 1
    if len(registry) > config.max_variants:  # pragma: no cover - the registry caps itself
        pass
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise InputError(f"{args.output}: cannot write: no such directory {directory}")
    try:
        count = registry.save(args.output)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    print(f"learned {count} baseline{'s' if count != 1 else ''} from {rows} outputs of "
          f"{display_name(args.outputs)} -> {args.output}")
    for variant, baseline in sorted(registry.items()):
        kinds, ids = _baseline_summary(baseline)
        warm = "" if baseline.samples >= config.warmup else \
            f"  (fewer than {sc.ENV_WARMUP}={config.warmup}: it keeps learning before it gives verdicts)"
        print(f"  {variant:<24} {baseline.samples:>6} samples  {ids:>3} shape ids  {_kinds_text(kinds, baseline.samples)}{warm}")
    print(f"use it with: {sc.ENV_BASELINE_FILE}={args.output}")
    return 0


def _cmd_baseline_show(args: argparse.Namespace) -> int:
    config, registry = _registry()
    try:
        count = registry.load(args.file)
    except FileNotFoundError:
        raise InputError(f"{args.file}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{args.file}: is a directory, expected a baselines file") from None
    except OSError as exc:
        raise InputError(f"{args.file}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise InputError(str(exc).replace("\n", " ")) from None
    print(f"{args.file}: {count} baseline{'s' if count != 1 else ''}")
    for variant, baseline in sorted(registry.items()):
        kinds, ids = _baseline_summary(baseline)
        ready = "ready" if baseline.samples >= config.warmup else f"warming up ({baseline.samples}/{config.warmup})"
        print(f"  {variant:<24} {baseline.samples:>6} samples  {ids:>3} shape ids  {ready:<10}  "
              f"{_kinds_text(kinds, baseline.samples)}")
    return 0


# --- compare -------------------------------------------------------------------------------------------


def _cmd_compare(args: argparse.Namespace) -> int:
    from . import _report
    from ._contract import Contract

    contract = None
    description = None
    keys = None
    if args.contract_keys is not None:
        keys = [k.strip() for k in args.contract_keys.split(",") if k.strip()]
        if not keys:
            raise _usage_error("compare", "--contract-keys: expected a comma list of JSON keys")
    if args.contract_kind or keys:
        contract = Contract(kind=args.contract_kind, json_keys=keys)
        bits = []
        if args.contract_kind:
            bits.append(f"kind {args.contract_kind}")
        if keys:
            bits.append("JSON keys " + ", ".join(keys))
        description = "; ".join(bits)
    if args.html:
        directory = os.path.dirname(os.path.abspath(args.html))
        if not os.path.isdir(directory):
            raise InputError(f"{args.html}: cannot write the report: no such directory {directory}")
    if args.primary == "-" and args.fallback == "-":
        raise _usage_error("compare", "only one of PRIMARY and FALLBACK can be standard input")

    fingerprint = _fingerprinter()
    sides = []
    for path, placeholder in ((args.primary, "primary"), (args.fallback, "fallback")):
        rows = read_rows(path, output_field=args.output_field, variant_field=args.variant_field)
        per_variant, models, count = _report.build_sides(rows, placeholder, args.variant, fingerprint, contract)
        sides.append((per_variant, _report.model_label(models, path), count))
    (p_sides, p_label, p_rows), (f_sides, f_label, f_rows) = sides
    if p_label == f_label:
        p_label, f_label = f"{p_label} (primary)", f"{f_label} (fallback)"
    for side_map, label in ((p_sides, p_label), (f_sides, f_label)):
        for stats in side_map.values():
            stats.label = label
    variants = _report.compare_variants(p_sides, f_sides, args.window, p_label, f_label)
    result = _report.CompareResult(
        primary_path=display_name(args.primary), fallback_path=display_name(args.fallback),
        primary_label=p_label, fallback_label=f_label, primary_rows=p_rows, fallback_rows=f_rows,
        window=args.window, variants=variants, fail_over=args.fail_over, contract=description,
        variant_field=args.variant_field)

    if args.json:
        print(json.dumps(_compare_json(result), indent=2))
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        width = shutil.get_terminal_size((110, 24)).columns
        print(_report.render_text(result, color=color, width=width))
    if args.html:
        try:
            with open(args.html, "w", encoding="utf-8") as f:
                f.write(_report.render_html(result, version=__version__))
        except OSError as exc:
            raise InputError(f"{args.html}: cannot write the report ({exc.strerror or exc})") from None
        if not args.json:
            print(f"wrote {args.html}")
    failing = result.failing()
    if failing:
        names = ", ".join(repr(v.name) for v in failing)
        sys.stderr.write(f"{PROG} compare: drift score above --fail-over {args.fail_over:g} for {names}\n")
        return 1
    return 0


def _usage_error(command: str, message: str) -> _Usage:
    sys.stderr.write(f"{PROG} {command}: error: {message}\n")
    return _Usage(2)


def _compare_json(result: Any) -> dict[str, Any]:
    variants = []
    for v in result.variants:
        variants.append({
            "variant": v.name,
            "primary": {"answers": v.primary.n, "kinds": dict(v.primary.kind_shares()),
                        "refusal_rate": v.primary.refusal_share(), "contract_violation_rate": v.primary.violation_share(),
                        "drifted_share_held_out": v.primary_drifted,
                        "windows": v.primary_windows.total if v.primary_windows else 0,
                        "windows_drifted": v.primary_windows.drifted if v.primary_windows else 0},
            "fallback": {"answers": v.fallback.n, "kinds": dict(v.fallback.kind_shares()),
                         "refusal_rate": v.fallback.refusal_share(),
                         "contract_violation_rate": v.fallback.violation_share(),
                         "drifted_share": v.fallback_drifted,
                         "windows": v.fallback_windows.total if v.fallback_windows else 0,
                         "windows_drifted": v.fallback_windows.drifted if v.fallback_windows else 0},
            "drift_score": v.drift_score,
            "whole_file": None if v.whole is None else {"drifted": v.whole.drifted, "score": v.whole.score},
            "alert_would_fire": v.alert_would_fire,
            "markers": {name: {"primary": p, "fallback": f} for name, _, p, f in v.marker_rows()},
            "note": v.note,
        })
    return {"primary": {"path": result.primary_path, "label": result.primary_label, "answers": result.primary_rows},
            "fallback": {"path": result.fallback_path, "label": result.fallback_label, "answers": result.fallback_rows},
            "window": result.window, "fail_over": result.fail_over,
            "failing": [v.name for v in result.failing()], "variants": variants}


# --- check ---------------------------------------------------------------------------------------------


def _check_variables(env: dict[str, str]) -> list[tuple[str, str, str, bool]]:
    """(variable, value shown, meaning, malformed) for every SPEC §5 variable, as `_config.from_env` reads them."""
    from ._config import _FALSE, _TRUE, Config

    defaults = Config()
    out: list[tuple[str, str, str, bool]] = []

    def shown(var: str) -> str:
        return "unset" if var not in env else repr(env[var])

    raw = env.get(sc.ENV_PRIMARY_MODELS)
    if not raw:
        out.append((sc.ENV_PRIMARY_MODELS, shown(sc.ENV_PRIMARY_MODELS),
                    "no policy: fallback is known from request chains, ld.fallback() and gateways", False))
    else:
        items = [p.strip() for p in raw.split(",") if p.strip()]
        bad = not items or any(any(c.isspace() for c in p) for p in items)
        out.append((sc.ENV_PRIMARY_MODELS, shown(sc.ENV_PRIMARY_MODELS),
                    "MALFORMED: expected a comma list of provider/model or model patterns; none is used" if bad
                    else "primaries: " + ", ".join(items) + " (any other serving model is fallback traffic)", bad))

    path = (env.get(sc.ENV_BASELINE_FILE) or "").strip()
    if not path:
        out.append((sc.ENV_BASELINE_FILE, shown(sc.ENV_BASELINE_FILE), "baselines start empty and learn", False))
    else:
        from ._baseline import BaselineRegistry

        try:
            count = BaselineRegistry().load(path)
        except OSError as exc:
            out.append((sc.ENV_BASELINE_FILE, repr(path),
                        f"MALFORMED: cannot read it ({exc.strerror or exc}); baselines would start empty", True))
        except ValueError as exc:
            message = str(exc).replace("\n", " ")
            out.append((sc.ENV_BASELINE_FILE, repr(path), f"MALFORMED: {message}; baselines would start empty", True))
        else:
            out.append((sc.ENV_BASELINE_FILE, repr(path), f"{count} baseline{'s' if count != 1 else ''} loaded", False))

    for var, default, what in ((sc.ENV_WARMUP, defaults.warmup, "primary responses before verdicts"),
                               (sc.ENV_MAX_SHAPES_PER_VARIANT, defaults.max_shapes_per_variant,
                                "shape id label values per variant"),
                               (sc.ENV_MAX_VARIANTS, defaults.max_variants, "baselines kept"),
                               (sc.ENV_MAX_SCAN_BYTES, defaults.max_scan_bytes, "bytes of an output read")):
        raw = env.get(var)
        if raw is None or not raw.strip():
            out.append((var, shown(var), f"default {default} ({what})", False))
            continue
        try:
            value = int(raw.strip())
        except ValueError:
            value = None
        if value is None or value < 1:
            out.append((var, repr(raw), f"MALFORMED: expected an integer >= 1; the default {default} is used", True))
        else:
            out.append((var, repr(raw), f"{value} ({what})", False))

    raw = env.get(sc.ENV_SIGNATURE_KEYS)
    if raw is None or not raw.strip():
        out.append((sc.ENV_SIGNATURE_KEYS, shown(sc.ENV_SIGNATURE_KEYS), "default plain (JSON key names in signatures)", False))
    elif raw.strip().lower() in ("plain", "hash"):
        meaning = "JSON key names hashed in signatures" if raw.strip().lower() == "hash" else "JSON key names in signatures"
        out.append((sc.ENV_SIGNATURE_KEYS, repr(raw), meaning, False))
    else:
        out.append((sc.ENV_SIGNATURE_KEYS, repr(raw), "MALFORMED: expected plain or hash; plain is used", True))

    raw = env.get(sc.ENV_CAPTURE_CONTENT)
    if raw is None:
        out.append((sc.ENV_CAPTURE_CONTENT, "unset", "default false (no prompt or output text recorded)", False))
    elif raw.strip().lower() in _TRUE:
        out.append((sc.ENV_CAPTURE_CONTENT, repr(raw), "true: output text is recorded on spans", False))
    elif raw.strip().lower() in _FALSE:
        out.append((sc.ENV_CAPTURE_CONTENT, repr(raw), "false (no prompt or output text recorded)", False))
    else:
        out.append((sc.ENV_CAPTURE_CONTENT, repr(raw), "MALFORMED: expected true or false; false is used", True))

    raw = env.get(sc.ENV_DISABLED_INSTRUMENTATIONS)
    disabled = sc.INSTRUMENTATION_NAME in {n.strip() for n in (raw or "").split(",")}
    out.append((sc.ENV_DISABLED_INSTRUMENTATIONS, shown(sc.ENV_DISABLED_INSTRUMENTATIONS),
                f"{sc.INSTRUMENTATION_NAME!r} listed: this plugin is DISABLED" if disabled
                else "this plugin is enabled", False))
    return out


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _distribution_version(module: str) -> str | None:
    import importlib.metadata as md

    top = module.split(".")[0]
    try:
        names = md.packages_distributions().get(top) or [top]
    except Exception:  # noqa: BLE001 - metadata of a broken install must not stop `check`
        names = [top]
    wanted = {"google": "google-genai"}.get(top)
    if wanted in names:
        names = [wanted]
    for name in names:
        try:
            return f"{name} {md.version(name)}"
        except md.PackageNotFoundError:
            continue
    return None


def _method_exists(module: str, method: str) -> bool:
    import importlib

    try:
        owner_name, _, attribute = method.partition(".")
        owner = getattr(importlib.import_module(module), owner_name, None)
        return owner is not None and attribute in vars(owner)
    except Exception:  # noqa: BLE001
        return False


def _cmd_check(args: argparse.Namespace) -> int:
    from .providers import discover

    env = dict(os.environ)
    rows = _check_variables(env)
    malformed = [r for r in rows if r[3]]
    print(f"{PROG} {__version__}")
    print("\nconfiguration (environment; options to ld.instrument() take precedence)")
    name_w = max(len(r[0]) for r in rows)
    for var, value, meaning, bad in rows:
        mark = "!!" if bad else "ok"
        print(f"  {mark}  {var:<{name_w}}  {value:<12}  {meaning}")

    print("\nLLM SDKs")
    instrumented = 0
    for adapter in discover():
        root = adapter.root_module
        present = _installed(root)
        version = _distribution_version(root) if present else None
        label = f"{adapter.name} ({version or root})"
        if not present:
            print(f"  --  {label}: not installed")
            continue
        try:
            endpoints = list(adapter.endpoints())
        except Exception as exc:  # noqa: BLE001
            print(f"  !!  {label}: installed, but its endpoints could not be listed ({type(exc).__name__})")
            continue
        print(f"  ok  {label}: installed; would instrument")
        for endpoint in endpoints:
            note = f"{endpoint.operation}, {'async' if endpoint.is_async else 'sync'}"
            if not endpoint.produces_output and endpoint.accepts is not None:
                note = f"{'async' if endpoint.is_async else 'sync'}, reads responses for the other calls, no span of its own"
            elif not endpoint.produces_output:
                note += ", no output shape"
            exists = ""
            if args.verify:
                exists = "  present" if _method_exists(endpoint.module, endpoint.method) else "  not in this version (skipped)"
            print(f"        {endpoint.module}.{endpoint.method}  ({note}){exists}")
            instrumented += 1

    print("\nOpenTelemetry")
    for module, what in (("opentelemetry.sdk", "SDK (opentelemetry-sdk)"),
                         ("opentelemetry.exporter.otlp.proto.http", "OTLP/HTTP exporter (opentelemetry-exporter-otlp-proto-http)"),
                         ("opentelemetry.exporter.otlp.proto.grpc", "OTLP/gRPC exporter (opentelemetry-exporter-otlp-proto-grpc)"),
                         ("opentelemetry.exporter.prometheus", "Prometheus exporter (opentelemetry-exporter-prometheus)")):
        print(f"  {'ok' if _installed(module) else '--'}  {what}: {'installed' if _installed(module) else 'not installed'}")
    entry = _entry_point()
    print(f"  {'ok' if entry else '--'}  opentelemetry-instrument entry point "
          f"{sc.INSTRUMENTATION_NAME!r}: {entry or 'not registered (is the package installed?)'}")

    print()
    if malformed:
        names = ", ".join(r[0] for r in malformed)
        print(f"{len(malformed)} malformed variable{'s' if len(malformed) != 1 else ''}: {names}")
        return 1
    print(f"configuration ok; {instrumented} SDK method{'s' if instrumented != 1 else ''} would be instrumented")
    return 0


def _entry_point() -> str | None:
    import importlib.metadata as md

    try:
        for ep in md.entry_points(group="opentelemetry_instrumentor"):
            if ep.name == sc.INSTRUMENTATION_NAME:
                return ep.value
    except Exception:  # noqa: BLE001
        return None
    return None


# --- demo ----------------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import _demo

    return _demo.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
