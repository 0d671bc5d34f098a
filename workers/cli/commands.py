"""What each CLI command does, given parsed arguments and the settings."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterable

from workers.cli import output, query
from workers.config import Config
from workers.errors import NotFound
from workers.nats import dead_letters as dlq
from workers.nats.broker import nats_connect_options
from workers.service.wiring import open_configured_store, repositories


class CommandError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def dispatch(args: argparse.Namespace, settings: Config) -> int:
    handler = {
        "run": cmd_run,
        "worker": cmd_worker,
        "scheduler": cmd_scheduler,
        "streams": cmd_streams,
        "publish": cmd_publish,
        "query": cmd_query,
        "dlq": cmd_dlq,
        "check": cmd_check,
        "cleanup": cmd_cleanup,
        "hold": cmd_hold,
        "files": cmd_files,
        "retention": cmd_retention,
    }[args.command]
    return await handler(args, settings)


async def cmd_run(args: argparse.Namespace, settings: Config) -> int:
    from workers.service.lifecycle import run_system

    await run_system(settings)
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Config) -> int:
    from workers.service.lifecycle import run_parts, run_workers

    await run_parts(settings, [run_workers])
    return 0


async def cmd_scheduler(args: argparse.Namespace, settings: Config) -> int:
    from workers.service.lifecycle import run_parts, run_scheduler_part

    await run_parts(settings, [run_scheduler_part])
    return 0


async def cmd_streams(args: argparse.Namespace, settings: Config) -> int:
    from workers.nats.streams import ensure_streams

    nc = await dlq.connect(settings.nats_url, **nats_connect_options(settings))
    try:
        for note in await ensure_streams(nc.jetstream(), settings) or ["streams already present"]:
            print(note)
    finally:
        await nc.close()
    return 0


async def cmd_publish(args: argparse.Namespace, settings: Config) -> int:
    from workers.nats.producer import demo_events, publish_all, read_events

    events: Iterable[tuple[str, bytes, str | None]]
    if args.demo:
        demo = demo_events()
        events = [(e.pop("subject"), json.dumps(e).encode(), e["event_id"]) for e in demo]
        tenant = demo[0]["tenant_id"]
    elif args.file:
        stream = sys.stdin if args.file == "-" else open(args.file)  # noqa: SIM115
        try:
            events = list(read_events(stream, args.subject))
        except ValueError as e:
            raise CommandError(str(e), 2) from None
        tenant = None
    else:
        raise CommandError("give FILE, - (standard input) or --demo", 2)
    report = await publish_all(settings.nats_url, events, **nats_connect_options(settings))
    print(f"published {report.published} events to {settings.nats_url}")
    if args.demo:
        print(f"demo tenant: {tenant}\ntry: python -m workers query conversation --tenant {tenant}")
    return 0


async def cmd_query(args: argparse.Namespace, settings: Config) -> int:
    f = query.Filters(
        tenant=args.tenant,
        id=args.id,
        conversation=args.conversation,
        user=args.user,
        session=args.session,
        path=args.path,
        event_type=args.event_type,
        since=args.since,
        until=args.until,
        include_deleted=args.include_deleted,
        type=args.type,
        category=args.category,
        key=args.key,
        offset=args.offset,
        limit=args.limit,
    )
    store, repos = open_configured_store(settings), repositories(settings)
    try:
        single = args.what in ("file", "agent") or args.id is not None or args.key is not None
        if single:
            output.print_one(await query.one(store, repos, args.what, f), args.json)
            return 0
        count = await output.print_stream(
            query.stream(store, query.lister(repos, args.what, f), f), args.json
        )
        if not args.json:
            print(f"({count} {args.what})", file=sys.stderr)
        return 0
    except query.UsageError as e:
        raise CommandError(str(e), 2) from None
    except NotFound as e:
        raise CommandError(str(e)) from None
    finally:
        await store.close()


async def cmd_dlq(args: argparse.Namespace, settings: Config) -> int:
    nc = await dlq.connect(settings.nats_url, **nats_connect_options(settings))
    try:
        if args.action == "list":
            letters = dlq.letters(nc, args.subject)
            if args.json:
                print(json.dumps([x.summary() async for x in letters], indent=2))
            else:
                async for x in letters:
                    print(f"{x.seq:>8}  {x.subject:<24} deliveries={x.deliveries:<3} {x.reason}")
            return 0
        if args.action == "show":
            for seq in args.seq or []:
                letter = await dlq.get(nc, seq)
                if letter is None:
                    raise CommandError(f"dead letter {seq} not found")
                output.print_one(letter.as_dict(), True)
            return 0
        targets: AsyncIterator[dlq.DeadLetter] | list[dlq.DeadLetter]
        if args.all:
            targets = [x async for x in dlq.letters(nc, args.subject)]
        elif args.seq:
            found = [await dlq.get(nc, s) for s in args.seq]
            if any(x is None for x in found):
                raise CommandError(
                    f"not found: {[s for s, x in zip(args.seq, found, strict=True) if x is None]}"
                )
            targets = [x for x in found if x is not None]
        else:
            raise CommandError("replay needs SEQ… or --all", 2)
        for letter in targets:
            await dlq.replay(nc, letter)
            print(f"replayed {letter.seq} to {letter.subject}")
        return 0
    finally:
        await nc.close()


async def cmd_check(args: argparse.Namespace, settings: Config) -> int:
    from workers.repositories.integrity import check

    store, repos = open_configured_store(settings), repositories(settings)
    try:
        report = await check(store, repos, args.tenant)
    finally:
        await store.close()
    if args.json:
        print(report.model_dump_json(indent=2, by_alias=True))
    else:
        for problem in report.problems:
            print(problem)
        verdict = "clean" if report.clean else f"{len(report.problems)} problems"
        print(
            f"{report.tenants} tenants, {report.records} records, "
            f"{report.index_entries} index entries: {verdict}"
        )
    return 0 if report.clean else 1


async def cmd_cleanup(args: argparse.Namespace, settings: Config) -> int:
    from workers.cli.retention_commands import run_cleanup

    return await run_cleanup(args, settings)


async def cmd_hold(args: argparse.Namespace, settings: Config) -> int:
    from workers.cli.retention_commands import run_hold

    return await run_hold(args, settings)


async def cmd_retention(args: argparse.Namespace, settings: Config) -> int:
    from workers.cli.retention_commands import run_retention

    return await run_retention(args, settings)


async def cmd_files(args: argparse.Namespace, settings: Config) -> int:
    from workers.cli.retention_commands import run_files

    return await run_files(args, settings)
