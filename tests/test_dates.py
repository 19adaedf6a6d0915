"""Tests for mmsequence.dates: month arithmetic, parsing and three-valued comparisons."""

import calendar
import operator
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmsequence.dates import PartialDate, add_months

# The concrete comparison each three-valued method generalises.
OPERATORS = {
    "before": operator.lt,
    "on_or_before": operator.le,
    "after": operator.gt,
    "on_or_after": operator.ge,
}

days = st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31))
months = st.integers(min_value=-480, max_value=480)  # keeps shifted dates within 1900..2199
iso_texts = st.builds(
    lambda day, length: day.isoformat()[:length],
    st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)),
    st.sampled_from([4, 7, 10]),
)
# Parsed dates of every precision, derived spans, and arbitrary ranges of up to 40 days.
parsed = st.builds(PartialDate.parse, iso_texts.filter(lambda t: "1990" <= t[:4] <= "2100"))
partial_dates = st.one_of(
    parsed,
    st.builds(PartialDate.plus_months, parsed, months),
    st.builds(lambda day, width: PartialDate(day, day + timedelta(days=width), "span"), days, st.integers(0, 40)),
)


@st.composite
def nearby_pairs(draw: st.DrawFn) -> tuple[PartialDate, PartialDate]:
    """Two partial dates close enough to overlap often, so uncertain answers are exercised."""
    a = draw(partial_dates)
    anchor = a.earliest + timedelta(days=draw(st.integers(-40, 400)))
    b = draw(
        st.one_of(
            st.just(a),
            st.builds(lambda n: PartialDate.parse(anchor.isoformat()[:n]), st.sampled_from([4, 7, 10])),
            st.builds(lambda width: PartialDate(anchor, anchor + timedelta(days=width), "span"), st.integers(0, 40)),
        )
    )
    return (a, b) if draw(st.booleans()) else (b, a)

def day_in(data: st.DataObject, partial: PartialDate) -> date:
    """Draw one concrete day from the range of a partial date."""
    return data.draw(st.dates(min_value=partial.earliest, max_value=partial.latest))


def corners(a: PartialDate, b: PartialDate) -> list[tuple[date, date]]:
    """The extreme pairs of concrete days; every other pair lies between them."""
    return [(x, y) for x in (a.earliest, a.latest) for y in (b.earliest, b.latest)]


# --- month arithmetic -------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2025, 9, 14), 0, date(2025, 9, 14)),
    ],
)
def test_add_months_clips_to_month_end(start: date, n: int, expected: date) -> None:
    assert add_months(start, n) == expected


@given(days, months)
def test_add_months_matches_the_calendar(day: date, n: int) -> None:
    index = day.year * 12 + day.month - 1 + n
    year, month = divmod(index, 12)
    expected_day = min(day.day, calendar.monthrange(year, month + 1)[1])
    assert add_months(day, n) == date(year, month + 1, expected_day)


# --- parsing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "earliest", "latest", "precision"),
    [
        ("2025", date(2025, 1, 1), date(2025, 12, 31), "year"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),
        ("2025-02", date(2025, 2, 1), date(2025, 2, 28), "month"),
        ("2025-12", date(2025, 12, 1), date(2025, 12, 31), "month"),
        ("2025-09-14", date(2025, 9, 14), date(2025, 9, 14), "day"),
        ("1900", date(1900, 1, 1), date(1900, 12, 31), "year"),
        ("2199-12-31", date(2199, 12, 31), date(2199, 12, 31), "day"),
    ],
)
def test_parse_each_precision(text: str, earliest: date, latest: date, precision: str) -> None:
    parsed = PartialDate.parse(text)
    assert (parsed.earliest, parsed.latest, parsed.text, str(parsed)) == (earliest, latest, text, text)
    assert parsed.precision == precision
    assert parsed.is_exact == (precision == "day")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-13-01", "'2025-13-01' is not a date"),
        ("2025-02-30", "'2025-02-30' is not a date"),
        ("2023-02-29", "'2023-02-29' is not a date"),
        ("2025-00", "'2025-00' is not a date"),
        ("2025-09-00", "'2025-09-00' is not a date"),
        ("2025-1-5", "'2025-1-5' is not a date"),
        ("25-01-01", "'25-01-01' is not a date"),
        ("", "'' is not a date"),
        (" 2025", "' 2025' is not a date"),
        ("2025\n", "'2025\\n' is not a date"),
        ("2025/09", "'2025/09' is not a date"),
        ("2025-09-14T00:00", "'2025-09-14T00:00' is not a date"),
        ("1899", "'1899' is not a date"),
        ("2200-01", "'2200-01' is not a date"),
        ("\uff12\uff10\uff12\uff15", "'\uff12\uff10\uff12\uff15' is not a date"),  # full-width digits
        (2025, "2025 is not a date"),
        (None, "None is not a date"),
        (date(2025, 9, 14), "datetime.date(2025, 9, 14) is not a date"),
    ],
)
def test_parse_rejects_with_exact_message(value: object, message: str) -> None:
    with pytest.raises(ValueError) as error:
        PartialDate.parse(value)  # type: ignore[arg-type]
    assert str(error.value) == message


@given(iso_texts)
def test_parse_round_trips_text(text: str) -> None:
    parsed = PartialDate.parse(text)
    assert parsed.text == text
    assert parsed.precision == {4: "year", 7: "month", 10: "day"}[len(text)]
    assert parsed.earliest.isoformat().startswith(text) and parsed.latest.isoformat().startswith(text)
    assert (parsed.latest + timedelta(days=1)).isoformat()[: len(text)] != text


# --- construction and equality ----------------------------------------------


def test_constructor_rejects_reversed_range() -> None:
    with pytest.raises(ValueError):
        PartialDate(date(2025, 2, 1), date(2025, 1, 31), "backwards")


def test_equality_is_structural_and_ordering_operators_are_refused() -> None:
    assert PartialDate.parse("2025-09-14") == PartialDate.of(date(2025, 9, 14))
    assert PartialDate.parse("2025-09") != PartialDate.parse("2025")
    with pytest.raises(TypeError):
        PartialDate.parse("2025") < PartialDate.parse("2026")  # noqa: B015


# --- plus_months ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "n", "earliest", "latest", "result_text", "precision"),
    [
        ("2025-08", 6, date(2026, 2, 1), date(2026, 2, 28), "2026-02", "month"),
        ("2024-01", 1, date(2024, 2, 1), date(2024, 2, 29), "2024-02", "month"),
        ("2025", 6, date(2025, 7, 1), date(2026, 6, 30), "2025-07-01..2026-06-30", "span"),
        ("2025", -12, date(2024, 1, 1), date(2024, 12, 31), "2024", "year"),
        ("2025-02", 1, date(2025, 3, 1), date(2025, 3, 28), "2025-03-01..2025-03-28", "span"),
        ("2025-08-31", 6, date(2026, 2, 28), date(2026, 2, 28), "2026-02-28", "day"),
    ],
)
def test_plus_months_on_partial_dates(
    text: str, n: int, earliest: date, latest: date, result_text: str, precision: str
) -> None:
    shifted = PartialDate.parse(text).plus_months(n)
    assert (shifted.earliest, shifted.latest, shifted.text) == (earliest, latest, result_text)
    assert shifted.precision == precision


@given(st.data(), partial_dates, months)
def test_plus_months_contains_every_shifted_day(data: st.DataObject, partial: PartialDate, n: int) -> None:
    first, second = sorted([day_in(data, partial), day_in(data, partial)])
    assert add_months(first, n) <= add_months(second, n)  # monotone
    shifted = partial.plus_months(n)
    assert shifted.earliest <= add_months(first, n) <= add_months(second, n) <= shifted.latest
    if shifted.precision != "span":
        assert PartialDate.parse(shifted.text) == shifted


# --- three-valued comparisons -----------------------------------------------


def test_overlapping_ranges_are_uncertain() -> None:
    september = PartialDate.parse("2025-09")
    assert september.before(date(2025, 9, 15)) is None
    assert september.on_or_after(PartialDate.parse("2025")) is None
    assert september.before(date(2025, 10, 1)) is True
    assert september.after(date(2025, 8, 31)) is True
    assert september.on_or_before(date(2025, 9, 30)) is True
    assert september.before(date(2025, 9, 1)) is False
    assert september.after(PartialDate.parse("2025-09-30")) is False
    assert september.on_or_after(date(2025, 9, 30)) is None


@pytest.mark.parametrize("method", OPERATORS)
@given(days, st.integers(-3, 3))
def test_exact_dates_compare_like_python(method: str, day: date, offset: int) -> None:
    other = day + timedelta(days=offset)
    expected = OPERATORS[method](day, other)
    assert getattr(PartialDate.of(day), method)(other) is expected
    assert getattr(PartialDate.parse(day.isoformat()), method)(PartialDate.of(other)) is expected


@pytest.mark.parametrize("method", OPERATORS)
@given(st.data(), nearby_pairs())
def test_certain_answers_hold_for_every_pair_of_days(
    method: str, data: st.DataObject, pair: tuple[PartialDate, PartialDate]
) -> None:
    a, b = pair
    answer = getattr(a, method)(b)
    if answer is not None:
        pairs = [*corners(a, b), (day_in(data, a), day_in(data, b))]
        assert all(OPERATORS[method](x, y) is answer for x, y in pairs)


@pytest.mark.parametrize("method", OPERATORS)
@given(nearby_pairs())
def test_uncertain_answers_have_witnesses_both_ways(method: str, pair: tuple[PartialDate, PartialDate]) -> None:
    a, b = pair
    if getattr(a, method)(b) is None:
        assert {OPERATORS[method](x, y) for x, y in corners(a, b)} == {True, False}


@pytest.mark.parametrize("method", OPERATORS)
@given(st.data(), days, st.integers(2, 40))
def test_uncertain_when_a_day_lies_strictly_inside(method: str, data: st.DataObject, start: date, width: int) -> None:
    span = PartialDate(start, start + timedelta(days=width), "span")
    probe = start + timedelta(days=data.draw(st.integers(1, width - 1)))
    assert getattr(span, method)(probe) is None


def test_bounded_keeps_the_text_and_only_the_days_left_possible() -> None:
    march = PartialDate.parse("2026-03")
    assert march.bounded(None, date(2026, 3, 20)) == PartialDate(date(2026, 3, 1), date(2026, 3, 20), "2026-03")
    assert march.bounded(date(2026, 3, 15)).earliest == date(2026, 3, 15)
    assert march.bounded(date(2026, 2, 1), date(2026, 4, 30)) is march  # bounds outside the range change nothing
    assert march.bounded(date(2026, 4, 1)) is march  # a bound that would empty the range is ignored


@given(st.dates(date(2000, 1, 1), date(2030, 12, 31)), st.sampled_from(["year", "month", "day"]), st.dates(date(2000, 1, 1), date(2030, 12, 31)))
def test_bounded_never_extends_past_its_bound(day: date, precision: str, bound: date) -> None:
    written = PartialDate.parse(day.isoformat()[: {"year": 4, "month": 7, "day": 10}[precision]])
    narrowed = written.bounded(None, bound)
    assert written.earliest <= narrowed.earliest <= narrowed.latest <= written.latest
    assert narrowed.latest <= bound or written.earliest > bound
