"""The chain checked from a cut: what remains after old months were archived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.audit.archive_file import Row
from api.audit.chain import GENESIS, ORIGIN, Cut, Fields, Link, check, link


def chain(count: int) -> list[Row]:
    """``count`` chained entries, ids 1.., a minute apart."""
    rows, previous = [], GENESIS
    for n in range(1, count + 1):
        fields = Fields(
            datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
            None,
            "system",
            "test",
            "thing",
            str(n),
            {"n": n},
        )
        entry_hash = link(previous, fields)
        rows.append(Row(n, *fields, prev_hash=previous, entry_hash=entry_hash))
        previous = entry_hash
    return rows


def as_link(row: Row) -> Link:
    return Link(row.id, row.prev_hash, row.entry_hash)


def test_what_remains_checks_from_the_archived_head_and_not_from_genesis() -> None:
    rows = chain(6)
    cut = Cut("2024-01", as_link(rows[2]))
    assert check(rows[3:], cut) == (3, None)
    count, broken = check(rows[3:], ORIGIN)
    assert (count, broken and broken.entry_id) == (1, 4)
    # One entry more cut off the start than the cut says: the gap is found.
    count, broken = check(rows[4:], cut)
    assert broken is not None
    assert broken.entry_id == 5


def test_archived_entries_that_came_late_are_spliced_in_where_their_ids_fall() -> None:
    # Entries 3 and 5 were of the archived month but written after 2 and 4 (the new month).
    rows = chain(7)
    kept = [rows[1], rows[3], *rows[5:]]
    cut = Cut("2024-01", as_link(rows[0]), (as_link(rows[2]), as_link(rows[4])))
    assert check(kept, cut) == (4, None)
    # Without the late links the chain does not fit, and a wrong late link is named.
    assert check(kept, Cut("2024-01", as_link(rows[0])))[1] is not None
    forged = Link(5, "f" * 64, rows[4].entry_hash)
    broken = check(kept, Cut("2024-01", as_link(rows[0]), (as_link(rows[2]), forged)))[1]
    assert broken is not None
    assert broken.entry_id == 5
    # A late link after the last entry left is spliced in at the end (and checked).
    assert check(rows[:4], Cut(None, None, (as_link(rows[4]),))) == (4, None)
    assert check(rows[:3], Cut(None, None, (as_link(rows[4]),)))[1] is not None


def test_a_cut_survives_its_json_form() -> None:
    rows = chain(3)
    cut = Cut("2024-01", as_link(rows[0]), (as_link(rows[2]),))
    assert Cut.from_json(cut.to_json()) == cut
    assert Cut.from_json(ORIGIN.to_json()) == ORIGIN
