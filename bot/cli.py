"""The `tierbot` command line: the composition root that builds settings and the engine."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from bot.settings import Settings
from storage.engine import build_engine
from storage.importing import KINDS, ImportFailed, import_file
from storage.migrate import current_revision, head_revision, upgrade
from storage.queries import team_summaries

app = typer.Typer(help="tierbot: B2B account tiering in Slack, WeCom and the console.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for e in exc.errors():
            field = _setting_name(str(e["loc"][0])) if e["loc"] else "settings"
            err.print(f"[red]Configuration error[/red] in {field}: {e['msg']}")
        err.print("Fix it in the environment or in .env (see .env.example).")
        raise typer.Exit(2) from None


def _setting_name(name: str) -> str:
    """The environment variable a field is read from (SLACK_BOT_TOKEN, TIERBOT_LOCALE...)."""
    field = Settings.model_fields.get(name)
    alias = getattr(field, "validation_alias", None) if field else None
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return "TIERBOT_" + name.upper()


@contextmanager
def store(settings: Settings, *, need_schema: bool = True):
    """The engine for the configured database; refuses to run on a missing or old schema."""
    engine = build_engine(settings.database_url)
    try:
        if need_schema and current_revision(engine) != head_revision():
            err.print(f"The database {settings.safe_database_url()} has no tierbot schema or an "
                      "old one. Run [bold]tierbot init[/bold] first.")
            raise typer.Exit(2)
        yield engine
    finally:
        engine.dispose()


@app.command()
def init() -> None:
    """Create the database schema, or upgrade it to the latest version."""
    settings = load_settings()
    with store(settings, need_schema=False) as engine:
        before, after = upgrade(engine)
    where = settings.safe_database_url()
    if before == after:
        out.print(f"Schema at {where} is up to date (revision {after}).")
    else:
        out.print(f"Schema at {where} {'created' if before is None else 'upgraded'}: "
                  f"revision {before or '(empty)'} -> {after}.")


@app.command("import")
def import_cmd(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}"),
    file: Path = typer.Argument(..., help="A .csv or .xlsx export"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and report; write nothing."),
    encoding: Optional[str] = typer.Option(None, help="CSV encoding (default: detected; "
                                                      "utf-8, gb18030, gbk...)"),
) -> None:
    """Import a CRM export. All or nothing: any bad row means nothing is written."""
    settings = load_settings()
    if kind not in KINDS:
        err.print(f"Unknown kind {kind!r}. Use one of: {', '.join(KINDS)}, e.g. "
                  "tierbot import orders orders.csv")
        raise typer.Exit(2)
    with store(settings) as engine, _progress() as progress:
        try:
            summary = import_file(engine, kind, file, dry_run=dry_run, encoding=encoding,
                                  default_currency=settings.currency, progress=progress)
        except ImportFailed as exc:
            err.print(exc.report(), markup=False, highlight=False)
            raise typer.Exit(1) from None
    for warning in summary.warnings:
        err.print(f"warning: {warning}", markup=False)
    for line in summary.lines():
        out.print(line, markup=False, highlight=False)


@contextmanager
def _progress():
    """A progress-bar factory for big files, shown only on a terminal."""
    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), console=err, transient=True,
                   disable=not sys.stderr.isatty())
    with bar:
        def factory(total: int):
            task = bar.add_task("importing", total=total)
            return lambda position: bar.update(task, completed=position)
        yield factory


@app.command()
def demo(
    accounts: int = typer.Option(300, help="How many accounts to generate."),
    seed: int = typer.Option(7, help="Random seed: the same seed gives the same book."),
    today: Optional[str] = typer.Option(None, help="Pretend today is this date (YYYY-MM-DD)."),
    reset: bool = typer.Option(False, "--reset", help="Delete all existing data first."),
) -> None:
    """Load a realistic demo book (two teams, Chinese and English accounts, 3 years of orders)."""
    from storage.demo import DemoRefused, generate_demo, load_demo

    settings = load_settings()
    as_of = _parse_cli_date(today, "--today") if today else date.today()
    with store(settings, need_schema=False) as engine:
        upgrade(engine)
        book = generate_demo(accounts=accounts, seed=seed, today=as_of,
                             currency=settings.currency)
        try:
            counts = load_demo(engine, book, reset=reset)
        except DemoRefused as exc:
            err.print(str(exc))
            raise typer.Exit(1) from None
        teams = team_summaries(engine, today=as_of)
    out.print(f"Demo book loaded into {settings.safe_database_url()} (seed {seed}, today {as_of}):")
    for name, n in counts.items():
        out.print(f"  {n:>7,} {name}")
    out.print(f"\nTeams ({settings.currency}, last 12 months):")
    for t in teams:
        out.print(f"  {t.manager:<12} {t.reps} people, {t.accounts:>4} accounts, revenue "
                  f"{t.revenue_12m:>14,.2f}, {t.quiet_accounts} accounts quiet for 120+ days",
                  markup=False, highlight=False)
    out.print("\nTry next:\n"
              "  tierbot score                        # tier every account, show counts and movements\n"
              "  tierbot export scores | head         # tiers, RFM, churn risk, reasons per account\n"
              f"  tierbot backtest --as-of {as_of - timedelta(days=90)}   # how well the risk predicted\n"
              "  tierbot import orders examples/orders.csv --dry-run   # how imports report\n"
              "Reps to try: " + ", ".join(r["key"] for r in book.reps[:4]))


def _scoring_config(settings: Settings):
    from bot.scoring_config import load_scoring_config
    from scoring.config import ConfigError

    try:
        return load_scoring_config(settings.tiers_path)
    except ConfigError as exc:
        err.print(f"Tier configuration error: {exc}", markup=False)
        raise typer.Exit(2) from None


@app.command()
def score(as_of: Optional[str] = typer.Option(None, "--as-of",
                                              help="Score as of this date (default today).")) -> None:
    """Rescore the whole book, store a snapshot, and show tier counts and movements."""
    from bot.scoring_jobs import NothingToScore, rescore
    from scoring.config import TIERS

    settings = load_settings()
    config = _scoring_config(settings)
    day = _parse_cli_date(as_of, "--as-of") if as_of else date.today()
    with store(settings) as engine:
        try:
            result = rescore(engine, config, day)
        except NothingToScore as exc:
            err.print(str(exc), markup=False)
            raise typer.Exit(1) from None
    from messages.risk import model_sentence

    total = sum(result.counts.values())
    out.print(f"Scored {total:,} accounts as of {day} (run {result.run_id}).")
    out.print(model_sentence(result.risk_model, settings.locale), markup=False, highlight=False)
    for tier in TIERS:
        out.print(f"  {tier:<10} {result.counts.get(tier, 0):>7,}")
    if result.first_run:
        out.print("First snapshot: movements show from the next run on.")
    elif not result.moves:
        out.print("No tier movements since the previous snapshot.")
    else:
        out.print("Movements since the previous snapshot:")
        for (src, dst), n in sorted(result.moves.items(), key=lambda kv: -kv[1]):
            out.print(f"  {src:>10} -> {dst:<10} {n:>6,}")


export_app = typer.Typer(help="Export data.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("scores")
def export_scores(
    fmt: str = typer.Option("csv", "--format", help="csv or json"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write here instead of stdout."),
) -> None:
    """One row per account from the latest score snapshot."""
    import csv
    import io
    import json

    from storage.scores import EXPORT_COLUMNS, latest_snapshot_rows

    if fmt not in ("csv", "json"):
        err.print(f"--format must be csv or json, not {fmt!r}")
        raise typer.Exit(2)
    settings = load_settings()
    with store(settings) as engine:
        rows = latest_snapshot_rows(engine, settings.locale)
    if not rows:
        err.print("No scores yet: run `tierbot score` first.")
        raise typer.Exit(1)
    buffer = io.StringIO()
    if fmt == "json":
        json.dump(rows, buffer, ensure_ascii=False, indent=1, default=str)
        buffer.write("\n")
    else:
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    if out_file:
        out_file.write_text(buffer.getvalue(), encoding="utf-8")
        err.print(f"Wrote {len(rows):,} accounts to {out_file}.")
    else:
        sys.stdout.write(buffer.getvalue())


@app.command()
def backtest(
    as_of: Optional[list[str]] = typer.Option(
        None, "--as-of", help="A cut date: score with the data up to it (repeat for several; "
        "default: three cuts 91 days apart, the latest whose horizons have all ended)."),
    horizon_days: Optional[list[int]] = typer.Option(
        None, "--horizon-days", min=7, max=730,
        help="Then look this far ahead (repeat for several; default 30, 90 and 180 without "
             "--as-of, the configured horizon with it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    chart: Optional[Path] = typer.Option(None, "--chart", help="Draw the calibration as a PNG here."),
    reps: int = typer.Option(200, "--reps", min=20, max=5000, help="Bootstrap resamples."),
) -> None:
    """How well the churn risk predicted who stopped buying, against recency alone and
    BG/NBD: ROC AUC with bootstrap 95% intervals, top-decile lift, calibration."""
    import json

    from bot.scoring_jobs import (BACKTEST_HORIZONS, NothingToScore, backtest_many,
                                  default_cuts)

    settings = load_settings()
    config = _scoring_config(settings)
    today = date.today()
    horizons = list(horizon_days or ([int(config.risk["horizon_days"])] if as_of
                                     else BACKTEST_HORIZONS))
    cuts = ([_parse_cli_date(d, "--as-of") for d in as_of] if as_of
            else default_cuts(today, horizons))
    with store(settings) as engine:
        try:
            results = backtest_many(engine, config, cuts, horizons, today=today, reps=reps)
        except NothingToScore as exc:
            err.print(str(exc), markup=False)
            raise typer.Exit(1) from None
    if chart:
        from bot.backtest_chart import calibration_png

        chart.write_bytes(calibration_png(results))
        err.print(f"Wrote the calibration chart to {chart}.")
    if as_json:
        figures = [r.as_dict() for r in results]
        out.print(json.dumps(figures[0] if len(figures) == 1 else figures), markup=False,
                  highlight=False)
        return
    for r in results:
        _print_backtest(r)


def _print_backtest(r) -> None:
    from messages.risk import model_sentence

    def auc(name):
        lo, hi = r.auc_ci[name]
        return f"{r.auc[name]:.3f} [{lo:.3f}, {hi:.3f}]"

    def diff(name):
        d, lo, hi = r.diff[name]
        return f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    rows = [
        ("as of / horizon", f"{r.as_of} / {r.horizon_days} days"),
        ("accounts (had ordered)", f"{r.accounts:,}"),
        ("no order in the horizon", f"{r.churned:,} ({_pct(r.churned, r.accounts)})"),
        ("ROC AUC, churn risk", auc("risk")),
        ("ROC AUC, recency alone", auc("recency")),
        ("ROC AUC, BG/NBD", auc("bgnbd")),
        ("risk minus recency", diff("risk-recency")),
        ("risk minus BG/NBD", diff("risk-bgnbd")),
        ("top decile precision", f"{r.top_decile_precision:.1%}"),
        ("top decile lift", f"{r.top_decile_lift:.2f}x"),
    ]
    for label, value in rows:
        out.print(f"  {label:<28} {value}", markup=False, highlight=False)
    out.print("  " + model_sentence({"kind": r.model["kind"], "reason": r.model["reason"],
                                     "horizon_days": r.horizon_days, "facts": r.model["facts"]}),
              markup=False, highlight=False)
    out.print("  calibration (decile of risk: predicted % / observed % no order):",
              markup=False, highlight=False)
    out.print("    " + "  ".join(f"{c['decile']}: {c['predicted_pct']:.0f}/{c['observed_pct']:.0f}"
                                 for c in r.calibration), markup=False, highlight=False)
    out.print("  (95% intervals: bootstrap over accounts)\n", markup=False, highlight=False)


def _services(settings: Settings, engine):
    from bot.commands import Services

    return Services(engine=engine, settings=settings, scoring=_scoring_config(settings))


def _default_rep(engine) -> str:
    """The first manager (the demo's team lead), else the first rep."""
    import sqlalchemy as sa

    from storage.models import Rep

    with engine.connect() as conn:
        key = conn.execute(sa.select(Rep.key).order_by((Rep.role != "manager"), Rep.id)
                           .limit(1)).scalar()
    if key is None:
        err.print("There are no reps yet: import them (tierbot import reps FILE) or load the "
                  "demo (tierbot demo).")
        raise typer.Exit(1)
    return key


def _answer(services, rep: str, text: str, channel: str, locale: Optional[str]) -> str:
    import json

    from bot.commands import Request, dispatch
    from messages.render import render_for

    reply = dispatch(Request("console", rep, text, channel=channel, locale=locale), services)
    shown = render_for(reply.template, reply.context, channel=channel, locale=reply.locale)
    return shown if isinstance(shown, str) else json.dumps(shown, ensure_ascii=False, indent=1)


@app.command()
def ask(
    text: str = typer.Argument(..., help='The command, e.g. "/tier ACME" or "/分层 华锐".'),
    as_rep: Optional[str] = typer.Option(None, "--as", help="Rep key to act as (default: first manager)."),
    channel: str = typer.Option("text", help="Render as this channel receives it: text, slack "
                                             "(Block Kit JSON) or wecom (markdown)."),
    locale: Optional[str] = typer.Option(None, help="en or zh (default: the rep's own)."),
) -> None:
    """Run one chat command and print exactly what the channel would receive."""
    if channel not in ("text", "slack", "wecom"):
        err.print(f"--channel must be text, slack or wecom, not {channel!r}")
        raise typer.Exit(2)
    settings = load_settings()
    with store(settings) as engine:
        services = _services(settings, engine)
        print(_answer(services, as_rep or _default_rep(engine), text, channel, locale))


@app.command()
def console(
    as_rep: Optional[str] = typer.Option(None, "--as", help="Rep key to act as (default: first manager)."),
    locale: Optional[str] = typer.Option(None, help="en or zh (default: the rep's own)."),
) -> None:
    """An interactive chat with tierbot in the terminal (the same dispatch as Slack and WeCom)."""
    import readline
    from pathlib import Path as _Path

    settings = load_settings()
    history = _Path.home() / ".tierbot_history"
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    with store(settings) as engine:
        services = _services(settings, engine)
        rep = as_rep or _default_rep(engine)
        out.print(f"tierbot console as {rep}. Type /help for commands, /quit or Ctrl-D to leave.",
                  markup=False)
        while True:
            try:
                line = input(f"{rep}> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if line in ("/quit", "/exit", "quit", "exit"):
                break
            if line:
                print(_answer(services, rep, line, "text", locale))
    try:
        readline.write_history_file(history)
    except OSError:
        pass


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


NO_PLATFORM = ("No chat platform is configured (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, "
               "or the WECOM_* settings)")


def _service_logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop) ends a service like Ctrl-C: cleanly."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


@app.command()
def serve(
    host: Optional[str] = typer.Option(None, help="Listen address (default TIERBOT_HTTP_HOST)."),
    port: Optional[int] = typer.Option(None, help="Port (default TIERBOT_HTTP_PORT; 0 = any free)."),
    with_scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler",
                                        help="Also run the scheduler (digests, reminders)."),
) -> None:
    """Run the bot: Slack at /slack/events (or Socket Mode), WeCom at /wecom/callback, /healthz,
    and the scheduler (one instance leads; the others stand by)."""
    from bot.serve import SetupError, build

    _service_logging()
    # Acks are short and must not wait behind a long command on another thread: switch
    # threads more often than Python's default 5 ms.
    sys.setswitchinterval(0.001)
    settings = load_settings()
    with store(settings) as engine:
        services = _services(settings, engine)
        try:
            running = build(services, settings, host=host, port=port)
        except SetupError as exc:
            err.print(f"[red]Cannot start:[/red] {exc}")
            raise typer.Exit(2) from None
        if running.slack_mode == "off" and not running.wecom:
            err.print(f"{NO_PLATFORM}; serving /healthz only.")
        if with_scheduler:
            from bot.scheduler.wiring import build_scheduler
            scheduler = build_scheduler(services, settings)
            scheduler.start()
            running.closers.append(scheduler.shutdown)
        out.print(f"tierbot listening on {running.server.url} (slack: {running.slack_mode}, "
                  f"wecom: {'on' if running.wecom else 'off'})", markup=False, highlight=False)
        sys.stdout.flush()
        _stop_on_sigterm()
        try:
            running.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()
            out.print("tierbot stopped.")


@app.command("scheduler")
def scheduler_cmd() -> None:
    """Run only the scheduler (weekly digests, daily reminders, nightly rescore)."""
    import threading

    from bot.scheduler.wiring import build_scheduler

    _service_logging()
    settings = load_settings()
    if not (settings.slack_enabled or settings.wecom_enabled):
        err.print(f"{NO_PLATFORM}, so there is nowhere to send digests.")
        raise typer.Exit(2)
    with store(settings) as engine:
        scheduler = build_scheduler(_services(settings, engine), settings)
        scheduler.start()
        out.print("tierbot scheduler running (only the leading instance sends).")
        sys.stdout.flush()
        _stop_on_sigterm()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            scheduler.shutdown()
            out.print("tierbot scheduler stopped.")


@app.command()
def digest(
    rep: Optional[str] = typer.Option(None, "--rep", help="Only this rep (key)."),
    preview: bool = typer.Option(False, "--preview", help="Print the digest as the console shows it."),
    send_now: bool = typer.Option(False, "--send-now",
                                  help="Send this period's digests now (each at most once)."),
    locale: Optional[str] = typer.Option(None, "--locale", help="en or zh (preview)."),
) -> None:
    """Preview a rep's weekly digest, or send this week's digests now."""
    from bot.scheduler.wiring import build_deliverer

    if preview == send_now:
        err.print("Choose one: tierbot digest --preview [--rep KEY]  or  "
                  "tierbot digest --send-now [--rep KEY]")
        raise typer.Exit(2)
    settings = load_settings()
    with store(settings) as engine:
        services = _services(settings, engine)
        if preview:
            key = rep or _default_rep(engine)
            out.print(_answer(services, key, "/digest", "text", locale), markup=False,
                      highlight=False)
            return
        if not (settings.slack_enabled or settings.wecom_enabled):
            err.print(f"{NO_PLATFORM} (see the README).")
            raise typer.Exit(2)
        deliverer = build_deliverer(services, settings)
        if rep and not deliverer.recipients({rep}):
            err.print(f"There is no rep with the key {rep!r}.")
            raise typer.Exit(1)
        counts = deliverer.send_now("digest", only={rep} if rep else None)
        out.print("digests: " + (", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
                                 or "no reps"), markup=False, highlight=False)
        if counts.get("failed"):
            raise typer.Exit(1)


@app.command()
def deliveries(
    limit: int = typer.Option(30, help="How many of the most recent to show."),
    failed: bool = typer.Option(False, "--failed", help="Only failed deliveries."),
) -> None:
    """Recent digests and reminders: sent, failed (with the error), skipped."""
    from storage.deliveries import recent

    settings = load_settings()
    with store(settings) as engine:
        rows = recent(engine, limit=limit, status="failed" if failed else None)
    if not rows:
        out.print("No deliveries yet." if not failed else "No failed deliveries.")
        return
    out.print(f"{'when (UTC)':<16}  {'rep':<14} {'kind':<8} {'period':<10} {'channel':<7} "
              f"{'status':<8} tries  error", markup=False, highlight=False)
    for r in rows:
        out.print(f"{r['created_at']:%Y-%m-%d %H:%M}  {r['rep']:<14} {r['kind']:<8} "
                  f"{r['period']:<10} {r['channel']:<7} {r['status']:<8} {r['attempts']:>5}  "
                  f"{r['last_error'] or ''}", markup=False, highlight=False)


def _parse_cli_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"{option} must be a date like 2026-11-22, not {value!r}")
        raise typer.Exit(2) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
