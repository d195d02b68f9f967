"""The `tierbot` command line: the composition root that builds settings and the engine."""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from collections.abc import Sequence
from typing import Optional

import typer
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from bot.settings import Settings
from messages.render import money
from storage.engine import build_engine
from storage.importing import KINDS, ImportFailed, import_file
from storage.migrate import current_revision, head_revision, upgrade
from storage.queries import team_summaries

app = typer.Typer(help="tierbot: B2B account tiering in Slack, WeCom and the console.",
                  no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"tierbot {version('tierbot')}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print tierbot's version and exit.")) -> None:
    """tierbot: B2B account tiering in Slack, WeCom and the console."""


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
    """The environment variable a field is read from (SLACK_BOT_TOKEN, TIERBOT_LOCALE...).

    pydantic reports a field read through an alias under the alias it matched
    (`WECOM_AGENT_ID` or `wecom_agent_id`): that is the field's own variable name."""
    for field in Settings.model_fields.values():
        choices = getattr(field.validation_alias, "choices", None) or ()
        if name in choices or name.upper() in choices:
            return str(choices[0])
    field = Settings.model_fields.get(name)
    alias = getattr(field, "validation_alias", None) if field else None
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return "TIERBOT_" + name.upper()


def _database_name(settings: Settings) -> str:
    try:
        return settings.safe_database_url()
    except Exception:  # not even a URL: say so without echoing what may hold a password
        return "not a URL"


def database_trouble(settings: Settings, exc: BaseException) -> str:
    """One message for a database that can't be used: what is wrong and what to do."""
    where = _database_name(settings)
    if isinstance(exc, (sa_exc.ArgumentError, ImportError)):
        return (f"TIERBOT_DATABASE_URL is not a database tierbot can use ({where}). Set it, in "
                "the environment or .env, to sqlite:///tierbot.db (a file) or "
                "postgresql://USER:PASSWORD@HOST:5432/DBNAME.")
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    check = ("that the file's folder exists and is writable" if where.startswith("sqlite")
             else "that the server is running and reachable, and that the user, password and "
                  "database exist (see PostgreSQL in the README)")
    return (f"Cannot use the database {where}: {reason}. Check TIERBOT_DATABASE_URL (in the "
            f"environment or .env): {check}.")


@contextmanager
def store(settings: Settings, *, need_schema: bool = True):
    """The engine for the configured database; refuses to run on a missing or old schema,
    and says what to fix when the database can't be reached (never a traceback)."""
    try:
        engine = build_engine(settings.database_url)
        with engine.connect():
            pass
    except (sa_exc.ArgumentError, sa_exc.DBAPIError, ImportError) as exc:
        err.print(database_trouble(settings, exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
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
    strict: bool = typer.Option(False, "--strict", help="Refuse the file on doubtful rows too "
                                                        "(future order dates, outlier amounts, "
                                                        "a next date before its contact)."),
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
                                  default_currency=settings.currency, progress=progress,
                                  waiting=lambda why: err.print(why, markup=False),
                                  strict=strict)
        except ImportFailed as exc:
            err.print(exc.report(), markup=False, highlight=False)
            raise typer.Exit(1) from None
    for warning in summary.warnings:
        err.print(f"warning: {warning}", markup=False)
    for doubt in summary.doubts:
        err.print(f"warning: {doubt}", markup=False, highlight=False)
    if summary.doubts_total > len(summary.doubts):
        err.print(f"warning: ... and {summary.doubts_total - len(summary.doubts):,} more like "
                  "these.", markup=False)
    if summary.doubts_total:
        err.print("These rows were imported; run with --strict to refuse such a file instead.",
                  markup=False)
    for line in summary.lines():
        out.print(line, markup=False, highlight=False)
    if kind == "rates":
        out.print(f"  Each rate is how many {settings.currency} (TIERBOT_CURRENCY, the reporting "
                  f"currency) one unit of its currency is worth, from its date on: amounts are "
                  f"converted into {settings.currency} from the next `tierbot score`.",
                  markup=False, highlight=False)


@app.command()
def rates() -> None:
    """The exchange rates imported, per currency, and the order currencies that lack one."""
    from storage.rates import currencies_without_rates, rates_overview

    settings = load_settings()
    with store(settings) as engine, engine.connect() as conn:
        rows = rates_overview(conn)
        missing = currencies_without_rates(conn, settings.currency)
    reporting = settings.currency
    mine = [r for r in rows if r["into"] == reporting]
    out.print(f"Reporting currency: {reporting} (TIERBOT_CURRENCY). "
              + ("No rates into it yet." if not mine else "Rates into it:"), markup=False)
    for r in mine:
        out.print(f"  {r['currency']}  {r['rates']:>5,} rate{'s' if r['rates'] != 1 else ''}, "
                  f"{r['first']} to {r['last']}; latest: 1 {r['currency']} = "
                  f"{r['latest'].normalize():f} {reporting}", markup=False, highlight=False)
    others = sorted({r["into"] for r in rows} - {reporting})
    if others:
        out.print(f"Rates into other currencies (unused while the reporting currency is "
                  f"{reporting}): {', '.join(others)}.", markup=False)
    if missing:
        out.print(f"Orders in {', '.join(missing)} have no rate into {reporting}: "
                  "`tierbot score` refuses until you import them (tierbot import rates FILE).",
                  markup=False)


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
    reset: bool = typer.Option(False, "--reset", help="Replace an earlier demo book (refused "
                                                      "when the database holds other data)."),
    force: bool = typer.Option(False, "--force", help="With --reset: delete everything, "
                                                      "imported data included."),
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
            counts = load_demo(engine, book, reset=reset, force=force)
        except DemoRefused as exc:
            err.print(str(exc), markup=False, highlight=False)
            raise typer.Exit(1) from None
        teams = team_summaries(engine, today=as_of, currency=settings.currency)
    out.print(f"Demo book loaded into {settings.safe_database_url()} (seed {seed}, today {as_of}):")
    for name, n in counts.items():
        out.print(f"  {n:>7,} {name}")
    out.print(f"\nTeams ({settings.currency}, last 12 months):")
    for t in teams:
        out.print(f"  {t.manager:<12} {t.reps} people, {t.accounts:>4} accounts, revenue "
                  f"{money(t.revenue_12m, settings.currency, settings.locale):>14}, "
                  f"{t.quiet_accounts} accounts quiet for 120+ days",
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


def _company_today(settings: Settings) -> date:
    """Today in the company's timezone: the day the nightly rescore and the chat use."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(settings.timezone)).date()


@app.command()
def score(as_of: Optional[str] = typer.Option(None, "--as-of",
                                              help="Score as of this date (default today; "
                                                   "not after today).")) -> None:
    """Rescore the whole book, store a snapshot, and show tier counts and movements."""
    from bot.scoring_jobs import NothingToScore, rescore
    from scoring.config import TIERS

    settings = load_settings()
    config = _scoring_config(settings)
    today = _company_today(settings)
    day = _parse_cli_date(as_of, "--as-of") if as_of else today
    with store(settings) as engine:
        try:
            result = rescore(engine, config, day, today=today, currency=settings.currency)
        except NothingToScore as exc:
            err.print(str(exc), markup=False)
            raise typer.Exit(1) from None
    from messages.risk import model_sentence

    total = sum(result.counts.values())
    out.print(f"Scored {total:,} accounts as of {day} (run {result.run_id}).")
    out.print(model_sentence(result.risk_model, settings.locale), markup=False, highlight=False)
    for tier in TIERS:
        out.print(f"  {tier:<10} {result.counts.get(tier, 0):>7,}")
    if result.current is not None:
        run_id, run_as_of = result.current
        out.print(f"This run is dated before the current run {run_id} (as of {run_as_of}): it "
                  "is kept as history, and cards, lists, digests and alerts still use run "
                  f"{run_id}. `tierbot runs` lists the runs.")
    if result.first_run:
        out.print("First snapshot: movements show from the next run on."
                  if result.current is None else
                  f"No run dated on or before {day} to compare with: no movements.")
    elif not result.moves:
        out.print("No tier movements since the previous snapshot.")
    else:
        out.print("Movements since the previous snapshot:")
        for (src, dst), n in sorted(result.moves.items(), key=lambda kv: -kv[1]):
            out.print(f"  {src:>10} -> {dst:<10} {n:>6,}")


runs_app = typer.Typer(help="List score runs, or delete one.", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


@runs_app.callback()
def runs(ctx: typer.Context) -> None:
    """List score runs, newest first; the current one (what every card uses) is marked."""
    if ctx.invoked_subcommand is not None:
        return
    from storage.scores import list_runs

    settings = load_settings()
    today = _company_today(settings)
    with store(settings) as engine:
        rows = list_runs(engine)
    if not rows:
        out.print("No score runs yet: run `tierbot score`.")
        return
    out.print(f"{'run':>5}  {'as of':<10}  {'created (UTC)':<16}  {'accounts':>8}", markup=False)
    for r in rows:
        note = "  current" if r["current"] else ""
        if r["as_of"] > today:
            note += "  dated after today: delete it (tierbot runs delete %d)" % r["id"]
        out.print(f"{r['id']:>5}  {r['as_of'].isoformat():<10}  {_utc(r['created_at'])}  "
                  f"{r['accounts']:>8,}{note}", markup=False, highlight=False)
    out.print("The current run is the newest by as-of date (then the latest made); cards, "
              "lists, digests and alerts use it.", markup=False)


def _utc(moment) -> str:
    from datetime import timezone

    if moment.tzinfo is None:  # SQLite hands timestamps back without their zone (UTC)
        moment = moment.replace(tzinfo=timezone.utc)
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M}"


@runs_app.command("delete")
def runs_delete(run_id: int = typer.Argument(..., help="The run's number (see tierbot runs)."),
                yes: bool = typer.Option(False, "--yes", help="Don't ask for confirmation.")) -> None:
    """Delete one score run and its snapshots (asks first; --yes doesn't)."""
    from storage.scores import delete_run, list_runs

    settings = load_settings()
    with store(settings) as engine:
        rows = list_runs(engine)
        run = next((r for r in rows if r["id"] == run_id), None)
        if run is None:
            err.print(f"There is no score run {run_id}. `tierbot runs` lists them.")
            raise typer.Exit(1)
        what = f"run {run_id} (as of {run['as_of']}, {run['accounts']:,} account snapshots)"
        if run["current"]:
            rest = [r for r in rows if r["id"] != run_id]
            then = (f"run {rest[0]['id']} (as of {rest[0]['as_of']}) becomes the current run: "
                    "every card, list and digest will show its scores"
                    if rest else "no run is left: cards say 'not scored' until the next score")
            out.print(f"{what} is the current run; if you delete it, {then}.", markup=False)
        if not yes and not typer.confirm(f"Delete {what}?", default=False):
            err.print("Nothing deleted.")
            raise typer.Exit(1)
        delete_run(engine, run_id)
    out.print(f"Deleted {what}.", markup=False)


export_app = typer.Typer(help="Export data.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("scores")
def export_scores(
    fmt: Optional[str] = typer.Option(None, "--format",
                                      help="csv, json or xlsx (default: from --out's suffix, "
                                           "else csv)"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write here instead of stdout."),
) -> None:
    """One row per account from the latest score snapshot. Files are Excel-ready: CSV with a
    UTF-8 byte order mark (so Chinese names open correctly), or a real .xlsx workbook."""
    from messages.warnings import describe
    from storage.scores import EXPORT_COLUMNS, latest_snapshot_rows

    fmt = _export_format(fmt, out_file)
    settings = load_settings()
    with store(settings) as engine:
        rows = latest_snapshot_rows(
            engine, today=_company_today(settings), cadence=_scoring_config(settings).cadence_days,
            currency=settings.currency,
            say=lambda w, cur: describe(w, settings.locale, lambda v: money(v, cur, settings.locale)))
    if not rows:
        err.print("No scores yet: run `tierbot score` first.")
        raise typer.Exit(1)
    if fmt == "xlsx":
        _write_xlsx(out_file, EXPORT_COLUMNS, rows)
    else:
        text = _export_text(fmt, EXPORT_COLUMNS, rows)
        if out_file is None:
            sys.stdout.write(text)
            return
        # utf-8-sig: the BOM is how Excel knows a CSV is UTF-8 (else it reads GBK/ANSI).
        out_file.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
    err.print(f"Wrote {len(rows):,} accounts to {out_file}.")


EXPORT_FORMATS = {".csv": "csv", ".json": "json", ".xlsx": "xlsx"}


def _export_format(fmt: Optional[str], out_file: Optional[Path]) -> str:
    """The format asked for, checked against the file's suffix: never a CSV named .xlsx."""
    suffix = out_file.suffix.lower() if out_file else ""
    if fmt is not None and fmt not in EXPORT_FORMATS.values():
        err.print(f"--format must be csv, json or xlsx, not {fmt!r}")
        raise typer.Exit(2)
    if out_file is not None and suffix not in EXPORT_FORMATS:
        err.print(f"Can't write {out_file.name}: name the file .csv, .json or .xlsx "
                  "(Excel opens .csv and .xlsx; .xls is not written).")
        raise typer.Exit(2)
    fmt = fmt or EXPORT_FORMATS.get(suffix, "csv")
    if out_file is not None and EXPORT_FORMATS[suffix] != fmt:
        err.print(f"--format {fmt} does not match the file name {out_file.name}: name it "
                  f"*.{fmt} or leave --format out.")
        raise typer.Exit(2)
    if fmt == "xlsx" and out_file is None:
        err.print("An .xlsx workbook needs a file: add --out scores.xlsx")
        raise typer.Exit(2)
    return fmt


def _export_text(fmt: str, columns: Sequence[str], rows: list[dict]) -> str:
    import csv
    import io
    import json

    buffer = io.StringIO()
    if fmt == "json":
        json.dump(rows, buffer, ensure_ascii=False, indent=1, default=str)
        buffer.write("\n")
    else:
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def _write_xlsx(path: Path, columns: Sequence[str], rows: list[dict]) -> None:
    """A real workbook (openpyxl, write-only so big books stream): numbers stay numbers."""
    from datetime import date as _date
    from decimal import Decimal

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("scores")
    sheet.append(columns)
    for row in rows:
        sheet.append([_cell(row.get(c), _date, Decimal) for c in columns])
    book.save(path)


def _cell(value, date_type, decimal_type):
    if value is None or isinstance(value, (int, float, str, date_type)):
        return value
    if isinstance(value, decimal_type):
        return float(value)
    return str(value)


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
            results = backtest_many(engine, config, cuts, horizons, today=today, reps=reps,
                                    currency=settings.currency)
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


def _person_or_exit(services, rep: str, locale: Optional[str]):
    """The rep acting in `ask`, `console` or a digest preview; an unknown key is the chat's
    own "I don't know you" message (in `locale`, else the company's), and exit status 1."""
    from bot.commands import Request
    from bot.commands.core import UserError
    from bot.commands.people import identify
    from messages.render import render

    try:
        return identify(Request("console", rep, ""), services)
    except UserError as exc:
        err.print(render("error", {"code": exc.code, **exc.params}, channel="text",
                         locale=locale or services.settings.locale), markup=False,
                  highlight=False)
        raise typer.Exit(1) from None


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
        rep = as_rep or _default_rep(engine)
        _person_or_exit(services, rep, locale)
        print(_answer(services, rep, text, channel, locale))


QUIT_WORDS = {"quit", "exit", "退出"}


@app.command()
def console(
    as_rep: Optional[str] = typer.Option(None, "--as", help="Rep key to act as (default: first manager)."),
    locale: Optional[str] = typer.Option(None, help="en or zh (default: the rep's own)."),
) -> None:
    """An interactive chat with tierbot in the terminal (the same dispatch as Slack and WeCom)."""
    import readline
    from pathlib import Path as _Path

    from messages.render import render

    settings = load_settings()
    history = _Path.home() / ".tierbot_history"
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    with store(settings) as engine:
        services = _services(settings, engine)
        rep = as_rep or _default_rep(engine)
        person = _person_or_exit(services, rep, locale)
        out.print(render("console_banner", {"rep": rep}, channel="text",
                         locale=locale or person.locale or settings.locale),
                  markup=False, highlight=False)
        while True:
            try:
                line = input(f"{rep}> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if line.lstrip("/／").casefold() in QUIT_WORDS:
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


# Libraries whose INFO is about their own workings (APScheduler: every job added, run
# and finished, a tick every 15 s; Alembic: its dialect at each start), not about
# tierbot's: warnings only, unless TIERBOT_LOG_LEVEL=DEBUG.
CHATTY_LOGGERS = ("apscheduler", "alembic")


def _service_logging(settings: Settings) -> None:
    # One handler and format for everything, uvicorn's "uvicorn.error" logger included
    # (its own logging config is not used); uvicorn's access log is off: bot.http_guard
    # writes one that escapes what clients send.
    level = getattr(logging, settings.log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(level if level == logging.DEBUG
                                         else max(level, logging.WARNING))


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
    from bot.server import raise_open_files_limit

    settings = load_settings()
    _service_logging(settings)
    before, after = raise_open_files_limit()
    if after > before:
        logging.getLogger("tierbot.serve").info("open files limit raised from %d to %d",
                                                before, after)
    with store(settings) as engine:
        services = _services(settings, engine)
        try:
            running = build(services, settings, host=host, port=port)
        except SetupError as exc:
            err.print(f"[red]Cannot start:[/red] {exc}")
            raise typer.Exit(2) from None
        except OSError as exc:  # the address is taken or not ours
            where = f"{host or settings.http_host}:{settings.http_port if port is None else port}"
            err.print(f"[red]Cannot start:[/red] cannot listen on {escape(where)} "
                      f"({escape(exc.strerror or str(exc))}). Choose another with --host/--port "
                      "or TIERBOT_HTTP_HOST/TIERBOT_HTTP_PORT.", highlight=False)
            raise typer.Exit(2) from None
        if running.slack_mode == "off" and not running.wecom:
            err.print(f"{NO_PLATFORM}; serving /healthz only.")
        if with_scheduler:
            from bot.scheduler.wiring import build_scheduler
            scheduler = build_scheduler(services, settings)
            scheduler.start()
            running.closers.append(scheduler.shutdown)
        _stop_on_sigterm()
        try:
            running.server.start()
            out.print(f"tierbot listening on {running.server.url} (slack: {running.slack_mode}, "
                      f"wecom: {'on' if running.wecom else 'off'})", markup=False,
                      highlight=False)
            sys.stdout.flush()
            running.server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            running.stop()  # drains the server first, then the adapters and the scheduler
            out.print("tierbot stopped.")


@app.command("scheduler")
def scheduler_cmd() -> None:
    """Run only the scheduler (weekly digests, daily reminders, nightly rescore)."""
    import threading

    from bot.scheduler.wiring import build_scheduler

    settings = load_settings()
    _service_logging(settings)
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
            _person_or_exit(services, key, locale)
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
    try:
        app()
    except sa_exc.OperationalError as exc:
        # The database went away mid-command (the start was checked by `store`).
        err.print(database_trouble(load_settings(), exc), markup=False, highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
