"""The ``gridatlas`` command line: sample, import, validate, impact, locate, keys, serve and demo.

Like the HTTP app, every command builds its settings and engine here and hands them down.
Domain errors print their message (naming field, row and value) and exit with status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from api.settings import DEFAULT_SAMPLE_DIR, Settings
from gis.errors import GridAtlasError, InvalidInput

__all__ = ["app", "main"]

app = typer.Typer(help="GridAtlas: customers tied to the distribution grid.", no_args_is_help=True, add_completion=False)
import_app = typer.Typer(help="Load data into the store.", no_args_is_help=True)
app.add_typer(import_app, name="import")
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)


def _settings(database_url: str | None) -> Settings:
    try:
        return Settings(database_url=database_url) if database_url else Settings()
    except ValueError as exc:
        console.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A Rich progress bar, shown from the first report on (quick no-op runs print nothing)."""
    bar = Progress(TextColumn("{task.description:<24}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn(), console=console, transient=False)
    task = bar.add_task("starting", total=1)
    started = False

    def report(stage: str, done: int, total: int) -> None:
        nonlocal started
        if not started:
            bar.start()
            started = True
        bar.update(task, description=stage, completed=done, total=max(total, 1))

    try:
        yield report
    finally:
        if started:
            bar.stop()


def _engine(settings: Settings, *, migrate: bool = True):
    from gis.db import make_engine
    from gis.db import migrate as run_migrations

    engine = make_engine(settings.database_url)
    if migrate:
        run_migrations(engine)
    return engine


@contextmanager
def _store(database_url: str | None) -> Iterator[Any]:
    """The migrated store of the settings (``--database-url`` overriding), disposed of after the block."""
    engine = _engine(_settings(database_url))
    try:
        yield engine
    finally:
        engine.dispose()


def _snapshot(settings: Settings):
    """The compiled grid of the store's current data version; exit 2 when the store is empty."""
    from api.state import load_snapshot

    engine = _engine(settings)
    try:
        snapshot = load_snapshot(engine)
    finally:
        engine.dispose()
    if snapshot is None:
        console.print("the store holds no data: run `gridatlas import city DIR` first")
        raise typer.Exit(2)
    return snapshot


DbOption = Annotated[Optional[str], typer.Option("--database-url", help="overrides GRIDATLAS_DATABASE_URL")]


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Argument(help="folder to write grid.gpkg, customers.csv, interactions.csv into")],
    customers: Annotated[int, typer.Option(min=100, max=2_000_000)] = 5000,
    seed: Annotated[int, typer.Option()] = 42,
    interactions: Annotated[Optional[int], typer.Option(
        min=0, max=50_000_000, help="exactly this many interactions (default: ≈ 1.5 per customer and year)")] = None,
) -> None:
    """Generate a deterministic sample city around Foshan (same seed → identical files)."""
    from loaders.sample_city import generate_city

    with _progress() as report:
        manifest = generate_city(out_dir, customers=customers, seed=seed, progress=report, interactions=interactions)
    counts = manifest.to_dict()["counts"]
    console.print(f"wrote {out_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@import_app.command("city")
def import_city_cmd(
    directory: Annotated[Path, typer.Argument(help="a folder written by `gridatlas sample`")] = DEFAULT_SAMPLE_DIR,
    database_url: DbOption = None,
) -> None:
    """Validate and load a city folder into the store in one transaction (idempotent)."""
    from loaders.city import CityImportError, import_city

    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        with _progress() as report:
            result = import_city(engine, directory, service_area=settings.service_area, progress=report)
    except CityImportError as exc:
        console.print(f"[red]refused: {len(exc.problems)} bad row(s); nothing was loaded[/red]")
        for problem in exc.problems[:50]:
            console.print(f"  {problem}")
        if len(exc.problems) > 50:
            console.print(f"  … and {len(exc.problems) - 50} more")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if result.unchanged:
        console.print(f"already loaded (data version {result.data_version}); nothing changed")
    else:
        console.print(f"loaded data version {result.data_version}: " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    _report_kept(result)


def _report_kept(result) -> None:
    """Print the manual corrections a load kept (the first 20); every load that reports them as
    notes rather than reject lines (city, pandapower/SimBench) ends here."""
    if not result.kept_corrections:
        return
    kept = result.kept_corrections
    accounts = len({k.account_no for k in kept})
    console.print(f"[yellow]kept {len(kept)} manual correction(s) of {accounts} customer(s) newer than the file's "
                  "verification date (not overwritten):[/yellow]")
    for k in kept[:20]:
        console.print(f"  {k}", markup=False, soft_wrap=True)
    if len(kept) > 20:
        console.print(f"  … and {len(kept) - 20} more")


# --- Loading a utility's own data: GIS layers, customer archives, export (exit 0 / 3 / 2) ---------


def _finish_load(result, rejects_path: Path) -> None:
    """Print what a load did, write the reject report, and exit 0 (all loaded) or 3 (rows rejected)."""
    for note in result.notes:
        console.print(f"  {note}", markup=False)
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    if result.unchanged:
        console.print(f"already loaded (data version {result.data_version}); nothing changed ({counts} accepted)")
    elif result.data_version is None:
        console.print("nothing was loaded: no row was accepted")
    else:
        console.print(f"loaded data version {result.data_version}: {counts}")
    raise typer.Exit(_report_rejects(result, rejects_path, shown=20))


def _report_rejects(result, rejects_path: Path, *, shown: int) -> int:
    """Write the reject report (formula-safe) and show its first lines, or remove an earlier report
    that no longer applies; returns the exit code (0 all loaded, 3 rows rejected). Every load
    command that rejects rows ends here."""
    from loaders.rejects import is_reject_report, write_rejects

    if result.rejected_rows:
        write_rejects(rejects_path, result.rejects)
        console.print(f"[yellow]{result.rejected_rows} row(s) rejected; report: {rejects_path}[/yellow]")
        for reject in result.rejects[:shown]:
            console.print(f"  {reject}", markup=False, soft_wrap=True)
        if len(result.rejects) > shown:
            console.print(f"  … {len(result.rejects) - shown} more lines in the report")
        return result.exit_code
    if is_reject_report(rejects_path):  # a report from an earlier run no longer applies
        rejects_path.unlink()
        console.print(f"removed the earlier reject report {rejects_path}: every row loaded this time", markup=False)
    return result.exit_code


def _refused(exc: GridAtlasError) -> typer.Exit:
    from rich.markup import escape

    console.print("[red]refused, nothing was loaded:[/red] " + escape(exc.message), soft_wrap=True)
    return typer.Exit(2)


RejectsOption = Annotated[Optional[Path], typer.Option("--rejects", help="reject report path (default: <input>.rejects.csv)")]


def _run_load(settings: Settings, load: Callable[..., Any]) -> Any:
    """Run ``load(engine, progress=…)`` with a progress bar; a refused input exits 2."""
    engine = _engine(settings)
    try:
        with _progress() as report:
            return load(engine, progress=report)
    except GridAtlasError as exc:
        raise _refused(exc) from exc
    finally:
        engine.dispose()


@import_app.command("layers")
def import_layers_cmd(
    mapping: Annotated[Path, typer.Argument(help="TOML mapping of source files/layers/columns to GridAtlas tables")],
    rejects: RejectsOption = None,
    database_url: DbOption = None,
) -> None:
    """Load a GIS export (Shapefile, GeoPackage, GeoJSON, FlatGeobuf, CSV) through a mapping file.

    Exit 0: all rows loaded; 3: some rows rejected (report written, the rest loaded);
    2: input unusable (nothing loaded).
    """
    from loaders.gis_layers import import_layers
    from loaders.rejects import default_rejects_path

    settings = _settings(database_url)
    result = _run_load(settings, lambda engine, progress: import_layers(
        engine, mapping, service_area=settings.service_area, progress=progress))
    _finish_load(result, rejects or default_rejects_path(mapping))


@import_app.command("customers")
def import_customers_cmd(
    file: Annotated[Path, typer.Argument(help="customer archive: CSV (UTF-8 or GBK) or XLSX, Chinese headers welcome")],
    mapping: Annotated[Optional[Path], typer.Option("--mapping", help="TOML whose [customers] table overrides the headers")] = None,
    rejects: RejectsOption = None,
    database_url: DbOption = None,
) -> None:
    """Load a customer archive, joined to the grid by 台区编号 / 表箱编号 (exit 0 / 3 / 2 as for layers)."""
    from loaders.customer_archive import import_customers
    from loaders.rejects import default_rejects_path

    settings = _settings(database_url)
    try:
        text = mapping.read_text(encoding="utf-8-sig") if mapping is not None else None
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]refused, nothing was loaded:[/red] cannot read the mapping {mapping}: {exc}")
        raise typer.Exit(2) from exc
    result = _run_load(settings, lambda engine, progress: import_customers(
        engine, file, service_area=settings.service_area, mapping_text=text,
        mapping_name=str(mapping) if mapping else "mapping", progress=progress))
    _finish_load(result, rejects or default_rejects_path(file))


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="OUT.gpkg (one layer per table) or OUT.geojson (one file per table if several)")],
    layers: Annotated[Optional[list[str]], typer.Option("--layers", help="tables to export (repeatable or comma-separated; default all)")] = None,
    database_url: DbOption = None,
) -> None:
    """Export the grid and customers to GeoPackage/GeoJSON, with an identity mapping for re-import."""
    from loaders.export import export_store

    tables = [t.strip() for item in (layers or []) for t in item.split(",") if t.strip()]
    engine = _engine(_settings(database_url))
    try:
        counts = export_store(engine, out, tables or None)
    except GridAtlasError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    console.print(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; mapping {out.name}.mapping.toml")


# --- end of loading commands -----------------------------------------------------------------------


@app.command()
def validate(
    database_url: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
) -> None:
    """Data-quality report: unsupplied customers, loops, islands, dangling references, …"""
    from api.validation import full_report

    settings = _settings(database_url)
    snapshot = _snapshot(settings)
    report = full_report(snapshot, settings.service_area)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(report.to_text())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def impact(
    plan: Annotated[Optional[Path], typer.Option("--plan", help="JSON file: one plan or a list of plans")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json | csv | geojson | table")] = "json",
    open_: Annotated[Optional[list[str]], typer.Option("--open", help="switch to open (repeatable)")] = None,
    close: Annotated[Optional[list[str]], typer.Option("--close", help="switch to close (repeatable)")] = None,
    out_of_service: Annotated[Optional[list[str]], typer.Option("--out-of-service", help="segment/transformer to take out (repeatable)")] = None,
    window_start: Annotated[Optional[str], typer.Option(help="ISO 8601, e.g. 2026-12-01T09:00+08:00")] = None,
    window_end: Annotated[Optional[str], typer.Option(help="ISO 8601")] = None,
    database_url: DbOption = None,
) -> None:
    """Impact of switching plans: the customers who lose power, by feeder and 台区."""
    from outage_impact import FORMATS, load_plans, plan_impact, render

    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    quick = {k: v for k, v in {"open": open_, "close": close, "out_of_service": out_of_service}.items() if v}
    if plan is not None and quick:
        raise typer.BadParameter("give --plan FILE or --open/--close/--out-of-service, not both", param_hint="--plan")
    if plan is not None:
        try:
            document = json.loads(plan.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {plan}: {exc}", param_hint="--plan") from exc
    elif quick:
        document = {**quick, **{k: v for k, v in {"window_start": window_start, "window_end": window_end}.items() if v}}
    else:
        raise typer.BadParameter("give --plan FILE or at least one --open/--close/--out-of-service", param_hint="--plan")
    plans = load_plans(document)
    snapshot = _snapshot(_settings(database_url))
    results = [plan_impact(snapshot.index, p) for p in plans]
    text = render(results if isinstance(document, list) else results[0], fmt)
    typer.echo(text, nl=not text.endswith("\n"))


report_app = typer.Typer(help="Static reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("plan")
def report_plan(
    plan_id: Annotated[int, typer.Argument(min=1, help="the stored plan's id")],
    out: Annotated[Path, typer.Argument(help="the HTML file to write")],
    database_url: DbOption = None,
) -> None:
    """A plan's impact as one self-contained HTML map report (folium; opens with no network)."""
    from api.plan_report import build_plan_report
    from gis.errors import GridAtlasError
    from gis.plans_store import get_plan
    from map_ui.report import plan_report_html
    from outage_impact import SwitchingPlan, plan_impact
    from outage_impact.plan import Step

    def fail(exc: GridAtlasError) -> typer.Exit:
        from rich.markup import escape

        console.print("[red]no report:[/red] " + escape(exc.message), soft_wrap=True)
        return typer.Exit(2)

    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            plan = get_plan(conn, plan_id)
    except GridAtlasError as exc:
        raise fail(exc) from exc
    finally:
        engine.dispose()
    snapshot = _snapshot(settings)
    try:
        domain = SwitchingPlan(steps=tuple(Step(a, e) for a, e in plan.steps), title=plan.title, plan_id=plan.id,
                               window_start=plan.window_start, window_end=plan.window_end)
        result = plan_impact(snapshot.index, domain)
    except GridAtlasError as exc:
        raise fail(exc) from exc
    page = plan_report_html(build_plan_report(snapshot, plan, result))
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        console.print(f"cannot write {out}: {exc}")
        raise typer.Exit(2) from exc
    console.print(f"wrote {out}: plan {plan.id} v{plan.version}, {result.count:,} customers out, data version "
                  f"{snapshot.version}")


def _audit_cli(engine, action: str, prefix: str, details: dict[str, str]) -> None:
    """Record a key change made on the command line (actor: the operating-system user)."""
    import getpass

    from gis.audit import record_event

    with engine.begin() as conn:
        record_event(conn, actor=f"cli:{getpass.getuser()}"[:100], role="admin", action=action,
                     object_kind="api_key", object_id=prefix, details=details)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="dispatcher | planner | agent | analyst | admin | telephony (announces calls only) | gateway (the messaging gateway: posts consultation replies only)")],
    name: Annotated[str, typer.Option(help="who or what holds the key, e.g. 95598-gateway")] = "cli",
    database_url: DbOption = None,
) -> None:
    """Create an API key; the key is printed once (only its hash is stored)."""
    from gis.api_keys import create_key

    with _store(database_url) as engine:
        record, token = create_key(engine, name=name, role=role)
        _audit_cli(engine, "key.create", record.prefix, {"name": record.name, "role": record.role})
    console.print(f"created key {record.prefix} ({record.name}, role {record.role}); store it now, it is not shown again:")
    typer.echo(token)


@keys_app.command("list")
def keys_list(database_url: DbOption = None) -> None:
    """Keys with their prefix, role, name, state and last use (never the key itself).

    The last use is recorded at most once a minute per key and server process.
    """
    from gis.api_keys import list_keys

    with _store(database_url) as engine:
        with engine.connect() as conn:
            records = list_keys(conn)
    for r in records:
        state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        used = f"last used {r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never used"
        typer.echo(f"{r.prefix}\t{r.role}\t{r.name}\t{state}\t{used}")


@keys_app.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="the key's prefix (from `keys list`)")], database_url: DbOption = None) -> None:
    """Revoke a key; servers stop accepting it within GRIDATLAS_AUTH_CACHE_TTL_S."""
    from gis.api_keys import revoke_key

    with _store(database_url) as engine:
        record = revoke_key(engine, prefix)
        _audit_cli(engine, "key.revoke", record.prefix, {"name": record.name, "role": record.role})
    console.print(f"revoked {record.prefix} ({record.name}, role {record.role})")


@app.command()
def locate(
    query: Annotated[str, typer.Argument(help="phone (any format, or its last 4 digits), account number or prefix, name, pinyin or address")],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON (same fields and ranking)")] = False,
    show_pii: Annotated[bool, typer.Option("--show-pii", help="print phones and addresses unmasked")] = False,
    database_url: DbOption = None,
) -> None:
    """Locate a caller: ranked customers with the field that matched (phones and addresses masked unless --show-pii)."""
    from api.masking import mask_customer
    from gis.search import search_customers

    with _store(database_url) as engine:
        with engine.connect() as conn:
            result = search_customers(conn, query, limit=limit).to_dict()
    for key in ("data", "suggestions"):
        result[key] = [mask_customer(item, sees_pii=show_pii) for item in result[key]]
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    rows = result["data"] or result["suggestions"]
    if not result["data"]:
        console.print(f"no customer matches {query!r}" + ("; nearest by address:" if rows else ""))
    else:
        console.print(f"{result['count']} match(es) for {query!r} (read as {result['shape']}):")
    for item in rows:
        typer.echo(f"{item['account_no']}\t{item['name']}\t{item['phone'] or '-'}\t{item['address'] or '-'}"
                   f"\t{item['matched']} {item['score']:.2f}\t{item['lon']:.6f},{item['lat']:.6f}")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
    database_url: DbOption = None,
) -> None:
    """Serve the API and the map (migrating the store first).

    With ``--workers N`` uvicorn starts N processes over the same store; each builds its own
    app from the environment, so every setting is exported as ``GRIDATLAS_*`` first. Rate
    limits are per process: a key may reach N × GRIDATLAS_RATE_LIMIT_PER_S.
    """
    import uvicorn

    _check_map_files()
    settings = _settings(database_url)
    _engine(settings).dispose()
    _export_settings(settings)  # worker processes build their Settings from these
    console.print(f"GridAtlas map: http://{host}:{port}/map/   API docs: http://{host}:{port}/docs")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=settings.log_level.lower(), access_log=False,  # our access log replaces uvicorn's
                timeout_graceful_shutdown=5)  # open event streams must not hold a shutdown forever


def _check_map_files() -> None:
    """Refuse to start when a browser package the map loads is missing (exit 2, naming scripts/setup.sh)."""
    from map_ui.assets import MissingVendorFiles, vendor_dirs

    try:
        vendor_dirs()
    except MissingVendorFiles as exc:
        console.print(f"[red]cannot serve the map:[/red] {exc}")
        raise typer.Exit(2) from exc


def _export_settings(settings: Settings) -> None:
    """Put every setting into the environment as GRIDATLAS_<NAME> (JSON for non-strings)."""
    import os

    for name, value in settings.model_dump(mode="json").items():
        os.environ[f"GRIDATLAS_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)


def _other_data(database_url: str | None) -> dict[str, Any] | None:
    """The store's newest data version when it holds something other than the sample city (loading
    the sample on top would mix its feeders and customers into that data); None when the store is
    empty or its newest load is the sample (whose import is then idempotent, or picks up a new sample)."""
    from gis.store import latest_data_version

    with _store(database_url) as engine, engine.connect() as conn:
        latest = latest_data_version(conn)
    if latest is None or latest["source"] == f"city:{DEFAULT_SAMPLE_DIR.resolve()}":
        return None
    return latest


@app.command()
def demo(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    database_url: DbOption = None,
) -> None:
    """Create the store if missing, load the sample city once, and serve the map and API. A store
    that already holds other data (a utility's own, or another city) is served as it is.

    Each run revokes the previous demo key and prints a map link carrying a new admin key.
    """
    from gis.api_keys import create_key, list_keys, revoke_key

    _check_map_files()  # before the city load, not after it
    held = _other_data(database_url)
    if held is None:
        import_city_cmd(DEFAULT_SAMPLE_DIR, database_url)
    else:  # a utility's own data (or another city): never mixed with the sample's feeders and customers
        console.print(f"the store already holds data version {held['id']} ({held['source']}): serving it as it is; "
                      "the sample city is loaded only into an empty store or one holding the sample", markup=False,
                      soft_wrap=True)
    with _store(database_url) as engine:
        with engine.connect() as conn:
            old = [r.prefix for r in list_keys(conn) if r.name == "demo" and r.revoked_at is None]
        for prefix in old:
            revoke_key(engine, prefix)
        _, token = create_key(engine, name="demo", role="admin")
    console.print(f"demo API key (role admin): {token}")
    console.print(f"open the map with it: http://{host}:{port}/map/#key={token}")
    serve(host=host, port=port, workers=1, database_url=database_url)


# ---------------------------------------------------------------- pandapower / SimBench networks
CrsOption = Annotated[str, typer.Option("--crs", help="CRS of the bus/line geodata (any pyproj CRS)")]
PlaceAtOption = Annotated[Optional[str], typer.Option(
    "--place-at", help="LON,LAT: ignore geodata and lay the network out schematically around this point")]


def _import_network(net_path: Path, source: str, rejects_path: Path, *,
                    crs: str, place_at: Optional[str], database_url: Optional[str]) -> None:
    """Shared tail of `import pandapower` and `import simbench`: exit 0, 3 (rows rejected) or 2."""
    from gis.errors import InvalidInput
    from loaders.pandapower_json import read_pandapower_json
    from loaders.pandapower_net import import_net

    point = None
    if place_at is not None:
        try:
            lon, lat = (float(v) for v in place_at.split(","))
            point = (lon, lat)
        except ValueError as exc:
            raise typer.BadParameter("must be LON,LAT, e.g. 113.1,23.0", param_hint="--place-at") from exc
    settings = _settings(database_url)
    engine = _engine(settings)
    try:
        net = read_pandapower_json(net_path)
        with _progress() as report:
            result = import_net(engine, net, source=source, service_area=settings.service_area,
                                crs=crs, place_at=point, progress=report)
    except InvalidInput as exc:
        console.print(f"[red]refused, nothing was loaded:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    state = "already loaded" if result.unchanged else "loaded"
    console.print(f"{state} data version {result.data_version}: " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    _report_kept(result)
    raise typer.Exit(_report_rejects(result, rejects_path, shown=10))


@import_app.command("pandapower")
def import_pandapower_cmd(
    file: Annotated[Path, typer.Argument(help="a network written by pandapower.to_json")],
    crs: CrsOption = "EPSG:4326",
    place_at: PlaceAtOption = None,
    rejects: RejectsOption = None,
    database_url: DbOption = None,
) -> None:
    """Load a pandapower network (buses, lines, switches, trafos, sources, loads) in one transaction."""
    _import_network(file, str(file.resolve()), rejects or file.with_name(file.stem + ".rejects.csv"),
                    crs=crs, place_at=place_at, database_url=database_url)


@import_app.command("simbench")
def import_simbench_cmd(
    code: Annotated[str, typer.Argument(help="a SimBench code, e.g. 1-LV-rural1--0-sw")],
    python: Annotated[Optional[str], typer.Option(
        "--python", help="a Python with simbench installed (default: $GRIDATLAS_PANDAPOWER_PYTHON, else this one)")] = None,
    place_at: PlaceAtOption = None,
    rejects: RejectsOption = None,
    database_url: DbOption = None,
) -> None:
    """Load a SimBench network (needs the simbench package; see --python)."""
    import tempfile

    from gis.errors import InvalidInput
    from loaders.pandapower_json import export_simbench

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{code}.json"
        try:
            export_simbench(code, path, python=python)
        except InvalidInput as exc:
            console.print(f"[red]refused, nothing was loaded:[/red] {exc.message}")
            raise typer.Exit(2) from exc
        _import_network(path, f"simbench:{code}",
                        rejects or Path.cwd() / f"simbench-{code}.rejects.csv",
                        crs="EPSG:4326", place_at=place_at, database_url=database_url)


# ---------------------------------------------------------------- outbox delivery (issue 16b)
@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="deliver what is due now, then exit")] = False,
    database_url: DbOption = None,
) -> None:
    """Deliver the outbox (consultations, notices) until stopped (SIGTERM / Ctrl-C).

    Several workers (and `gridatlas serve` with GRIDATLAS_OUTBOX_WORKER_IN_SERVE) may run at
    once: each claims its own batches; a killed worker's claims are taken over after
    GRIDATLAS_OUTBOX_LEASE_S.
    """
    import signal
    import threading

    from api.outbox import build_worker

    settings = _settings(database_url)
    engine = _engine(settings)
    delivery = build_worker(settings, engine)
    stop = threading.Event()
    try:
        if once:
            total = 0
            while (report := delivery.run_once()).claimed:
                total += report.sent
            console.print(f"sent {total}")
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        console.print(f"outbox worker {delivery.worker_id}: sender {settings.outbox_sender}")
        delivery.run(stop, poll_s=settings.outbox_poll_interval_s)
    finally:
        delivery.close()
        engine.dispose()
# -- outage records and reliability (issue 16) ------------------------------------------------------
outages_app = typer.Typer(help="Outage records: import interrupted customers (faults and planned outages).",
                          no_args_is_help=True)
app.add_typer(outages_app, name="outages")


@outages_app.command("import")
def outages_import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV: outage_id, kind (planned|unplanned), start, end, account_no")],
    rejects: RejectsOption = None,
    database_url: DbOption = None,
) -> None:
    """Record one row per interrupted customer; idempotent by (outage_id, account_no).

    Exit 0: every row recorded (or already recorded); 3: some rows rejected (report written, the
    rest recorded); 2: input unusable (nothing recorded).
    """
    from loaders.outages import import_outages
    from loaders.rejects import default_rejects_path, is_reject_report, write_rejects

    settings = _settings(database_url)
    result = _run_load(settings, lambda engine, progress: import_outages(engine, file, progress=progress))
    console.print(f"{result.rows} row(s): {result.inserted} recorded, {result.unchanged} already recorded")
    report = rejects or default_rejects_path(file)
    if result.rejects:
        write_rejects(report, result.rejects)
        console.print(f"[yellow]{result.rejected_rows} row(s) rejected; report: {report}[/yellow]")
        for reject in result.rejects[:20]:
            console.print(f"  {reject}", markup=False, soft_wrap=True)
        raise typer.Exit(3)
    if is_reject_report(report):
        report.unlink()
    raise typer.Exit(0)


@app.command("reliability")
def reliability_cmd(
    start: Annotated[str, typer.Option("--from", help="first day (YYYY-MM-DD, local) or ISO time with a zone")],
    end: Annotated[str, typer.Option("--to", help="last day (inclusive) or ISO time with a zone (exclusive)")],
    by: Annotated[Optional[str], typer.Option("--by", help="feeder or transformer (台区)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole report as JSON")] = False,
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", help="also write the report as an XLSX workbook")] = None,
    database_url: DbOption = None,
) -> None:
    """IEEE 1366 reliability indices (SAIFI, SAIDI, CAIDI, CAIFI, ASAI, MAIFI, CEMI-n, CELID) for a period."""
    from api.reliability_report import compute_report, report_xlsx
    from gis.db import make_engine

    settings = _settings(database_url)
    lo, hi = _period(start, end, settings, days_only=False)
    try:
        snapshot = _snapshot(settings)
        engine = make_engine(settings.database_url)
        try:
            report = compute_report(engine, snapshot.index, snapshot.version, settings, start=lo, end=hi, by=by)
        finally:
            engine.dispose()
    except GridAtlasError as exc:
        console.print(f"[red]{exc.message}[/red] ({exc.field}={exc.value!r})", markup=True)
        raise typer.Exit(2) from exc
    if xlsx is not None:
        xlsx.write_bytes(report_xlsx(report))
        console.print(f"wrote {xlsx}")
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
        return
    fmt = (lambda v: "—" if v is None else (f"{v:.9g}" if isinstance(v, float) else str(v)))
    print(f"period {report['from']} – {report['to']}; customers served {report['customers_served']}")
    print(f"{'index':<24}{'all':>14}{'planned':>14}{'unplanned':>14}")
    for key in ("saifi", "saidi", "caidi", "caifi", "asai", "maifi", "customer_minutes"):
        print(f"{key:<24}{fmt(report[key]):>14}{fmt(report['planned'][key]):>14}{fmt(report['unplanned'][key]):>14}")
    for n, v in report["cemi"].items():
        print(f"{'cemi_' + n:<24}{fmt(v):>14}{fmt(report['planned']['cemi'][n]):>14}"
              f"{fmt(report['unplanned']['cemi'][n]):>14}")
    med = report["major_event_days"]
    print("major event days: " + (", ".join(d["date"] for d in med["days"]) or "none") + f" (T_MED {med['t_med']:.4g})"
          if med["applied"] else f"major event days: not applied ({med.get('reason')})")
# ---------------------------------------------------------------- interactions, heat and hotspots (issue 14)
interactions_app = typer.Typer(help="Interactions: import files, rebuild the heat rollups.", no_args_is_help=True)
app.add_typer(interactions_app, name="interactions")


@interactions_app.command("import")
def interactions_import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or XLSX with the sample's interactions.csv columns")],
    rejects: RejectsOption = None,
    database_url: DbOption = None,
) -> None:
    """Ingest an interactions file (idempotent by id; rollups kept). Exit 0 / 3 (rows rejected) / 2 (unusable)."""
    from api.interactions_io import import_interactions_file, screeners_for
    from loaders.rejects import default_rejects_path, is_reject_report, write_rejects

    settings = _settings(database_url)
    result, bad, info = _run_load(settings, lambda engine, progress: import_interactions_file(
        engine, file, service_area=settings.service_area, screeners=screeners_for(settings), progress=progress))
    counts = result.to_dict()
    console.print(f"{file.name} ({info['encoding'] or 'xlsx'}): received {counts['received']}, inserted {counts['inserted']}, "
                  f"updated {counts['updated']}, unchanged {counts['unchanged']}; matched "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts["matched"].items())), markup=False)
    path = rejects or default_rejects_path(file)
    if bad:
        write_rejects(path, bad)
        console.print(f"[yellow]{result.rejected_rows} row(s) rejected; report: {path}[/yellow]")
        for reject in bad[:20]:
            console.print(f"  {reject}", markup=False, soft_wrap=True)
        raise typer.Exit(3)
    if is_reject_report(path):
        path.unlink()
    raise typer.Exit(0)


@interactions_app.command("rebuild-rollups")
def interactions_rebuild_cmd(
    place: Annotated[bool, typer.Option("--place", help="first match and place every stored interaction again")] = False,
    database_url: DbOption = None,
) -> None:
    """Recompute the heat rollups from the raw interactions table, in one transaction."""
    from gis.interaction_rollups import place_stored, rebuild_rollups

    with _store(database_url) as engine:
        with engine.begin() as conn:
            placed = place_stored(conn) if place else None
            counts = rebuild_rollups(conn)
    if placed is not None:
        console.print(f"placed {placed} interactions")
    console.print("rollups rebuilt: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _period(start: str, end: str, settings: Settings, *, days_only: bool) -> tuple:
    """``--from``/``--to`` of ``heat``, ``hotspots`` and ``reliability``, read one way: local days
    (YYYY-MM-DD, ``--to`` inclusive) or, unless ``days_only``, ISO times with a zone (``--to``
    exclusive), as the API's ``from``/``to`` (:func:`api.reliability_report.parse_period`). A bad
    value or an end before the start is a usage error naming the option (exit 2).

    Returns the two local dates (``days_only``) or the two zoned times of ``[from, to)``."""
    import datetime as dt

    from api.reliability_report import parse_period

    if days_only:
        for value, hint in ((start, "--from"), (end, "--to")):
            if len(value.strip()) != 10:
                raise typer.BadParameter(f"{value!r} is not a day: write YYYY-MM-DD", param_hint=hint)
    try:
        lo, hi = parse_period(start, end, settings)
    except InvalidInput as exc:
        raise typer.BadParameter(f"{exc.message} ({exc.value!r})", param_hint=f"--{exc.field}") from exc
    if days_only:
        return lo.date(), (hi - dt.timedelta(days=1)).date()
    return lo, hi


def _heat_result(settings: Settings, by: str, date_from: str, date_to: str, kinds: str | None, channels: str | None,
                 res: int):
    from gis.models import CHANNELS, INTERACTION_KINDS
    from interactions.heat import HeatQuery, heat

    def listed(raw: str | None, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
        values = tuple(v.strip() for v in (raw or "").split(",") if v.strip())
        bad = [v for v in values if v not in allowed]
        if bad:
            raise typer.BadParameter(f"unknown {bad[0]!r}; one of {', '.join(allowed)}", param_hint=name)
        return values

    day_from, day_to = _period(date_from, date_to, settings, days_only=True)
    query = HeatQuery(by=by, date_from=day_from, date_to=day_to,
                      kinds=listed(kinds, INTERACTION_KINDS, "--kinds"), channels=listed(channels, CHANNELS, "--channels"),
                      res=res if by == "cell" else None)
    snapshot = _snapshot(settings)
    engine = _engine(settings, migrate=False)
    try:
        with engine.connect() as conn:
            return heat(conn, snapshot.heat, query), snapshot
    finally:
        engine.dispose()


FromOption = Annotated[str, typer.Option("--from", help="first local day, YYYY-MM-DD")]
ToOption = Annotated[str, typer.Option("--to", help="last local day, YYYY-MM-DD (inclusive)")]
ByOption = Annotated[str, typer.Option("--by", help="cell | transformer | feeder")]
KindsOption = Annotated[Optional[str], typer.Option("--kinds", help="comma-separated, e.g. 投诉")]
ChannelsOption = Annotated[Optional[str], typer.Option("--channels", help="comma-separated, e.g. 95598电话,微信")]
ResOption = Annotated[int, typer.Option("--res", min=6, max=9, help="H3 resolution of --by cell (6 coarse … 9 fine)")]


@app.command("heat")
def heat_cmd(date_from: FromOption, date_to: ToOption, by: ByOption = "transformer", kinds: KindsOption = None,
             channels: ChannelsOption = None, res: ResOption = 8, as_json: Annotated[bool, typer.Option("--json")] = False,
             database_url: DbOption = None) -> None:
    """Contacts per area (H3 cell, 台区 or feeder) with customers and rate per 1,000 customers."""
    settings = _settings(database_url)
    result, snapshot = _heat_result(settings, by, date_from, date_to, kinds, channels, res)
    body = {**result.to_dict(), "data_version": snapshot.version}
    if as_json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
        return
    console.print(f"{len(result.areas)} areas; total {result.totals['count']} contacts, "
                  f"{result.totals['customers']} customers, rate {result.totals['rate']} per 1,000")
    for a in result.areas[:30]:
        console.print(f"  {a.id:<20} {a.count:>7} {a.customers:>8} {a.rate if a.rate is not None else '-':>9}", markup=False)


@app.command("hotspots")
def hotspots_cmd(date_from: FromOption, date_to: ToOption, by: ByOption = "transformer", kinds: KindsOption = None,
                 channels: ChannelsOption = None, res: ResOption = 8,
                 alpha: Annotated[Optional[float], typer.Option(min=0.0001, max=0.5, help="false-discovery rate")] = None,
                 as_json: Annotated[bool, typer.Option("--json")] = False, database_url: DbOption = None) -> None:
    """Getis-Ord Gi* hot and cold spots of the contact rate (FDR cut), with the statistic's inputs."""
    from interactions.hotspots import hotspots

    settings = _settings(database_url)
    result, snapshot = _heat_result(settings, by, date_from, date_to, kinds, channels, res)
    body = hotspots(result, snapshot.heat, alpha=alpha if alpha is not None else settings.hotspot_alpha,
                    touch_m=settings.hotspot_touch_m)
    body["data_version"] = snapshot.version
    if as_json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
        return
    console.print(f"{body['hot']} hot, {body['cold']} cold of {body['inputs']['areas']} areas "
                  f"(FDR cut p ≤ {body['inputs']['fdr_cut_p']:.3g})")
    for h in body["areas"]:
        console.print(f"  {'HOT ' if h['hot'] else 'cold'} {h['id']:<20} z={h['z']:>7} p={h['p']:<10} "
                      f"{h['count']:>6}/{h['customers']:<7}", markup=False)


# -- sensitive-word lexicon, alerts and trouble calls (issue 15)
lexicon_app = typer.Typer(help="The sensitive-word lexicon (敏感词): list, add, remove.", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")
alerts_app = typer.Typer(help="Sensitive-word alerts: list.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"[:100]


@lexicon_app.command("list")
def lexicon_list(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    database_url: DbOption = None,
) -> None:
    """The lexicon in effect: the shipped words with the operators' changes, and the allow-list."""
    from interactions.lexicon import effective_lexicon

    with _store(database_url) as engine:
        with engine.connect() as conn:
            version, items = effective_lexicon(conn)
    if as_json:
        typer.echo(json.dumps({"version": version, "data": [i.to_dict() for i in items]}, ensure_ascii=False, indent=2))
        return
    console.print(f"lexicon version {version}: {sum(i.kind == 'word' for i in items)} words, "
                  f"{sum(i.kind == 'allow' for i in items)} allow-list phrases")
    for i in items:
        typer.echo(f"{i.kind}\t{i.word}\t{i.category or '-'}\t{i.severity or '-'}\t"
                   f"{'pinyin' if i.pinyin else '-'}\t{i.source}")


@lexicon_app.command("add")
def lexicon_add(
    word: Annotated[str, typer.Argument(help="the word (or, with --allow, an allow-list phrase)")],
    category: Annotated[Optional[str], typer.Option(help="媒体曝光 | 投诉升级 | 人身安全 | 群体事件 | 监管投诉 | 法律诉讼")] = None,
    severity: Annotated[Optional[str], typer.Option(help="high | medium | low")] = None,
    pinyin: Annotated[bool, typer.Option("--pinyin", help="also match the word written in pinyin")] = False,
    allow_phrase: Annotated[bool, typer.Option("--allow", help="add an allow-list phrase (e.g. 不投诉)")] = False,
    database_url: DbOption = None,
) -> None:
    """Add a word (or re-classify one), or an allow-list phrase; audited; live for the next message."""
    from interactions import lexicon

    with _store(database_url) as engine:
        with engine.begin() as conn:
            if allow_phrase:
                version = lexicon.add_allow(conn, word, actor=_cli_actor(), role="admin")
            else:
                if category is None or severity is None:
                    raise typer.BadParameter("a word needs --category and --severity", param_hint="--category")
                version = lexicon.add_word(conn, word, category=category, severity=severity, pinyin=pinyin,
                                           actor=_cli_actor(), role="admin")
    console.print(f"added {word!r}; lexicon version {version}")


@lexicon_app.command("remove")
def lexicon_remove(
    word: Annotated[str, typer.Argument(help="the word (or, with --allow, the allow-list phrase)")],
    allow_phrase: Annotated[bool, typer.Option("--allow", help="remove an allow-list phrase")] = False,
    database_url: DbOption = None,
) -> None:
    """Remove a word (shipped or added) or an allow-list phrase; audited."""
    from interactions import lexicon

    with _store(database_url) as engine:
        with engine.begin() as conn:
            remove = lexicon.remove_allow if allow_phrase else lexicon.remove_word
            version = remove(conn, word, actor=_cli_actor(), role="admin")
    console.print(f"removed {word!r}; lexicon version {version}")


@alerts_app.command("list")
def alerts_list(
    state: Annotated[Optional[str], typer.Option(help="new | acknowledged | resolved | false_positive")] = None,
    category: Annotated[Optional[str], typer.Option()] = None,
    transformer: Annotated[Optional[str], typer.Option(help="台区 (transformer id)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    database_url: DbOption = None,
) -> None:
    """Alerts, the most recent hit first (no message texts: read those in the API by role)."""
    from gis.alerts_store import list_alerts

    with _store(database_url) as engine:
        with engine.connect() as conn:
            rows = list_alerts(conn, limit=limit, state=state, category=category, transformer_id=transformer)
    for row in rows:
        row.pop("fold_key", None)
        row.pop("open_fold_key", None)
    if as_json:
        typer.echo(json.dumps({"data": rows, "count": len(rows)}, ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        typer.echo(f"{r['id']}\t{r['state']}\t{r['category']}\t{r['severity']}\t×{r['count']}\t"
                   f"{r['account_no'] or '-'}\t{r['transformer_id'] or '-'}\t{r['last_at']:%Y-%m-%d %H:%M}")


@app.command("trouble-calls")
def trouble_calls_cmd(
    from_: Annotated[str, typer.Option("--from", help="window start, ISO 8601 with a zone, e.g. 2026-12-06T08:00+08:00")],
    to: Annotated[str, typer.Option("--to", help="window end (exclusive)")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
    with_customers: Annotated[bool, typer.Option("--customers", help="list every affected customer")] = False,
    database_url: DbOption = None,
) -> None:
    """Probable failed devices from the repair calls (报修) of a window (故障研判)."""
    import datetime as dt

    from gis.trouble_store import repair_calls
    from interactions.trouble_calls import analyze

    def when(value: str, hint: str) -> dt.datetime:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=hint) from exc
        if parsed.tzinfo is None:
            raise typer.BadParameter("give a time zone, e.g. +08:00", param_hint=hint)
        return parsed

    settings = _settings(database_url)
    start, end = when(from_, "--from"), when(to, "--to")
    snapshot = _snapshot(settings)
    engine = _engine(settings, migrate=False)
    try:
        with engine.connect() as conn:
            calls = repair_calls(conn, start, end, limit=settings.trouble_call_max_calls)
    finally:
        engine.dispose()
    result = analyze(snapshot.index, calls, settings.trouble_call_thresholds, with_customers=with_customers)
    if as_json:
        body = {**result.to_dict(with_customers=with_customers), "window": {"from": start.isoformat(), "to": end.isoformat()}}
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    console.print(f"{result.calls} repair call(s): {len(result.predictions)} probable device(s), "
                  f"{len(result.unexplained)} unexplained")
    for p in result.predictions:
        typer.echo(f"{p.device}\t{p.kind}\t{len(p.calls)} calls\t{p.customers_affected} customers")
    for u in result.unexplained:
        typer.echo(f"unexplained\t{u.call}\t{u.account_no or '-'}\t{u.reason}")


def main() -> None:
    try:
        app()
    except GridAtlasError as exc:
        console.print(f"[red]error:[/red] {exc.message}" + "".join(
            f"  {k}={v!r}" for k, v in exc.to_dict().items() if k != "detail"))
        sys.exit(2)


if __name__ == "__main__":
    main()
