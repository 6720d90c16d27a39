//! Turns a parsed record into a value to write, or a row error: the KPI
//! reference, the period for the KPI's frequency, the number; and rejects the
//! same KPI and period twice in one file.
use std::collections::HashMap;

use kpix_shared::{
    db::kpi_values::ValueWrite,
    db::kpis::KpiRef,
    domain::{PeriodRef, from_excel_serial},
    ids::KpiId,
};

use crate::parse::{KpiColumn, PeriodCell, Record};

/// Which column a row error is about; named with the file's own header text
/// once the header is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Kpi,
    Period,
    Value,
    Comment,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub row: u64,
    pub column: Column,
    pub value: String,
    pub message: String,
}

/// The KPIs an import may write to, indexed every way a file can name them.
pub struct Resolver {
    kpis: Vec<KpiRef>,
    by_id: HashMap<KpiId, u32>,
    by_code: HashMap<String, u32>,
    by_name: HashMap<String, Vec<u32>>,
    /// (KPI index, period start as days) → the first row that wrote it, for
    /// the rows not yet handed to the database (which checks the earlier ones).
    seen: HashMap<(u32, i32), u64>,
}

fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Longest cell text copied into an error report.
const MAX_REPORTED_VALUE: usize = 200;

fn shown(text: &str) -> String {
    text.chars().take(MAX_REPORTED_VALUE).collect()
}

impl Resolver {
    /// `kpis` are the KPIs the importing user can see (a KPI they cannot see
    /// is unknown, whatever exists).
    pub fn new(kpis: Vec<KpiRef>) -> Self {
        let mut by_id = HashMap::new();
        let mut by_code = HashMap::new();
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::new();
        for (index, kpi) in kpis.iter().enumerate() {
            let index = index as u32;
            by_id.insert(kpi.id, index);
            if let Some(code) = &kpi.code {
                by_code.insert(normalize(code), index);
            }
            by_name.entry(normalize(&kpi.name)).or_default().push(index);
        }
        Self {
            kpis,
            by_id,
            by_code,
            by_name,
            seen: HashMap::new(),
        }
    }

    fn find_kpi(&self, column: KpiColumn, text: &str) -> Result<u32, String> {
        let key = normalize(text);
        if key.is_empty() {
            return Err("missing KPI".into());
        }
        let by_id = || {
            text.trim()
                .parse::<KpiId>()
                .ok()
                .and_then(|id| self.by_id.get(&id).copied())
        };
        let by_code = || self.by_code.get(&key).copied();
        let by_name = || match self.by_name.get(&key).map(Vec::as_slice) {
            Some([one]) => Ok(Some(*one)),
            Some([_, _, ..]) => Err(format!(
                "several KPIs are named '{}'; use the KPI code or choose a dashboard for the import",
                shown(text.trim())
            )),
            _ => Ok(None),
        };
        let found = match column {
            KpiColumn::Id => by_id(),
            KpiColumn::Code => by_code(),
            KpiColumn::Name => by_name()?,
            KpiColumn::Auto => match by_id().or_else(by_code) {
                Some(index) => Some(index),
                None => by_name()?,
            },
        };
        found.ok_or_else(|| format!("unknown KPI '{}'", shown(text.trim())))
    }

    /// Validates one record. Every problem of the row is reported, column by column.
    pub fn resolve(&mut self, record: Record) -> Result<ValueWrite, Vec<Rejection>> {
        let mut rejections = Vec::new();
        let reject = |rejections: &mut Vec<Rejection>, column, value: &str, message: String| {
            rejections.push(Rejection {
                row: record.row,
                column,
                value: shown(value),
                message,
            });
        };
        let kpi = self
            .find_kpi(record.kpi_column, &record.kpi)
            .map_err(|message| reject(&mut rejections, Column::Kpi, &record.kpi, message))
            .ok();
        let value = record
            .value
            .as_ref()
            .map_err(|message| {
                reject(
                    &mut rejections,
                    Column::Value,
                    &record.raw_value,
                    message.clone(),
                )
            })
            .ok()
            .copied();
        let period = kpi.and_then(|index| {
            let frequency = self.kpis[index as usize].frequency;
            let (text, reference) = match &record.period {
                PeriodCell::Date(date) => (date.to_string(), Ok(PeriodRef::Date(*date))),
                PeriodCell::Text(text) => (text.clone(), period_from_text(text)),
            };
            reference
                .and_then(|r| r.resolve(frequency).map_err(|e| e.to_string()))
                .map_err(|message| reject(&mut rejections, Column::Period, &text, message))
                .ok()
        });
        let comment = record
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > 2000) {
            reject(
                &mut rejections,
                Column::Comment,
                "",
                "a comment is at most 2000 characters".into(),
            );
        }
        let (Some(index), Some(period), Some(value), true) =
            (kpi, period, value, rejections.is_empty())
        else {
            return Err(rejections);
        };
        let day = period.start.num_days_from_ce();
        if let Some(first) = self.seen.get(&(index, day)) {
            return Err(vec![repeated(record.row, period.start, *first)]);
        }
        self.seen.insert((index, day), record.row);
        let kpi = &self.kpis[index as usize];
        Ok(ValueWrite {
            kpi_id: kpi.id,
            period,
            value,
            comment: comment.map(str::to_owned),
            direction: kpi.direction,
            thresholds: kpi.thresholds(),
            import_row: Some(record.row as i64),
        })
    }

    /// Forgets the rows seen so far, once they are in the database: it finds
    /// a later repeat of them, so memory stays bounded by the batch size.
    pub fn forget_seen(&mut self) {
        self.seen.clear();
    }
}

/// The rejection of a row naming a KPI and period that an earlier row wrote.
pub fn repeated(row: u64, period_start: NaiveDate, first_row: u64) -> Rejection {
    Rejection {
        row,
        column: Column::Period,
        value: period_start.to_string(),
        message: format!("this KPI and period already appear on row {first_row}"),
    }
}

use chrono::{Datelike, NaiveDate};

/// A period written as text; a bare number is an Excel date serial (a date
/// cell exported as a number) when it is in the range of plausible dates.
fn period_from_text(text: &str) -> Result<PeriodRef, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("missing period".into());
    }
    match PeriodRef::parse(trimmed) {
        Ok(reference) => Ok(reference),
        Err(error) => match trimmed.parse::<f64>() {
            // 1900-01-01 .. 2173-10-14: larger numbers are not dates a manager types
            Ok(serial) if (1.0..100_000.0).contains(&serial) && trimmed.len() > 4 => {
                from_excel_serial(serial)
                    .map(PeriodRef::Date)
                    .ok_or_else(|| error.to_string())
            }
            _ => Err(error.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use kpix_shared::domain::{Direction, Frequency};
    use rust_decimal::Decimal;

    fn kpi(code: &str, name: &str, frequency: Frequency) -> KpiRef {
        KpiRef {
            id: KpiId::new(),
            code: Some(code.into()),
            name: name.into(),
            frequency,
            direction: Direction::UpIsBetter,
            threshold_green: Decimal::from(95),
            threshold_orange: Decimal::from(90),
            threshold_red: None,
        }
    }

    fn record(
        kpi_column: KpiColumn,
        row: u64,
        kpi: &str,
        period: PeriodCell,
        value: Result<Decimal, String>,
    ) -> Record {
        Record {
            row,
            kpi: kpi.into(),
            period,
            raw_value: "x".into(),
            value,
            comment: None,
            kpi_column,
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn resolves_codes_names_and_periods() {
        let mut resolver =
            Resolver::new(vec![kpi("LOG-OTD", "Taux de service", Frequency::Monthly)]);
        let by_code = resolver
            .resolve(record(
                KpiColumn::Code,
                2,
                "log-otd",
                PeriodCell::Text("31/03/2025".into()),
                Ok(Decimal::from(91)),
            ))
            .expect("valid row");
        assert_eq!(by_code.period.start, date(2025, 3, 1));
        let by_name = resolver
            .resolve(record(
                KpiColumn::Auto,
                3,
                " Taux  de service ",
                PeriodCell::Date(date(2025, 4, 30)),
                Ok(Decimal::from(92)),
            ))
            .expect("valid row");
        assert_eq!(by_name.period.end, date(2025, 4, 30));
    }

    #[test]
    fn reports_every_problem_of_a_row() {
        let mut resolver = Resolver::new(vec![kpi("A", "Alpha", Frequency::Monthly)]);
        let errors = resolver
            .resolve(record(
                KpiColumn::Code,
                7,
                "nope",
                PeriodCell::Text("2025-03".into()),
                Err("not a number: 'abc'".into()),
            ))
            .expect_err("invalid row");
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].row, errors[0].column), (7, Column::Kpi));
        assert!(errors[0].message.contains("unknown KPI 'nope'"));
        assert_eq!(errors[1].column, Column::Value);
        let errors = resolver
            .resolve(record(
                KpiColumn::Code,
                8,
                "A",
                PeriodCell::Text("2025-Q1".into()),
                Ok(Decimal::ONE),
            ))
            .expect_err("a quarter for a monthly KPI");
        assert_eq!(errors[0].column, Column::Period);
    }

    #[test]
    fn the_same_kpi_and_period_twice_is_rejected_with_the_first_row() {
        let mut resolver = Resolver::new(vec![kpi("A", "Alpha", Frequency::Monthly)]);
        resolver
            .resolve(record(
                KpiColumn::Code,
                2,
                "A",
                PeriodCell::Text("2025-03-01".into()),
                Ok(Decimal::ONE),
            ))
            .expect("first");
        let errors = resolver
            .resolve(record(
                KpiColumn::Code,
                5,
                "A",
                PeriodCell::Text("2025-03-31".into()),
                Ok(Decimal::TWO),
            ))
            .expect_err("duplicate");
        assert!(errors[0].message.contains("row 2"), "{}", errors[0].message);
    }

    #[test]
    fn ambiguous_names_and_excel_serials() {
        let mut resolver = Resolver::new(vec![
            kpi("A", "Same", Frequency::Monthly),
            kpi("B", "Same", Frequency::Monthly),
            kpi("C", "Daily", Frequency::Daily),
        ]);
        let errors = resolver
            .resolve(record(
                KpiColumn::Name,
                2,
                "same",
                PeriodCell::Text("2025-03".into()),
                Ok(Decimal::ONE),
            ))
            .expect_err("ambiguous");
        assert!(errors[0].message.contains("several KPIs"));
        let ok = resolver
            .resolve(record(
                KpiColumn::Code,
                3,
                "C",
                PeriodCell::Text("45747".into()),
                Ok(Decimal::ONE),
            ))
            .expect("serial");
        assert_eq!(ok.period.start, date(2025, 3, 31));
    }

    #[test]
    fn the_header_says_whether_a_reference_is_a_code_or_a_name() {
        // a KPI named like another KPI's code
        let kpis = vec![
            kpi("B0001", "Taux de service", Frequency::Monthly),
            kpi("OTD", "B0001", Frequency::Monthly),
        ];
        let (coded, named) = (kpis[0].id, kpis[1].id);
        let mut resolver = Resolver::new(kpis);
        let period = || PeriodCell::Text("2025-03".into());
        let by_name = resolver
            .resolve(record(
                KpiColumn::Name,
                2,
                "b0001",
                period(),
                Ok(Decimal::ONE),
            ))
            .expect("a name");
        assert_eq!(by_name.kpi_id, named);
        resolver.forget_seen();
        let by_code = resolver
            .resolve(record(
                KpiColumn::Code,
                3,
                "b0001",
                period(),
                Ok(Decimal::ONE),
            ))
            .expect("a code");
        assert_eq!(by_code.kpi_id, coded);
        resolver.forget_seen();
        // a plain `kpi` column tries the code before the name
        let auto = resolver
            .resolve(record(
                KpiColumn::Auto,
                4,
                "b0001",
                period(),
                Ok(Decimal::ONE),
            ))
            .expect("a code first");
        assert_eq!(auto.kpi_id, coded);
        let unknown = resolver
            .resolve(record(
                KpiColumn::Code,
                5,
                "Taux de service",
                period(),
                Ok(Decimal::ONE),
            ))
            .expect_err("a name in a code column");
        assert!(
            unknown[0].message.contains("unknown KPI"),
            "{}",
            unknown[0].message
        );
    }
}
