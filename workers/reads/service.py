"""The `reads` service: the repositories' queries over NATS request-reply, in the NATS services
framework (nats-py's `nats.micro`: `$SRV.PING|INFO|STATS` discovery, errors in the
`Nats-Service-Error` and `Nats-Service-Error-Code` headers).

It runs in a process of its own (`workers serve-reads`, and a part of `run`): its store
connection, threads and event loop are not the workers', so a burst of reads never holds up a
commit (SQLite: its readers never wait for the writer; FoundationDB: read-only transactions).
Each request is read in one snapshot, with at most READS_CONCURRENCY reads at once and a
deadline of READS_DEADLINE_S.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request, ServiceError
from nats.micro.service import EndpointConfig, Service
from pydantic import BaseModel, ValidationError

from workers.config import Config
from workers.errors import InvalidContinuation, NotFound, summarize
from workers.jobs.rules import HoldSet
from workers.reads import queries
from workers.reads.api import (
    ENDPOINTS,
    SERVICE_NAME,
    SERVICE_VERSION,
    SUBJECT_PREFIX,
    Endpoint,
    PageRequest,
    ReadRequest,
    RestoreStatus,
    TokenCountAnswer,
)
from workers.repositories import Repositories
from workers.store.error_codes import StoreError
from workers.store.port import Store, Transaction

log = logging.getLogger(__name__)

READ_CHUNK = 500  # records per repository page while skipping or filtering


class DeadlineExceeded(Exception):
    pass


def endpoint_subject(endpoint: Endpoint, multi_tenant: bool) -> str:
    """`reads.messages.list`; multi-tenant: `reads.*.messages.list` (the tenant's token)."""
    middle = ".*" if multi_tenant else ""
    return f"{SUBJECT_PREFIX}{middle}.{endpoint.name}"


def schemas(endpoint: Endpoint) -> dict[str, str]:
    """The endpoint's metadata in `$SRV.INFO`: its request and response JSON Schemas."""
    answer = endpoint.answer
    response = (
        answer.model_json_schema()
        if answer
        else {"description": f"a {endpoint.kind} record, as `query --json` prints it"}
    )
    return {
        "description": endpoint.description,
        "request_schema": json.dumps(endpoint.request.model_json_schema()),
        "response_schema": json.dumps(response),
    }


WAITING_PER_SLOT = 64
"""Requests that may wait for a read slot, per slot; beyond, an immediate 503 (retry later)
rather than a queue that grows while the store is slow."""


class ReadService:
    def __init__(self, settings: Config, store: Store, repos: Repositories) -> None:
        self.settings, self.store, self.repos = settings, store, repos
        self.slots = asyncio.Semaphore(settings.reads_concurrency)
        self.service: Service | None = None
        self.in_flight: set[asyncio.Task[None]] = set()

    async def start(self, nc: Client) -> None:
        self.service = await add_service(
            nc,
            name=SERVICE_NAME,
            version=SERVICE_VERSION,
            description="Reads of the records the workers wrote: conversations, messages, "
            "audit, files, agents, settings.",
        )
        for endpoint in ENDPOINTS:
            await self.service.add_endpoint(
                EndpointConfig(
                    name=endpoint.name.replace(".", "-"),
                    subject=endpoint_subject(endpoint, self.settings.multi_tenant),
                    handler=self._handler(endpoint),
                    metadata=schemas(endpoint),
                )
            )

    async def stop(self) -> None:
        """Take no more requests, then answer the ones in hand (each within its deadline)."""
        if self.service is not None:
            await self.service.stop()
        if self.in_flight:
            await asyncio.wait(set(self.in_flight), timeout=self.settings.reads_deadline_s + 1)

    def _handler(self, endpoint: Endpoint) -> Callable[[Request], Any]:
        """nats-py calls an endpoint's handler for one request at a time: each request gets a
        task of its own, so READS_CONCURRENCY reads of one endpoint run at once."""

        async def handle(request: Request) -> None:
            task = asyncio.create_task(self._respond(endpoint, request))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

        return handle

    async def _respond(self, endpoint: Endpoint, request: Request) -> None:
        try:
            if len(self.in_flight) > WAITING_PER_SLOT * self.settings.reads_concurrency:
                raise ServiceError("503", "busy: too many reads waiting; retry shortly")
            await request.respond(await self.answer(endpoint, request.subject, request.data))
        except ServiceError as e:
            await _answer_error(request, e.code, e.description)
        except Exception as e:  # a defect: answered as one and logged, never a silent timeout
            log.exception("reads.%s failed", endpoint.name)
            await _answer_error(request, "500", f"internal error: {type(e).__name__}")

    async def answer(self, endpoint: Endpoint, subject: str, data: bytes) -> bytes:
        """The response body, or ServiceError (400, 404, 503, 504) with the reason."""
        try:
            asked = endpoint.request.model_validate_json(data or b"{}")
        except ValidationError as e:
            raise ServiceError("400", f"bad request: {summarize(e)}") from None
        tenant = self._tenant(subject, asked)
        deadline = time.monotonic() + self.settings.reads_deadline_s
        try:
            async with self.slots:
                left = deadline - time.monotonic()
                return await asyncio.wait_for(self._read(endpoint, asked, tenant, deadline), left)
        except (NotFound, queries.BadQuery, InvalidContinuation) as e:
            code = "404" if isinstance(e, NotFound) else "400"
            raise ServiceError(code, str(e)) from None
        except (TimeoutError, DeadlineExceeded):
            raise ServiceError(
                "504",
                f"not answered within READS_DEADLINE_S ({self.settings.reads_deadline_s:g} s): "
                "ask for a smaller page or a narrower range",
            ) from None
        except StoreError as e:
            log.warning("a read failed in the store: %s", e)
            raise ServiceError("503", f"store unavailable: {e}") from None

    def _tenant(self, subject: str, asked: ReadRequest) -> UUID:
        if self.settings.multi_tenant:
            if asked.tenant is not None:
                raise ServiceError(
                    "400", "bad request: tenant comes from your NATS credentials: leave it out"
                )
            return UUID(subject.split(".")[1])  # put there by the server (the account import)
        if asked.tenant is None:
            raise ServiceError("400", "bad request: tenant: Field required")
        return asked.tenant

    async def _read(
        self, endpoint: Endpoint, asked: ReadRequest, tenant: UUID, deadline: float
    ) -> bytes:
        if endpoint.name == "messages.token_count":
            conversation = asked.filters()["conversation"]
            messages, tokens = await self.store.read(
                lambda tr: self.repos.conversations.counts(tr, tenant, conversation)
            )
            return _json(
                TokenCountAnswer(conversation=conversation, messages=messages, tokens=tokens)
            )
        if endpoint.name == "files.restore_status":
            return _json(
                await self.store.read(
                    lambda tr: self._restore_status(tr, tenant, asked.filters()["id"])
                )
            )
        assert endpoint.kind is not None
        f = queries.Filters(tenant=tenant, **asked.filters())
        if not isinstance(asked, PageRequest):
            return _json(await queries.one(self.store, self.repos, endpoint.kind, f))
        pages, keep = queries.lister(self.repos, endpoint.kind, f)
        limit = min(asked.limit, self.settings.reads_max_page)
        items, token = await self.store.read(
            lambda tr: _page(tr, pages, keep, asked.offset, limit, asked.after, deadline)
        )
        listed = ",".join(item.model_dump_json() for item in items)
        return f'{{"items":[{listed}],"next":{json.dumps(token)}}}'.encode()

    def _restore_status(self, tr: Transaction, tenant: UUID, file_id: UUID) -> RestoreStatus:
        repos = self.repos
        file = repos.files.get_by_id(tr, tenant, file_id)
        if file is None:
            raise NotFound("file", file_id)
        held = HoldSet.of(repos.holds.list(tr, tenant)).covers(
            file.user_id, file.workspace_session_id
        )
        days = repos.retention.get(tr, tenant).days("files")
        if days is None:
            days = self.settings.file_purge_after_days
        purge_after = None
        if file.is_deleted and file.deleted_at is not None and not held:
            purge_after = file.deleted_at + timedelta(days=days)
        reason = None
        if not file.is_deleted:
            reason = "the file is not deleted"
        else:
            live = repos.files.get_by_path(tr, tenant, file.workspace_session_id, file.file_path)
            if live is not None and live.id != file.id:
                reason = f"file {live.id} is live at its path: restore it to another path"
        return RestoreStatus(
            id=file.id,
            file_path=file.file_path,
            is_deleted=file.is_deleted,
            deleted_at=file.deleted_at,
            purge_after=purge_after,
            held=held,
            restorable=reason is None,
            reason=reason,
        )


async def _answer_error(request: Request, code: str, description: str) -> None:
    try:
        await request.respond_error(code, description)
    except Exception as e:  # the connection went away: the caller times out
        log.warning("could not answer a read with %s: %r", code, e)


def _page(
    tr: Transaction,
    pages: queries.PageFn,
    keep: queries.Keep | None,
    offset: int,
    limit: int,
    after: str | None,
    deadline: float,
) -> tuple[list[BaseModel], str | None]:
    """Skip `offset` matches, then up to `limit`, from `after`; each repository page asks for
    exactly what is still wanted, so the token returned resumes right after the last item."""
    items: list[BaseModel] = []
    skip, token = offset, after
    while True:
        want = skip or limit - len(items)
        page = pages(tr, min(want, READ_CHUNK), token)
        for item in page.items:
            if keep is not None and not keep(item):
                continue
            if skip:
                skip -= 1
            else:
                items.append(item)
        token = page.next
        if token is None or (not skip and len(items) >= limit):
            return items, token
        if time.monotonic() > deadline:
            raise DeadlineExceeded


def _json(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()
