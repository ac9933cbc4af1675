"""Every table, imported once so that ``Base.metadata`` is complete (Alembic, tests)."""

from api.accounts.tables import AccessToken, Role, User
from api.audit.tables import AuditEntry
from api.batches.tables import Batch, Unit, UnitState
from api.events.tables import Event
from api.interop.tables import LoincCode, ResultCode, TestItemCode
from api.model_registry.tables import AliasChange, ModelAlias, ModelVersion, ShadowReading
from api.notifications.tables import ResultLink
from api.organisations.tables import CdcOffice, Institution, Manufacturer, ManufacturerDocument
from api.outbox.tables import OutboxDelivery, OutboxMessage, WebhookEndpoint, WebhookSecret
from api.patients.tables import Patient
from api.products.tables import Product
from api.reports.tables import Report
from api.reviews.tables import GoldItem, GoldReading
from api.selftests.tables import Proposal, Review, SelfTest, TestStatus, Upload
from api.statistics import tables as statistics_tables  # noqa: F401  (indexes only)

__all__ = [
    "AccessToken",
    "AliasChange",
    "AuditEntry",
    "Batch",
    "CdcOffice",
    "Event",
    "GoldItem",
    "GoldReading",
    "Institution",
    "LoincCode",
    "Manufacturer",
    "ManufacturerDocument",
    "ModelAlias",
    "ModelVersion",
    "OutboxDelivery",
    "OutboxMessage",
    "Patient",
    "Product",
    "Proposal",
    "Report",
    "ResultCode",
    "ResultLink",
    "Review",
    "Role",
    "SelfTest",
    "ShadowReading",
    "TestItemCode",
    "TestStatus",
    "Unit",
    "UnitState",
    "Upload",
    "User",
    "WebhookEndpoint",
    "WebhookSecret",
]
