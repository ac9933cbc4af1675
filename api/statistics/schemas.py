"""What the statistics answer: counts with positivity, rates, the 7-day change, quality."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Table = Literal["days", "areas", "products", "lots"]


class Proportion(BaseModel):
    """``count`` of ``total``, with its 95 % Wilson score interval (``None`` when total is 0)."""

    count: int
    total: int
    value: float | None
    low: float | None
    high: float | None


class Counts(BaseModel):
    """Standing results of a group; positivity is positives among positive and negative
    results (an invalid test says nothing about infection)."""

    tests: int = 0
    positive: int = 0
    negative: int = 0
    invalid: int = 0
    positivity: Proportion


class DayRow(Counts):
    day: date
    tests_avg7: float | None = Field(description="mean tests a day over the 7 days to this one")
    positive_avg7: float | None = Field(description="mean positives a day over the 7 days")


class AreaRow(Counts):
    code: str
    name: str
    level: str
    population: int | None
    positives_per_100k: float | None
    tests_per_100k: float | None


class ProductRow(Counts):
    product_code: str


class LotRow(Counts):
    product_code: str
    lot_number: str


class Change(BaseModel):
    """A figure over the last 7 days of the period and the 7 days before."""

    current: float | None
    previous: float | None
    change: float | None = Field(
        description="relative change (0.25 = up 25 %); for positivity, the difference"
    )


class Headline(BaseModel):
    start: date
    end: date
    tests: Change
    positives: Change
    positivity: Change
    positivity_interval: Proportion
    positives_per_100k: Change


class Turnaround(BaseModel):
    released: int
    median_hours: float | None
    p90_hours: float | None


class Quality(BaseModel):
    turnaround: Turnaround
    retakes: Proportion = Field(description="tests with a photo that had to be taken again")
    read_by_eye: Proportion = Field(description="tests with a photo a clinician read by eye")


class Summary(BaseModel):
    since: date
    until: date
    level: str
    region: str | None
    product: str | None
    population: int | None
    last_updated: datetime | None = Field(description="release time of the newest result")
    small_count: int = Field(description="below this many readable tests, positivity is shaky")
    totals: Counts
    headline: Headline
    quality: Quality
    days: list[DayRow]
    areas: list[AreaRow]
    products: list[ProductRow]
    lots: list[LotRow]
