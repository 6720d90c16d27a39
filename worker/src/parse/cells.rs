//! Cell values: number parsing, f64 and date conversion, and what a cell means as KPI, period, value or comment.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::PeriodCell;

/// Excel shows 15 significant digits; rounding there removes binary noise such as 0.1 + 0.2.
const EXCEL_SIGNIFICANT_DIGITS: u32 = 15;
/// First serial after 9999-12-31 (1900 epoch).
const EXCEL_MAX_SERIAL: f64 = 2_958_466.0;

/// Parses a number as people type it in French or English spreadsheets.
///
/// Accepts `12.5`, `12,5`, `-3`, `+3`, `1 234,5` (space, U+00A0 or U+202F thousands),
/// `1,234.5`, `1.234,5`, `95 %` (the sign is dropped: 95). Anything else is an error
/// message, never a silent zero.
pub fn parse_number(text: &str) -> Result<Decimal, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("missing value".to_owned());
    }
    parse_trimmed(trimmed).ok_or_else(|| format!("not a number: '{}'", shorten(trimmed)))
}

fn parse_trimmed(s: &str) -> Option<Decimal> {
    let s = match s.strip_suffix('%') {
        Some(rest) => rest.trim_end(),
        None => s,
    };
    let (negative, s) = match s.chars().next()? {
        '-' | '\u{2212}' => (true, &s[s.chars().next()?.len_utf8()..]),
        '+' => (false, &s[1..]),
        _ => (false, s),
    };
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == ',') {
        return None;
    }
    let commas = s.matches(',').count();
    let dots = s.matches('.').count();
    // Decide which of ',' and '.' is the decimal separator; the other may group thousands.
    let (decimal, grouping) = match (commas, dots) {
        (0, 0) => (None, None),
        (1, 0) => (Some(','), None),
        (0, 1) => (Some('.'), None),
        (_, 0) => (None, Some(',')),
        (0, _) => (None, Some('.')),
        _ => {
            let last_comma = s.rfind(',')?;
            let last_dot = s.rfind('.')?;
            if last_comma > last_dot {
                if commas != 1 {
                    return None;
                }
                (Some(','), Some('.'))
            } else {
                if dots != 1 {
                    return None;
                }
                (Some('.'), Some(','))
            }
        }
    };
    let (int_part, frac_part) = match decimal {
        Some(sep) => {
            let (i, f) = s.split_once(sep)?;
            (i, Some(f))
        }
        None => (s, None),
    };
    let mut digits = String::with_capacity(s.len() + 1);
    if negative {
        digits.push('-');
    }
    push_integer_digits(int_part, grouping, &mut digits)?;
    if let Some(frac) = frac_part {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.trim_start_matches('-').is_empty() {
            digits.push('0');
        }
        digits.push('.');
        digits.push_str(frac);
    }
    Decimal::from_str_exact(&digits).ok().map(|d| d.normalize())
}

/// Appends the digits of the integer part, checking that thousands groups have three digits.
fn push_integer_digits(int_part: &str, grouping: Option<char>, out: &mut String) -> Option<()> {
    if int_part.is_empty() {
        // ",5" / ".5": allowed only with a fraction, checked by the caller.
        return Some(());
    }
    let is_space_sep = |c: char| c == ' ' || c == '\u{a0}' || c == '\u{202f}';
    let has_space = int_part.contains(is_space_sep);
    let groups: Vec<&str> = match (grouping, has_space) {
        (Some(_), true) => return None,
        (Some(sep), false) => int_part.split(sep).collect(),
        (None, true) => int_part.split(is_space_sep).collect(),
        (None, false) => vec![int_part],
    };
    for (i, group) in groups.iter().enumerate() {
        if group.is_empty() || !group.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if groups.len() > 1 && ((i == 0 && group.len() > 3) || (i > 0 && group.len() != 3)) {
            return None;
        }
        out.push_str(group);
    }
    Some(())
}

/// Converts a spreadsheet float to the decimal Excel displays (15 significant digits).
pub(crate) fn f64_to_decimal(value: f64) -> Result<Decimal, String> {
    if !value.is_finite() {
        return Err(format!("not a number: '{value}'"));
    }
    if value == 0.0 {
        return Ok(Decimal::ZERO);
    }
    Decimal::from_f64_retain(value)
        .and_then(|d| d.round_sf(EXCEL_SIGNIFICANT_DIGITS))
        .map(|d| d.normalize())
        .ok_or_else(|| format!("number out of range: '{value}'"))
}

/// Text of a float cell as Excel shows it, without binary noise.
fn f64_text(value: f64) -> String {
    match f64_to_decimal(value) {
        Ok(d) => d.to_string(),
        Err(_) => value.to_string(),
    }
}

/// Truncates long cell text in messages.
pub(crate) fn shorten(s: &str) -> String {
    const MAX_CHARS: usize = 60;
    if s.chars().count() <= MAX_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_CHARS).collect();
        out.push('…');
        out
    }
}

/// One cell, independent of the file format.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum CellValue {
    #[default]
    Empty,
    Text(String),
    /// `percent`: the cell is formatted as a percentage, so 0.95 is shown and meant as 95.
    Number {
        value: f64,
        percent: bool,
    },
    Int(i64),
    Bool(bool),
    /// A date cell; the time of day, if any, is dropped.
    Date(NaiveDate),
    /// A duration or time-only cell, shown as its text.
    Duration(String),
    Error(String),
}

impl CellValue {
    /// A cell from a date serial; out of Excel's range it stays a number.
    pub(crate) fn from_excel_date(dt: &calamine::ExcelDateTime) -> Self {
        let serial = dt.as_f64();
        if dt.is_duration() {
            return Self::Duration(f64_text(serial));
        }
        if !(0.0..EXCEL_MAX_SERIAL).contains(&serial) {
            return Self::Number {
                value: serial,
                percent: false,
            };
        }
        let (y, m, d, ..) = dt.to_ymd_hms_milli();
        match NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d)) {
            Some(date) => Self::Date(date),
            // Excel's fictitious 1900-02-29.
            None => Self::Number {
                value: serial,
                percent: false,
            },
        }
    }

    /// A cell from an ISO 8601 date or date-time (ODS, XLSX `t="d"`).
    pub(crate) fn from_iso_datetime(text: &str) -> Self {
        let date_part = text.get(..10).unwrap_or(text);
        match NaiveDate::parse_from_str(date_part, "%Y-%m-%d") {
            Ok(date) if text.len() == 10 || text.as_bytes().get(10) == Some(&b'T') => {
                Self::Date(date)
            }
            _ => Self::Text(text.to_owned()),
        }
    }

    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// Bytes of text held, for the field-length limit.
    pub(crate) fn text_len(&self) -> usize {
        match self {
            Self::Text(s) | Self::Duration(s) | Self::Error(s) => s.len(),
            _ => 0,
        }
    }

    /// The cell as the user sees it.
    pub(crate) fn display(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Text(s) => s.trim().to_owned(),
            Self::Number {
                value,
                percent: true,
            } => format!("{}%", f64_text(value * 100.0)),
            Self::Number { value, .. } => f64_text(*value),
            Self::Int(i) => i.to_string(),
            Self::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
            Self::Date(d) => d.format("%Y-%m-%d").to_string(),
            Self::Duration(s) | Self::Error(s) => s.clone(),
        }
    }

    pub(crate) fn to_period(&self) -> PeriodCell {
        match self {
            Self::Date(d) => PeriodCell::Date(*d),
            Self::Number { value, .. } if value.fract() == 0.0 && value.abs() < 1e15 => {
                PeriodCell::Text(format!("{}", *value as i64))
            }
            other => PeriodCell::Text(other.display()),
        }
    }

    pub(crate) fn to_value(&self) -> Result<Decimal, String> {
        match self {
            Self::Empty => Err("missing value".to_owned()),
            Self::Text(s) => parse_number(s),
            Self::Number {
                value,
                percent: true,
            } => f64_to_decimal(value * 100.0),
            Self::Number { value, .. } => f64_to_decimal(*value),
            Self::Int(i) => Ok(Decimal::from(*i)),
            Self::Bool(_) => Err(format!("not a number: '{}'", self.display())),
            Self::Date(d) => Err(format!(
                "not a number: '{}' is a date",
                d.format("%Y-%m-%d")
            )),
            Self::Duration(s) => Err(format!("not a number: '{s}' is a duration")),
            Self::Error(s) => Err(format!("the cell contains the error {s}")),
        }
    }

    pub(crate) fn to_comment(&self) -> Option<String> {
        let text = self.display();
        if text.is_empty() { None } else { Some(text) }
    }
}

/// Converts calamine's owned cell value.
impl From<calamine::Data> for CellValue {
    fn from(data: calamine::Data) -> Self {
        use calamine::Data;
        match data {
            Data::Int(i) => Self::Int(i),
            Data::Float(f) => Self::Number {
                value: f,
                percent: false,
            },
            Data::String(s) => Self::Text(s),
            Data::Bool(b) => Self::Bool(b),
            Data::DateTime(dt) => Self::from_excel_date(&dt),
            Data::DateTimeIso(s) => Self::from_iso_datetime(&s),
            Data::DurationIso(s) => Self::Duration(s),
            Data::Error(e) => Self::Error(e.to_string()),
            Data::Empty => Self::Empty,
        }
    }
}

/// Converts calamine's borrowed cell value (XLSX streaming).
pub(crate) fn from_data_ref(data: calamine::DataRef<'_>, percent: bool) -> CellValue {
    use calamine::DataRef;
    match data {
        DataRef::Int(i) if percent => CellValue::Number {
            value: i as f64,
            percent: true,
        },
        DataRef::Int(i) => CellValue::Int(i),
        DataRef::Float(value) => CellValue::Number { value, percent },
        DataRef::String(s) => CellValue::Text(s),
        DataRef::SharedString(s) => CellValue::Text(s.to_owned()),
        DataRef::Bool(b) => CellValue::Bool(b),
        DataRef::DateTime(dt) => CellValue::from_excel_date(&dt),
        DataRef::DateTimeIso(s) => CellValue::from_iso_datetime(&s),
        DataRef::DurationIso(s) => CellValue::Duration(s),
        DataRef::Error(e) => CellValue::Error(e.to_string()),
        DataRef::Empty => CellValue::Empty,
    }
}

/// Whether an Excel number format shows values as percentages (a `%` outside quotes and brackets).
pub(crate) fn is_percent_format(code: &str) -> bool {
    let mut in_quotes = false;
    let mut in_brackets = false;
    let mut escaped = false;
    for c in code.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if !in_quotes => escaped = true,
            '"' if !in_brackets => in_quotes = !in_quotes,
            '[' if !in_quotes => in_brackets = true,
            ']' if !in_quotes => in_brackets = false,
            '%' if !in_quotes && !in_brackets => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn accepts_the_usual_ways_of_writing_numbers() {
        let cases = [
            ("12.5", "12.5"),
            ("12,5", "12.5"),
            ("-3", "-3"),
            ("+3", "3"),
            ("0", "0"),
            ("  42  ", "42"),
            ("1 234,5", "1234.5"),
            ("1\u{a0}234,5", "1234.5"),
            ("1\u{202f}234,5", "1234.5"),
            ("12 345 678,25", "12345678.25"),
            ("1,234.5", "1234.5"),
            ("1.234,5", "1234.5"),
            ("1.234.567,89", "1234567.89"),
            ("1,234,567", "1234567"),
            ("95 %", "95"),
            ("95%", "95"),
            ("91,6 %", "91.6"),
            ("-0,5", "-0.5"),
            (",5", "0.5"),
            ("\u{2212}7", "-7"),
            ("2.0", "2"),
            ("0.1", "0.1"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_number(input), Ok(dec(expected)), "input {input:?}");
        }
    }

    #[test]
    fn rejects_everything_else_with_a_message() {
        let cases = [
            "abc",
            "12..5",
            "1,2,3",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "1e5",
            "12a",
            "--3",
            "+-3",
            "1 23",
            "12 345,6.7",
            "1.234,5,6",
            "5,",
            "5.",
            "%",
            "-",
            "€ 12",
            "12 €",
            "1 234.567,5",
            "(12)",
            "0x10",
            "1_000",
        ];
        for input in cases {
            let err = parse_number(input).unwrap_err();
            assert!(err.starts_with("not a number: '"), "input {input:?}: {err}");
        }
        assert_eq!(parse_number(""), Err("missing value".to_owned()));
        assert_eq!(parse_number("   "), Err("missing value".to_owned()));
    }

    #[test]
    fn rejects_numbers_too_large_for_a_decimal() {
        assert!(parse_number("123456789012345678901234567890123").is_err());
    }

    #[test]
    fn floats_convert_as_excel_displays_them() {
        assert_eq!(f64_to_decimal(0.1 + 0.2), Ok(dec("0.3")));
        assert_eq!(
            f64_to_decimal(f64::from_bits(95.65_f64.to_bits() + 1)),
            Ok(dec("95.65"))
        );
        assert_eq!(
            f64_to_decimal(f64::from_bits(97.24_f64.to_bits() - 1)),
            Ok(dec("97.24"))
        );
        assert_eq!(f64_to_decimal(-2.5), Ok(dec("-2.5")));
        assert_eq!(f64_to_decimal(1e-12), Ok(dec("0.000000000001")));
        assert_eq!(f64_to_decimal(123_456_789_012.5), Ok(dec("123456789012.5")));
        assert!(f64_to_decimal(f64::NAN).is_err());
        assert!(f64_to_decimal(f64::INFINITY).is_err());
        assert!(f64_to_decimal(1e300).is_err());
    }

    #[test]
    fn percent_formats_are_recognised() {
        assert!(is_percent_format("0%"));
        assert!(is_percent_format("0.00%"));
        assert!(is_percent_format("#,##0.0 %"));
        assert!(!is_percent_format("0.00"));
        assert!(!is_percent_format("0\" %\""));
        assert!(!is_percent_format("0\\%"));
        assert!(!is_percent_format("General"));
    }

    #[test]
    fn period_cells() {
        let n = |value| CellValue::Number {
            value,
            percent: false,
        };
        assert_eq!(n(2025.0).to_period(), PeriodCell::Text("2025".to_owned()));
        assert_eq!(n(2025.5).to_period(), PeriodCell::Text("2025.5".to_owned()));
        let date = NaiveDate::from_ymd_opt(2024, 1, 31).unwrap();
        assert_eq!(
            CellValue::from_iso_datetime("2024-01-31").to_period(),
            PeriodCell::Date(date)
        );
        assert_eq!(
            CellValue::from_iso_datetime("2024-01-31T00:00:00").to_period(),
            PeriodCell::Date(date)
        );
        assert_eq!(
            CellValue::from_iso_datetime("2024-W05"),
            CellValue::Text("2024-W05".to_owned())
        );
    }

    #[test]
    fn value_cells() {
        let pct = CellValue::Number {
            value: 0.956,
            percent: true,
        };
        assert_eq!(pct.to_value(), Ok(dec("95.6")));
        assert_eq!(pct.display(), "95.6%");
        assert_eq!(CellValue::Int(7).to_value(), Ok(dec("7")));
        assert_eq!(CellValue::Empty.to_value(), Err("missing value".to_owned()));
        assert!(CellValue::Bool(true).to_value().is_err());
        assert!(
            CellValue::Error("#DIV/0!".to_owned())
                .to_value()
                .unwrap_err()
                .contains("#DIV/0!")
        );
        let date = CellValue::Date(NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        assert!(date.to_value().unwrap_err().contains("date"));
    }

    proptest! {
        #[test]
        fn any_decimal_round_trips_with_dot_or_comma(
            mantissa in any::<i64>(),
            scale in 0u32..=18,
            comma in any::<bool>(),
        ) {
            let d = Decimal::new(mantissa, scale);
            let text = d.to_string();
            let text = if comma { text.replace('.', ",") } else { text };
            prop_assert_eq!(parse_number(&text), Ok(d.normalize()));
        }

        #[test]
        fn any_decimal_round_trips_with_grouped_thousands(
            int in 0u64..=999_999_999_999,
            frac in 0u32..1000,
            french in any::<bool>(),
        ) {
            let grouped = group_thousands(int, if french { '\u{a0}' } else { ',' });
            let text = if french { format!("{grouped},{frac:03}") } else { format!("{grouped}.{frac:03}") };
            let expected = Decimal::from(int) + Decimal::new(i64::from(frac), 3);
            prop_assert_eq!(parse_number(&text), Ok(expected.normalize()));
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = parse_number(&s);
        }
    }

    fn group_thousands(n: u64, sep: char) -> String {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }
}
