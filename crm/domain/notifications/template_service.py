"""Template use cases: anyone signed in reads templates; admins and managers write them."""

from __future__ import annotations

from uuid import UUID, uuid4

from crm.domain.access import require_privileged
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import TemplateNotFound
from crm.domain.events import record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.notifications.rendering import TemplateRenderer
from crm.domain.notifications.repository import TemplateReader
from crm.domain.notifications.templates import Template, TemplateCreate, TemplateFilter, TemplateUpdate
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes

ACTION = "change notification templates"


class TemplateService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        reader: TemplateReader,
        renderer: TemplateRenderer,
        clock: Clock,
        *,
        default_locale: str,
    ) -> None:
        self._uow = uow
        self._reader = reader
        self._renderer = renderer
        self._clock = clock
        self._default_locale = default_locale

    async def get(self, template_id: UUID) -> Template:
        template = await self._reader.get(template_id)
        if template is None:
            raise TemplateNotFound(f"Template {template_id} does not exist.")
        return template

    async def list(self, query: TemplateFilter) -> Page[Template]:
        return await self._reader.page(query)

    async def create(
        self, data: TemplateCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Template:
        """A (key, channel, locale) taken by a live template is a 409 ``template_conflict``."""
        require_privileged(caller, ACTION)
        self._renderer.check(data.body)
        values = {**data.model_dump(mode="json"), "locale": data.locale or self._default_locale}
        async with self._uow(caller, idempotency) as uow:
            template = await uow.templates.add(uuid4(), values, caller.actor_id)
            uow.record(record_event("template.created", template, self._clock.now()))
            await uow.commit(template)
        return template

    async def update(
        self, template_id: UUID, patch: TemplateUpdate, caller: Caller, *, if_match: int | None = None
    ) -> Template:
        require_privileged(caller, ACTION)
        changes = requested_changes(patch, TemplateUpdate.NOT_NULLABLE)
        if "body" in changes:
            self._renderer.check(changes["body"])
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, template_id)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            stored = {name: value.value if hasattr(value, "value") else value for name, value in changes.items()}
            template = await uow.templates.update(template_id, stored, caller.actor_id)
            uow.record(record_event("template.updated", template, self._clock.now()))
            await uow.commit()
        return template

    async def delete(self, template_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        require_privileged(caller, ACTION)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, template_id)
            check_version(current.version, if_match)
            template = await uow.templates.set_deleted(template_id, True, caller.actor_id)
            uow.record(record_event("template.deleted", template, self._clock.now()))
            await uow.commit()

    async def restore(
        self, template_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Template:
        """Undo a soft delete; a live template with the same (key, channel, locale) makes it a 409."""
        require_privileged(caller, ACTION)
        async with self._uow(caller, idempotency) as uow:
            current = await uow.templates.get_for_update(template_id)
            if current is None:
                raise TemplateNotFound(f"Template {template_id} does not exist.")
            if not current.is_deleted:
                return current
            template = await uow.templates.set_deleted(template_id, False, caller.actor_id)
            uow.record(record_event("template.restored", template, self._clock.now()))
            await uow.commit(template)
        return template

    @staticmethod
    async def _live_for_update(uow: UnitOfWork, template_id: UUID) -> Template:
        template = await uow.templates.get_for_update(template_id)
        if template is None or template.is_deleted:
            raise TemplateNotFound(f"Template {template_id} does not exist.")
        return template
