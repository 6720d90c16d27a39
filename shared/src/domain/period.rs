//! Periods of a KPI's frequency, and how a client's text (a date, `2025-03`, `2025-W12`, `2025-Q1`, an Excel serial) names one.
//!
//! All functions are total: for dates at the very ends of chrono's range
//! (far outside years 1..=9999) periods are clipped to the representable
//! dates instead of panicking, and the period before the first representable
//! one is that period itself.

use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, NaiveTime, Weekday};

use super::kpi::Frequency;

/// An inclusive range of days: `start` is a period's first day, `end` its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// Whether `date` lies in the period, bounds included.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end
    }
}

/// The first and last years of a date kpix accepts. A date outside them is a
/// typo (0025, 20250) or a probe, never a real period of a KPI, and a period
/// near chrono's far ends has no neighbours for the reports to compare with.
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2199;

/// A date outside [`FIRST_YEAR`]..=[`LAST_YEAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is out of range: dates must lie between 1900-01-01 and 2199-12-31")]
pub struct DateOutOfRange(pub NaiveDate);

/// `date` when it lies in the accepted years.
pub fn check_date(date: NaiveDate) -> Result<NaiveDate, DateOutOfRange> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
        Ok(date)
    } else {
        Err(DateOutOfRange(date))
    }
}

/// The forms [`PeriodRef::parse`] accepts, quoted in its error messages.
pub const ACCEPTED_FORMS: &str = "expected a date (2025-03-31, 31/03/2025), a month (2025-03, 03/2025), \
     an ISO week (2025-W12), a quarter (2025-Q1, Q1 2025, T1 2025) or a year (2025)";

/// Why a period could not be read, resolved or checked. Messages are meant for
/// end users (API 422 details, import row errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// The text has none of the accepted shapes.
    #[error("unrecognized period \"{input}\": {ACCEPTED_FORMS}")]
    Unrecognized { input: String },
    /// The text has an accepted shape but names nothing real (31/02/2025,
    /// 2025-13, 2025-W53, Q5).
    #[error("invalid period \"{input}\": {reason}")]
    Invalid { input: String, reason: String },
    /// A date outside the accepted years.
    #[error(transparent)]
    OutOfRange(#[from] DateOutOfRange),
    /// A month, week, quarter or year that is not a period of the KPI's
    /// frequency.
    #[error("{message}")]
    WrongGranularity {
        frequency: Frequency,
        message: String,
    },
    /// A `period_end` that is not the last day of the period.
    #[error("period_end must be the last day of the period, {expected} (got {sent})")]
    EndMismatch {
        frequency: Frequency,
        expected: NaiveDate,
        sent: NaiveDate,
    },
}

/// A period as a client wrote it, before the KPI's frequency is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodRef {
    /// Any day; it names the period of the KPI's frequency that contains it.
    Date(NaiveDate),
    Month {
        year: i32,
        month: u32,
    },
    IsoWeek {
        year: i32,
        week: u32,
    },
    Quarter {
        year: i32,
        quarter: u32,
    },
    Year(i32),
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`; 0 for a month that does not exist.
fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// First to last day of `first_month..=last_month` of `year`, or `None` when
/// a month or the year is out of range.
fn months(year: i32, first_month: u32, last_month: u32) -> Option<Period> {
    Some(Period {
        start: ymd(year, first_month, 1)?,
        end: ymd(year, last_month, days_in_month(year, last_month))?,
    })
}

fn iso_week_period(year: i32, week: u32) -> Option<Period> {
    Some(Period {
        start: NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?,
        end: NaiveDate::from_isoywd_opt(year, week, Weekday::Sun)?,
    })
}

impl Frequency {
    /// The period of this frequency that contains `date`: the day itself, its
    /// ISO week (Monday..Sunday), its calendar month, quarter or year.
    pub fn period_containing(self, date: NaiveDate) -> Period {
        let (year, month) = (date.year(), date.month());
        let calendar = |first: u32, last: u32| {
            // Cannot fail: chrono's range holds whole years.
            months(year, first, last).unwrap_or(Period {
                start: date,
                end: date,
            })
        };
        match self {
            Frequency::Daily => Period {
                start: date,
                end: date,
            },
            Frequency::Weekly => {
                let back = u64::from(date.weekday().num_days_from_monday());
                let start = date
                    .checked_sub_days(Days::new(back))
                    .unwrap_or(NaiveDate::MIN);
                let end = date
                    .checked_add_days(Days::new(6 - back))
                    .unwrap_or(NaiveDate::MAX);
                Period { start, end }
            }
            Frequency::Monthly => calendar(month, month),
            Frequency::Quarterly => {
                let first = (month - 1) / 3 * 3 + 1;
                calendar(first, first + 2)
            }
            Frequency::Yearly => calendar(1, 12),
        }
    }

    /// The period just before the one containing `period.start`. The first
    /// representable period (around year -262143) is its own previous.
    pub fn previous(self, period: Period) -> Period {
        match period.start.pred_opt() {
            Some(day_before) => self.period_containing(day_before),
            None => self.period_containing(period.start),
        }
    }

    /// The period just after the one containing `period.end`. The last
    /// representable period (around year 262142) is its own next.
    pub fn next(self, period: Period) -> Period {
        match period.end.succ_opt() {
            Some(day_after) => self.period_containing(day_after),
            None => self.period_containing(period.end),
        }
    }

    /// The period just before the one containing `today`: the latest period
    /// that is over.
    pub fn last_completed_period(self, today: NaiveDate) -> Period {
        self.previous(self.period_containing(today))
    }

    /// The short name of `period` in this frequency, in a form
    /// [`PeriodRef::parse`] reads back: `2025-03-31`, `2025-W12`, `2025-03`,
    /// `2025-Q1`, `2025`.
    pub fn label(self, period: Period) -> String {
        let start = period.start;
        match self {
            Frequency::Daily => start.format("%Y-%m-%d").to_string(),
            Frequency::Weekly => {
                let week = start.iso_week();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Frequency::Monthly => format!("{:04}-{:02}", start.year(), start.month()),
            Frequency::Quarterly => {
                format!("{:04}-Q{}", start.year(), (start.month() - 1) / 3 + 1)
            }
            Frequency::Yearly => format!("{:04}", start.year()),
        }
    }

    /// Coarseness rank: DAILY < WEEKLY < MONTHLY < QUARTERLY < YEARLY.
    fn rank(self) -> u8 {
        match self {
            Frequency::Daily => 0,
            Frequency::Weekly => 1,
            Frequency::Monthly => 2,
            Frequency::Quarterly => 3,
            Frequency::Yearly => 4,
        }
    }

    /// "quarter", for error messages.
    fn noun(self) -> &'static str {
        match self {
            Frequency::Daily => "day",
            Frequency::Weekly => "ISO week",
            Frequency::Monthly => "month",
            Frequency::Quarterly => "quarter",
            Frequency::Yearly => "year",
        }
    }

    /// "a quarter", for error messages.
    fn a_period(self) -> &'static str {
        match self {
            Frequency::Daily => "a day",
            Frequency::Weekly => "an ISO week",
            Frequency::Monthly => "a month",
            Frequency::Quarterly => "a quarter",
            Frequency::Yearly => "a year",
        }
    }
}

/// Checks that a `period_end` sent by a client is the last day of `period`.
pub fn check_period_end(
    frequency: Frequency,
    period: Period,
    sent_end: NaiveDate,
) -> Result<(), PeriodError> {
    if sent_end == period.end {
        Ok(())
    } else {
        Err(PeriodError::EndMismatch {
            frequency,
            expected: period.end,
            sent: sent_end,
        })
    }
}

/// The date of an Excel cell in the 1900 date system (serial 1 = 1900-01-01).
/// The fractional part (time of day) is ignored. `None` for serial 60, Excel's
/// fictitious 1900-02-29, for serials below 1 or above 2958465 (9999-12-31),
/// and for NaN.
pub fn from_excel_serial(serial: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    // In range, so the cast is exact.
    let days = serial.trunc() as u64;
    let epoch = match days {
        60 => return None,
        // Before the fake leap day: serial 1 is 1899-12-31 + 1.
        1..=59 => ymd(1899, 12, 31)?,
        // After it every serial is one too high, hence the earlier epoch.
        _ => ymd(1899, 12, 30)?,
    };
    epoch.checked_add_days(Days::new(days))
}

/// The longest part of a client's text repeated in an error message.
const MAX_SHOWN: usize = 40;

fn shown(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Num(&'a str),
    Word(&'a str),
    Sep(char),
}

/// Splits upper-cased text into digit runs, letter runs and single
/// separators (a run of whitespace is one `' '`); `None` on any other
/// character.
fn tokenize(text: &str) -> Option<Vec<Tok<'_>>> {
    let mut toks = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let run = |pred: fn(char) -> bool| rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
        let (tok, len) = if c.is_ascii_digit() {
            let len = run(|c| c.is_ascii_digit());
            (Tok::Num(&rest[..len]), len)
        } else if c.is_ascii_alphabetic() {
            let len = run(|c| c.is_ascii_alphabetic());
            (Tok::Word(&rest[..len]), len)
        } else if c.is_whitespace() {
            (Tok::Sep(' '), run(char::is_whitespace))
        } else if matches!(c, '-' | '/' | '.') {
            (Tok::Sep(c), 1)
        } else {
            return None;
        };
        toks.push(tok);
        rest = &rest[len..];
    }
    Some(toks)
}

/// A digit run as a number when it has `min..=max` digits.
fn num(digits: &str, min: usize, max: usize) -> Option<u32> {
    if (min..=max).contains(&digits.len()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Reads a time of day after a date: `HH:MM`, `HH:MM:SS`, `HH:MM:SS.fff`,
/// optionally followed by `Z` or a UTC offset (`+02:00`, `-0500`, `+02`).
fn is_time_of_day(text: &str) -> bool {
    let (clock, offset) = match text.find(['Z', '+', '-']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let clock_ok = ["%H:%M:%S%.f", "%H:%M"]
        .iter()
        .any(|format| NaiveTime::parse_from_str(clock, format).is_ok());
    let offset_ok = match offset.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', rest @ ..] => {
            let digits: Vec<u8> = rest.iter().copied().filter(|&b| b != b':').collect();
            let colons = rest.len() - digits.len();
            let hhmm = digits.len() == 4 && (colons == 0 || rest.get(2) == Some(&b':'));
            let hh = digits.len() == 2 && colons == 0;
            (hhmm || hh) && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    clock_ok && offset_ok
}

impl PeriodRef {
    /// Reads a period as clients write it (surrounding whitespace and letter
    /// case ignored):
    ///
    /// - dates: `2025-03-31` (optionally with a time: `2025-03-31T00:00:00`,
    ///   `2025-03-31 00:00:00`), day first `31/03/2025`, `31-03-2025`,
    ///   `31.03.2025`, `1/3/2025`;
    /// - months: `2025-03`, `03/2025`, `2025/03`;
    /// - ISO weeks: `2025-W12`, `2025W12`, `2025-W12-3` (the day is ignored);
    /// - quarters: `2025-Q1`, `Q1 2025`, `Q1-2025`, `2025Q1`, `T1 2025`
    ///   (French *trimestre*);
    /// - years: `2025`.
    ///
    /// Years have four digits. Excel date cells are numbers, not text: see
    /// [`from_excel_serial`].
    pub fn parse(text: &str) -> Result<PeriodRef, PeriodError> {
        let trimmed = text.trim();
        let upper = trimmed.to_ascii_uppercase();
        let invalid = |reason: String| PeriodError::Invalid {
            input: shown(trimmed),
            reason,
        };
        let unrecognized = || PeriodError::Unrecognized {
            input: shown(trimmed),
        };

        // A time of day starts at the last 'T' or space before the first ':'.
        let (date_part, time_part) = match upper.find(':') {
            Some(colon) => {
                let at = upper[..colon].rfind(['T', ' ']).ok_or_else(unrecognized)?;
                (upper[..at].trim_end(), Some(upper[at + 1..].trim()))
            }
            None => (upper.as_str(), None),
        };

        let toks = tokenize(date_part).ok_or_else(unrecognized)?;
        let found = if toks.iter().any(|t| matches!(t, Tok::Word(_))) {
            // Weeks and quarters: the separators around the letter are optional.
            let words: Vec<Tok<'_>> = toks
                .into_iter()
                .filter(|t| !matches!(t, Tok::Sep('-' | ' ' | '/')))
                .collect();
            Self::parse_week_or_quarter(&words).map_err(invalid)?
        } else {
            Self::parse_numeric(&toks).map_err(invalid)?
        };
        let found = found.ok_or_else(unrecognized)?;

        match time_part {
            None => Ok(found),
            Some(_) if !matches!(found, PeriodRef::Date(_)) => Err(invalid(
                "a time of day is only allowed after a date, as in 2025-03-31T00:00:00".to_owned(),
            )),
            Some(time) if is_time_of_day(time) => Ok(found),
            Some(time) => Err(invalid(format!("\"{}\" is not a time of day", shown(time)))),
        }
    }

    /// Dates, months and years. `Ok(None)` when the shape is not one of them.
    fn parse_numeric(toks: &[Tok<'_>]) -> Result<Option<PeriodRef>, String> {
        use Tok::{Num, Sep};
        let date_sep = |c: &char| matches!(c, '-' | '/' | '.');
        match *toks {
            [Num(y)] => num(y, 4, 4)
                .map(|y| year(y).map(PeriodRef::Year))
                .transpose(),
            [Num(a), Sep(s), Num(b)] if date_sep(&s) => {
                let (y, m) = if a.len() == 4 { (a, b) } else { (b, a) };
                match (num(y, 4, 4), num(m, 1, 2)) {
                    (Some(y), Some(m)) => Ok(Some(month(year(y)?, m)?)),
                    _ => Ok(None),
                }
            }
            [Num(a), Sep(s1), Num(b), Sep(s2), Num(c)] if s1 == s2 && date_sep(&s1) => {
                let day_first = a.len() <= 2;
                let (y, m, d) = if day_first { (c, b, a) } else { (a, b, c) };
                match (num(y, 4, 4), num(m, 1, 2), num(d, 1, 2)) {
                    (Some(y), Some(m), Some(d)) => Ok(Some(date(year(y)?, m, d, day_first)?)),
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// ISO weeks and quarters, separators already removed. `Ok(None)` when
    /// the shape is not one of them.
    fn parse_week_or_quarter(toks: &[Tok<'_>]) -> Result<Option<PeriodRef>, String> {
        use Tok::{Num, Word};
        let (y, letter, n, day) = match *toks {
            [Num(y), Word(w), Num(n)] | [Word(w), Num(n), Num(y)] => (y, w, n, None),
            [Num(y), Word("W"), Num(n), Num(d)] => (y, "W", n, Some(d)),
            _ => return Ok(None),
        };
        let (Some(y), Some(n)) = (num(y, 4, 4), num(n, 1, 2)) else {
            return Ok(None);
        };
        let y = year(y)?;
        match letter {
            "W" => {
                if let Some(d) = day {
                    match num(d, 1, 1) {
                        Some(1..=7) => {}
                        _ => return Err(format!("day {d} of an ISO week must be 1 (Monday) to 7")),
                    }
                }
                iso_week(y, n).map(Some)
            }
            "Q" | "T" => quarter(y, n).map(Some),
            _ => Ok(None),
        }
    }

    /// The period this reference names for a KPI of `frequency`: a date names
    /// the period containing it; a month, week, quarter or year must be
    /// exactly one period of `frequency`, anything finer or coarser is
    /// ambiguous and an error.
    pub fn resolve(self, frequency: Frequency) -> Result<Period, PeriodError> {
        let (named, period, label) = match self {
            PeriodRef::Date(day) => return Ok(frequency.period_containing(check_date(day)?)),
            PeriodRef::Month { year, month } => (
                Frequency::Monthly,
                months(year, month, month),
                format!("{year:04}-{month:02}"),
            ),
            PeriodRef::IsoWeek { year, week } => (
                Frequency::Weekly,
                iso_week_period(year, week),
                format!("{year:04}-W{week:02}"),
            ),
            PeriodRef::Quarter { year, quarter } => (
                Frequency::Quarterly,
                (1..=4)
                    .contains(&quarter)
                    .then(|| months(year, quarter * 3 - 2, quarter * 3))
                    .flatten(),
                format!("{year:04}-Q{quarter}"),
            ),
            PeriodRef::Year(year) => (Frequency::Yearly, months(year, 1, 12), format!("{year:04}")),
        };
        // Only reachable for a PeriodRef built by hand, not by `parse`.
        let period = period.ok_or_else(|| PeriodError::Invalid {
            input: label.clone(),
            reason: format!("{label} does not exist"),
        })?;
        if named == frequency {
            return Ok(period);
        }
        let example = frequency.label(frequency.period_containing(period.start));
        let (what, wanted) = (named.a_period(), frequency.a_period());
        let hint = if frequency == Frequency::Daily {
            format!("give a date such as {example}")
        } else {
            format!("give a date or {wanted} such as {example}")
        };
        let relation = if named.rank() < frequency.rank() {
            format!("{what} does not name {wanted}")
        } else {
            format!("{what} does not name a single {}", frequency.noun())
        };
        Err(PeriodError::WrongGranularity {
            frequency,
            message: format!("{label} is {what} but the KPI is {frequency}: {relation}; {hint}"),
        })
    }

    /// [`from_excel_serial`], as an associated function.
    pub fn from_excel_serial(serial: f64) -> Option<NaiveDate> {
        from_excel_serial(serial)
    }
}

impl FromStr for PeriodRef {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeriodRef::parse(s)
    }
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn year(y: u32) -> Result<i32, String> {
    match i32::try_from(y) {
        Ok(y) if (FIRST_YEAR..=LAST_YEAR).contains(&y) => Ok(y),
        _ => Err(format!(
            "the year must be between {FIRST_YEAR} and {LAST_YEAR}"
        )),
    }
}

fn check_month(m: u32) -> Result<(), String> {
    if (1..=12).contains(&m) {
        Ok(())
    } else {
        Err(format!("month {m} does not exist (months are 1 to 12)"))
    }
}

fn month(year: i32, month: u32) -> Result<PeriodRef, String> {
    check_month(month)?;
    Ok(PeriodRef::Month { year, month })
}

fn date(year: i32, month: u32, day: u32, day_first: bool) -> Result<PeriodRef, String> {
    check_month(month).map_err(|e| {
        if day_first {
            format!("{e}; dates are read day first, as in 31/03/2025")
        } else {
            e
        }
    })?;
    let last = days_in_month(year, month);
    let name = MONTH_NAMES.get(month as usize - 1).copied().unwrap_or("");
    match ymd(year, month, day) {
        Some(d) => Ok(PeriodRef::Date(d)),
        None => Err(format!(
            "day {day} does not exist: {name} {year} has {last} days"
        )),
    }
}

fn iso_week(year: i32, week: u32) -> Result<PeriodRef, String> {
    let weeks_in_year = if iso_week_period(year, 53).is_some() {
        53
    } else {
        52
    };
    if (1..=weeks_in_year).contains(&week) {
        Ok(PeriodRef::IsoWeek { year, week })
    } else if week == 53 {
        Err(format!("{year} has no ISO week 53 (it has 52 weeks)"))
    } else {
        Err(format!(
            "week {week} does not exist (ISO weeks are 1 to 52, or 53 in some years)"
        ))
    }
}

fn quarter(year: i32, quarter: u32) -> Result<PeriodRef, String> {
    if (1..=4).contains(&quarter) {
        Ok(PeriodRef::Quarter { year, quarter })
    } else {
        Err(format!(
            "quarter {quarter} does not exist (quarters are 1 to 4)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ALL: [Frequency; 5] = [
        Frequency::Daily,
        Frequency::Weekly,
        Frequency::Monthly,
        Frequency::Quarterly,
        Frequency::Yearly,
    ];

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn p(start: &str, end: &str) -> Period {
        Period {
            start: d(start),
            end: d(end),
        }
    }

    fn parse(text: &str) -> PeriodRef {
        PeriodRef::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn parse_err(text: &str) -> String {
        match PeriodRef::parse(text) {
            Ok(found) => panic!("{text:?} parsed as {found:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn periods_of_a_mid_year_date() {
        let day = d("2025-05-14"); // a Wednesday
        assert_eq!(
            Frequency::Daily.period_containing(day),
            p("2025-05-14", "2025-05-14")
        );
        assert_eq!(
            Frequency::Weekly.period_containing(day),
            p("2025-05-12", "2025-05-18")
        );
        assert_eq!(
            Frequency::Monthly.period_containing(day),
            p("2025-05-01", "2025-05-31")
        );
        assert_eq!(
            Frequency::Quarterly.period_containing(day),
            p("2025-04-01", "2025-06-30")
        );
        assert_eq!(
            Frequency::Yearly.period_containing(day),
            p("2025-01-01", "2025-12-31")
        );
    }

    #[test]
    fn quarter_ends() {
        let q = Frequency::Quarterly;
        assert_eq!(
            q.period_containing(d("2025-03-31")),
            p("2025-01-01", "2025-03-31")
        );
        assert_eq!(
            q.period_containing(d("2025-04-01")),
            p("2025-04-01", "2025-06-30")
        );
        assert_eq!(
            q.period_containing(d("2025-09-30")),
            p("2025-07-01", "2025-09-30")
        );
        assert_eq!(
            q.period_containing(d("2025-10-01")),
            p("2025-10-01", "2025-12-31")
        );
        assert_eq!(
            q.period_containing(d("2025-12-31")),
            p("2025-10-01", "2025-12-31")
        );
    }

    #[test]
    fn leap_days() {
        let m = Frequency::Monthly;
        assert_eq!(
            m.period_containing(d("2024-02-10")),
            p("2024-02-01", "2024-02-29")
        );
        assert_eq!(
            m.period_containing(d("2024-02-29")),
            p("2024-02-01", "2024-02-29")
        );
        assert_eq!(
            m.period_containing(d("2025-02-10")),
            p("2025-02-01", "2025-02-28")
        );
        assert_eq!(
            m.period_containing(d("1900-02-10")),
            p("1900-02-01", "1900-02-28")
        );
        assert_eq!(
            m.period_containing(d("2000-02-10")),
            p("2000-02-01", "2000-02-29")
        );
        assert_eq!(
            m.previous(p("2024-03-01", "2024-03-31")),
            p("2024-02-01", "2024-02-29")
        );
        assert_eq!(
            check_period_end(m, p("2024-02-01", "2024-02-29"), d("2024-02-29")),
            Ok(())
        );
        assert!(check_period_end(m, p("2024-02-01", "2024-02-29"), d("2024-02-28")).is_err());
    }

    #[test]
    fn iso_week_53_and_year_ends() {
        let w = Frequency::Weekly;
        // 2020-12-31 (Thursday) and 2021-01-03 (Sunday) are both in 2020-W53.
        let w53 = p("2020-12-28", "2021-01-03");
        assert_eq!(w.period_containing(d("2020-12-31")), w53);
        assert_eq!(w.period_containing(d("2021-01-03")), w53);
        assert_eq!(w.label(w53), "2020-W53");
        assert_eq!(
            w.period_containing(d("2021-01-04")),
            p("2021-01-04", "2021-01-10")
        );
        assert_eq!(w.label(w.period_containing(d("2021-01-04"))), "2021-W01");
        // 2024-12-30 (Monday) starts 2025-W01.
        let w01 = w.period_containing(d("2025-01-01"));
        assert_eq!(w01, p("2024-12-30", "2025-01-05"));
        assert_eq!(w.label(w01), "2025-W01");
        assert_eq!(w.previous(w01), p("2024-12-23", "2024-12-29"));

        assert_eq!(
            parse("2026-W53").resolve(w),
            Ok(p("2026-12-28", "2027-01-03"))
        );
        assert_eq!(parse("2020-W53").resolve(w), Ok(w53));
        assert_eq!(
            parse_err("2025-W53"),
            "invalid period \"2025-W53\": 2025 has no ISO week 53 (it has 52 weeks)"
        );
    }

    #[test]
    fn previous_across_year_ends() {
        let jan = p("2025-01-01", "2025-01-31");
        assert_eq!(
            Frequency::Monthly.previous(jan),
            p("2024-12-01", "2024-12-31")
        );
        let q1 = p("2025-01-01", "2025-03-31");
        assert_eq!(
            Frequency::Quarterly.previous(q1),
            p("2024-10-01", "2024-12-31")
        );
        assert_eq!(
            Frequency::Yearly.previous(p("2025-01-01", "2025-12-31")),
            p("2024-01-01", "2024-12-31")
        );
        assert_eq!(
            Frequency::Daily.previous(p("2025-01-01", "2025-01-01")),
            p("2024-12-31", "2024-12-31")
        );
        assert_eq!(Frequency::Monthly.next(p("2024-12-01", "2024-12-31")), jan);
    }

    #[test]
    fn last_completed_period_is_the_one_before_today() {
        let today = d("2025-04-01");
        assert_eq!(
            Frequency::Daily.last_completed_period(today),
            p("2025-03-31", "2025-03-31")
        );
        assert_eq!(
            Frequency::Monthly.last_completed_period(today),
            p("2025-03-01", "2025-03-31")
        );
        assert_eq!(
            Frequency::Quarterly.last_completed_period(today),
            p("2025-01-01", "2025-03-31")
        );
        assert_eq!(
            Frequency::Yearly.last_completed_period(today),
            p("2024-01-01", "2024-12-31")
        );
        // On the last day of a month, that month is not over yet.
        assert_eq!(
            Frequency::Monthly.last_completed_period(d("2025-03-31")),
            p("2025-02-01", "2025-02-28")
        );
        // Tuesday 2025-01-07: the completed week is Monday 2024-12-30..Sunday 2025-01-05.
        assert_eq!(
            Frequency::Weekly.last_completed_period(d("2025-01-07")),
            p("2024-12-30", "2025-01-05")
        );
    }

    #[test]
    fn no_panic_at_the_ends_of_the_calendar() {
        let ends = [
            d("0001-01-01"),
            d("0001-01-07"),
            d("9998-12-31"),
            d("9999-12-31"),
            NaiveDate::MIN,
            NaiveDate::MAX,
        ];
        for freq in ALL {
            for day in ends {
                let period = freq.period_containing(day);
                assert!(period.contains(day), "{freq} {day} -> {period:?}");
                let before = freq.previous(period);
                assert!(before.end <= period.end);
                let _ = freq.next(period);
                let _ = freq.last_completed_period(day);
                let _ = freq.label(period);
            }
        }
        // Year 1 starts on a Monday, so its first week is whole.
        assert_eq!(
            Frequency::Weekly.period_containing(d("0001-01-03")),
            p("0001-01-01", "0001-01-07")
        );
        // The week of the first representable day is clipped to it.
        let first = Frequency::Weekly.period_containing(NaiveDate::MIN);
        assert_eq!(first.start, NaiveDate::MIN);
        assert_eq!(
            Frequency::Monthly
                .previous(Frequency::Monthly.period_containing(NaiveDate::MIN))
                .start,
            NaiveDate::MIN
        );
    }

    #[test]
    fn check_period_end_requires_the_last_day() {
        let march = Frequency::Monthly.period_containing(d("2025-03-12"));
        assert_eq!(
            check_period_end(Frequency::Monthly, march, d("2025-03-31")),
            Ok(())
        );
        let err = check_period_end(Frequency::Monthly, march, d("2025-03-30")).unwrap_err();
        assert_eq!(
            err,
            PeriodError::EndMismatch {
                frequency: Frequency::Monthly,
                expected: d("2025-03-31"),
                sent: d("2025-03-30"),
            }
        );
        assert_eq!(
            err.to_string(),
            "period_end must be the last day of the period, 2025-03-31 (got 2025-03-30)"
        );
        assert!(check_period_end(Frequency::Monthly, march, d("2025-03-01")).is_err());
    }

    #[test]
    fn parses_iso_dates_with_or_without_time() {
        let expected = PeriodRef::Date(d("2025-03-31"));
        for text in [
            "2025-03-31",
            "  2025-03-31\t",
            "2025-03-31T00:00:00",
            "2025-03-31t00:00:00",
            "2025-03-31 00:00:00",
            "2025-03-31 23:59",
            "2025-03-31T12:30:45.123",
            "2025-03-31T00:00:00Z",
            "2025-03-31T00:00:00+02:00",
            "2025-03-31T00:00:00-0500",
            "2025/03/31",
        ] {
            assert_eq!(parse(text), expected, "{text}");
        }
    }

    #[test]
    fn parses_day_first_dates() {
        let expected = PeriodRef::Date(d("2025-03-31"));
        for text in ["31/03/2025", "31-03-2025", "31.03.2025", "31/03/2025 00:00"] {
            assert_eq!(parse(text), expected, "{text}");
        }
        assert_eq!(parse("1/3/2025"), PeriodRef::Date(d("2025-03-01")));
        assert_eq!(parse("01/03/2025"), PeriodRef::Date(d("2025-03-01")));
        assert_eq!(parse("29/02/2024"), PeriodRef::Date(d("2024-02-29")));
    }

    #[test]
    fn parses_months() {
        let march = PeriodRef::Month {
            year: 2025,
            month: 3,
        };
        for text in [
            "2025-03",
            "03/2025",
            "2025/03",
            "3/2025",
            "2025-3",
            " 2025-03 ",
        ] {
            assert_eq!(parse(text), march, "{text}");
        }
        assert_eq!(
            parse("12/2025"),
            PeriodRef::Month {
                year: 2025,
                month: 12
            }
        );
    }

    #[test]
    fn parses_iso_weeks() {
        let w12 = PeriodRef::IsoWeek {
            year: 2025,
            week: 12,
        };
        for text in [
            "2025-W12",
            "2025W12",
            "2025-W12-3",
            "2025-w12",
            "2025w12",
            "2025-W12-7",
        ] {
            assert_eq!(parse(text), w12, "{text}");
        }
        assert_eq!(
            parse("2025-W01"),
            PeriodRef::IsoWeek {
                year: 2025,
                week: 1
            }
        );
        assert_eq!(
            parse("2025-W1"),
            PeriodRef::IsoWeek {
                year: 2025,
                week: 1
            }
        );
    }

    #[test]
    fn parses_quarters() {
        let q1 = PeriodRef::Quarter {
            year: 2025,
            quarter: 1,
        };
        for text in [
            "2025-Q1", "Q1 2025", "Q1-2025", "2025Q1", "T1 2025", "q1 2025", "2025-q1", "t1-2025",
            "2025 Q1", "Q1  2025",
        ] {
            assert_eq!(parse(text), q1, "{text}");
        }
        assert_eq!(
            parse("2025-Q4"),
            PeriodRef::Quarter {
                year: 2025,
                quarter: 4
            }
        );
    }

    #[test]
    fn parses_years() {
        assert_eq!(parse("2025"), PeriodRef::Year(2025));
        assert_eq!(parse(" 1999 "), PeriodRef::Year(1999));
        assert_eq!("2025".parse::<PeriodRef>(), Ok(PeriodRef::Year(2025)));
    }

    #[test]
    fn rejects_dates_that_do_not_exist() {
        assert_eq!(
            parse_err("31/02/2025"),
            "invalid period \"31/02/2025\": day 31 does not exist: February 2025 has 28 days"
        );
        assert_eq!(
            parse_err("2025-02-29"),
            "invalid period \"2025-02-29\": day 29 does not exist: February 2025 has 28 days"
        );
        assert!(parse_err("31/04/2025").contains("April 2025 has 30 days"));
        assert!(parse_err("00/04/2025").contains("day 0 does not exist"));
        // US month-first dates are caught when the "month" exceeds 12.
        assert_eq!(
            parse_err("03/31/2025"),
            "invalid period \"03/31/2025\": month 31 does not exist (months are 1 to 12); \
             dates are read day first, as in 31/03/2025"
        );
        assert!(parse_err("2025-13-01").contains("month 13 does not exist"));
    }

    #[test]
    fn rejects_invalid_months_weeks_quarters_and_years() {
        assert_eq!(
            parse_err("2025-13"),
            "invalid period \"2025-13\": month 13 does not exist (months are 1 to 12)"
        );
        assert!(parse_err("13/2025").contains("month 13 does not exist"));
        assert!(parse_err("2025-00").contains("month 0 does not exist"));
        assert_eq!(
            parse_err("2025-W54"),
            "invalid period \"2025-W54\": week 54 does not exist (ISO weeks are 1 to 52, or 53 in some years)"
        );
        assert!(parse_err("2025-W00").contains("week 0 does not exist"));
        assert!(parse_err("2025-W53").contains("2025 has no ISO week 53"));
        assert!(parse_err("2025-W12-8").contains("day 8 of an ISO week"));
        assert_eq!(
            parse_err("2025-Q5"),
            "invalid period \"2025-Q5\": quarter 5 does not exist (quarters are 1 to 4)"
        );
        assert!(parse_err("Q0 2025").contains("quarter 0 does not exist"));
        assert!(parse_err("0000").contains("year must be between 1900 and 2199"));
        assert!(parse_err("31/12/9999").contains("year must be between 1900 and 2199"));
        assert!(parse_err("1899-W52").contains("year must be between 1900 and 2199"));
    }

    #[test]
    fn dates_outside_1900_to_2199_are_refused_whatever_their_form() {
        assert_eq!(check_date(d("1900-01-01")), Ok(d("1900-01-01")));
        assert_eq!(check_date(d("2199-12-31")), Ok(d("2199-12-31")));
        for far in ["1899-12-31", "2200-01-01", "9999-12-31", "0000-01-01"] {
            assert_eq!(check_date(d(far)), Err(DateOutOfRange(d(far))));
            let error = PeriodRef::Date(d(far)).resolve(Frequency::Monthly);
            assert_eq!(
                error.map_err(|e| e.to_string()),
                Err(format!(
                    "{far} is out of range: dates must lie between 1900-01-01 and 2199-12-31"
                ))
            );
        }
        // an Excel serial of year 2200 is a date cell out of range, not a period
        let serial = from_excel_serial(110_000.0).map(PeriodRef::Date);
        assert!(matches!(
            serial.map(|r| r.resolve(Frequency::Daily)),
            Some(Err(PeriodError::OutOfRange(_)))
        ));
    }

    #[test]
    fn rejects_unrecognized_text_naming_the_accepted_forms() {
        for text in [
            "",
            "   ",
            "March 2025",
            "25",
            "20250331",
            "2025-03-31-01",
            "31/03/25",
            "2025-W123",
            "Q12025",
            "2025-S1",
            "2025-03/31",
            "2025_03",
            "+2025",
            "12345",
            "2025-03-31T",
            ":",
            "2025-03-31X00:00",
        ] {
            let err = PeriodRef::parse(text).unwrap_err();
            assert!(
                matches!(err, PeriodError::Unrecognized { .. }),
                "{text:?} gave {err:?}"
            );
            assert!(err.to_string().contains(ACCEPTED_FORMS), "{err}");
        }
        assert_eq!(
            parse_err("next month"),
            format!("unrecognized period \"next month\": {ACCEPTED_FORMS}")
        );
    }

    #[test]
    fn rejects_bad_time_parts() {
        assert!(parse_err("2025-03-31T25:00:00").contains("is not a time of day"));
        assert!(parse_err("2025-03-31 00:00:00 foo").contains("is not a time of day"));
        assert!(parse_err("2025-03-31T00:00:00+2").contains("is not a time of day"));
        assert!(parse_err("2025-03 00:00").contains("only allowed after a date"));
        assert!(parse_err("31/02/2025 00:00").contains("day 31 does not exist"));
    }

    #[test]
    fn long_input_is_shortened_in_messages() {
        let long = "x".repeat(500);
        let message = parse_err(&long);
        assert!(message.len() < 300, "{message}");
        assert!(message.contains(&format!("{}…", "x".repeat(MAX_SHOWN))));
    }

    #[test]
    fn resolve_same_granularity() {
        assert_eq!(
            parse("2025-03").resolve(Frequency::Monthly),
            Ok(p("2025-03-01", "2025-03-31"))
        );
        assert_eq!(
            parse("2025-W12").resolve(Frequency::Weekly),
            Ok(p("2025-03-17", "2025-03-23"))
        );
        assert_eq!(
            parse("T2 2025").resolve(Frequency::Quarterly),
            Ok(p("2025-04-01", "2025-06-30"))
        );
        assert_eq!(
            parse("2025").resolve(Frequency::Yearly),
            Ok(p("2025-01-01", "2025-12-31"))
        );
        assert_eq!(
            parse("2024-02").resolve(Frequency::Monthly),
            Ok(p("2024-02-01", "2024-02-29"))
        );
    }

    #[test]
    fn resolve_a_date_for_every_frequency() {
        let date = parse("31/03/2025");
        assert_eq!(
            date.resolve(Frequency::Daily),
            Ok(p("2025-03-31", "2025-03-31"))
        );
        assert_eq!(
            date.resolve(Frequency::Weekly),
            Ok(p("2025-03-31", "2025-04-06"))
        );
        assert_eq!(
            date.resolve(Frequency::Monthly),
            Ok(p("2025-03-01", "2025-03-31"))
        );
        assert_eq!(
            date.resolve(Frequency::Quarterly),
            Ok(p("2025-01-01", "2025-03-31"))
        );
        assert_eq!(
            date.resolve(Frequency::Yearly),
            Ok(p("2025-01-01", "2025-12-31"))
        );
    }

    fn resolve_err(text: &str, frequency: Frequency) -> String {
        match parse(text).resolve(frequency) {
            Ok(period) => panic!("{text} resolved to {period:?} for {frequency}"),
            Err(e) => {
                assert!(
                    matches!(e, PeriodError::WrongGranularity { frequency: f, .. } if f == frequency)
                );
                e.to_string()
            }
        }
    }

    #[test]
    fn resolve_rejects_finer_tokens() {
        assert_eq!(
            resolve_err("2025-05", Frequency::Quarterly),
            "2025-05 is a month but the KPI is QUARTERLY: a month does not name a quarter; \
             give a date or a quarter such as 2025-Q2"
        );
        assert_eq!(
            resolve_err("2025-03", Frequency::Yearly),
            "2025-03 is a month but the KPI is YEARLY: a month does not name a year; \
             give a date or a year such as 2025"
        );
        assert_eq!(
            resolve_err("2025-W12", Frequency::Monthly),
            "2025-W12 is an ISO week but the KPI is MONTHLY: an ISO week does not name a month; \
             give a date or a month such as 2025-03"
        );
        assert!(
            resolve_err("2025-Q1", Frequency::Yearly).contains("a quarter does not name a year")
        );
    }

    #[test]
    fn resolve_rejects_coarser_tokens() {
        assert_eq!(
            resolve_err("2025-Q1", Frequency::Monthly),
            "2025-Q1 is a quarter but the KPI is MONTHLY: a quarter does not name a single month; \
             give a date or a month such as 2025-01"
        );
        assert_eq!(
            resolve_err("2025-03", Frequency::Daily),
            "2025-03 is a month but the KPI is DAILY: a month does not name a single day; \
             give a date such as 2025-03-01"
        );
        assert!(
            resolve_err("2025-03", Frequency::Weekly).contains("does not name a single ISO week")
        );
        assert!(
            resolve_err("2025", Frequency::Quarterly)
                .contains("a year does not name a single quarter")
        );
        assert!(
            resolve_err("2025-W12", Frequency::Daily)
                .contains("an ISO week does not name a single day")
        );
    }

    #[test]
    fn resolve_rejects_hand_built_nonsense() {
        for bad in [
            PeriodRef::Month {
                year: 2025,
                month: 13,
            },
            PeriodRef::Quarter {
                year: 2025,
                quarter: 0,
            },
            PeriodRef::Quarter {
                year: 2025,
                quarter: u32::MAX,
            },
            PeriodRef::IsoWeek {
                year: 2025,
                week: 53,
            },
            PeriodRef::Year(i32::MAX),
        ] {
            for freq in ALL {
                let err = bad.resolve(freq).unwrap_err();
                assert!(
                    matches!(err, PeriodError::Invalid { .. }),
                    "{bad:?}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn excel_serials() {
        assert_eq!(from_excel_serial(45658.0), Some(d("2025-01-01")));
        assert_eq!(from_excel_serial(45747.0), Some(d("2025-03-31")));
        assert_eq!(from_excel_serial(45747.75), Some(d("2025-03-31")));
        assert_eq!(PeriodRef::from_excel_serial(45658.5), Some(d("2025-01-01")));
        assert_eq!(from_excel_serial(1.0), Some(d("1900-01-01")));
        assert_eq!(from_excel_serial(59.0), Some(d("1900-02-28")));
        assert_eq!(from_excel_serial(60.0), None);
        assert_eq!(from_excel_serial(60.5), None);
        assert_eq!(from_excel_serial(61.0), Some(d("1900-03-01")));
        assert_eq!(from_excel_serial(2_958_465.0), Some(d("9999-12-31")));
        assert_eq!(from_excel_serial(2_958_466.0), None);
        assert_eq!(from_excel_serial(0.0), None);
        assert_eq!(from_excel_serial(0.5), None);
        assert_eq!(from_excel_serial(-1.0), None);
        assert_eq!(from_excel_serial(f64::NAN), None);
        assert_eq!(from_excel_serial(f64::INFINITY), None);
    }

    #[test]
    fn labels_read_back_as_the_same_period() {
        let day = d("2025-03-31");
        for freq in ALL {
            let period = freq.period_containing(day);
            let label = freq.label(period);
            assert_eq!(parse(&label).resolve(freq), Ok(period), "{label}");
        }
    }

    fn day_in_1900_to_2199() -> impl Strategy<Value = NaiveDate> {
        let first = d("1900-01-01");
        let span = (d("2199-12-31") - first).num_days();
        (0..=span).prop_map(move |n| first + chrono::Duration::days(n))
    }

    fn frequency() -> impl Strategy<Value = Frequency> {
        proptest::sample::select(ALL.to_vec())
    }

    proptest! {
        #[test]
        fn every_day_is_in_exactly_one_period(day in day_in_1900_to_2199(), freq in frequency()) {
            let period = freq.period_containing(day);
            prop_assert!(period.start <= day && day <= period.end);
            prop_assert_eq!(freq.period_containing(period.start), period);
            prop_assert_eq!(freq.period_containing(period.end), period);
            // Neighbours touch without overlap, so no other period holds `day`.
            prop_assert_eq!(freq.previous(period).end.succ_opt(), Some(period.start));
            prop_assert_eq!(freq.next(period).start.pred_opt(), Some(period.end));
            prop_assert_eq!(freq.last_completed_period(day), freq.previous(period));
        }

        #[test]
        fn periods_have_the_expected_shape(day in day_in_1900_to_2199()) {
            let week = Frequency::Weekly.period_containing(day);
            prop_assert_eq!(week.start.weekday(), Weekday::Mon);
            prop_assert_eq!(week.end.weekday(), Weekday::Sun);
            prop_assert_eq!(week.start.iso_week(), day.iso_week());
            let month = Frequency::Monthly.period_containing(day);
            prop_assert_eq!((month.start.day(), month.start.month()), (1, day.month()));
            prop_assert_eq!(month.end.succ_opt().map(|n| n.day()), Some(1));
            let quarter = Frequency::Quarterly.period_containing(day);
            prop_assert!(matches!(quarter.start.month(), 1 | 4 | 7 | 10));
            prop_assert_eq!(quarter.start.day(), 1);
            prop_assert_eq!(quarter.start.year(), day.year());
            let year = Frequency::Yearly.period_containing(day);
            prop_assert_eq!((year.start.ordinal(), year.end.year()), (1, day.year()));
        }

        #[test]
        fn written_dates_parse_back(day in day_in_1900_to_2199()) {
            for format in ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%-d/%-m/%Y", "%Y-%m-%dT%H:%M:%S"] {
                let text = day.and_hms_opt(0, 0, 0).expect("midnight").format(format).to_string();
                prop_assert_eq!(PeriodRef::parse(&text), Ok(PeriodRef::Date(day)), "{}", text);
            }
        }

        #[test]
        fn labels_parse_back(day in day_in_1900_to_2199(), freq in frequency()) {
            let period = freq.period_containing(day);
            let label = freq.label(period);
            prop_assert_eq!(PeriodRef::parse(&label).and_then(|r| r.resolve(freq)), Ok(period));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,24}") {
            let _ = PeriodRef::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_period_like_text(text in "[0-9WQTwqt :/.+Z-]{0,20}") {
            let _ = PeriodRef::parse(&text);
        }

        #[test]
        fn excel_serials_count_days(serial in 61u32..2_958_465) {
            let day = from_excel_serial(f64::from(serial)).expect("in range");
            prop_assert_eq!(from_excel_serial(f64::from(serial + 1)), day.succ_opt());
        }
    }
}
