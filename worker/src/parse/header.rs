//! Header detection (French and English column names) and assembly of data rows into records.

use super::cells::{CellValue, shorten};
use super::{Header, KpiColumn, Limits, ParseError, Record};

/// Non-empty rows examined, from the top, for the header.
pub(crate) const HEADER_SEARCH_ROWS: usize = 20;

const KPI_ID: &[&str] = &["kpi id", "id kpi", "kpiid", "id indicateur", "indicator id"];
const KPI_CODE: &[&str] = &[
    "kpi code",
    "kpicode",
    "code",
    "code kpi",
    "code indicateur",
    "indicator code",
];
const KPI_NAME: &[&str] = &[
    "kpi name",
    "nom",
    "nom indicateur",
    "nom kpi",
    "name",
    "indicator name",
    "libelle",
    "libelle indicateur",
];
/// The generic words for a KPI: people put codes there as often as names, so
/// the column accepts an id, a code or a name (DESIGN §5).
const KPI_AUTO: &[&str] = &["kpi", "indicateur", "indicator"];
const PERIOD: &[&str] = &[
    "period",
    "period start",
    "periode",
    "debut periode",
    "periode debut",
    "date",
    "date debut",
    "start date",
    "mois",
    "month",
    "semaine",
    "week",
    "trimestre",
    "quarter",
    "annee",
    "year",
];
const VALUE: &[&str] = &[
    "value",
    "valeur",
    "montant",
    "amount",
    "realise",
    "realisation",
    "valeur realisee",
    "actual",
    "actual value",
];
const COMMENT: &[&str] = &[
    "comment",
    "comments",
    "commentaire",
    "commentaires",
    "note",
    "notes",
    "remarque",
    "remarques",
];

/// Words ignored in header names ("Nom de l'indicateur" = "nom indicateur").
const STOP_WORDS: &[&str] = &["de", "du", "des", "d", "l", "la", "le", "of", "the"];

const EXPECTED: &str = "expected a KPI column (kpi_id, kpi_code, code, kpi, indicateur, nom…), \
     a period column (period, période, date, mois, semaine…) and a value column (value, valeur, montant…)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Kpi(KpiColumn),
    Period,
    Value,
    Comment,
}

/// Lowercases, strips accents and parenthesized notes, and collapses separators.
pub(crate) fn normalize(name: &str) -> String {
    let mut flat = String::with_capacity(name.len());
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            _ => {
                for lower in c.to_lowercase() {
                    match strip_accent(lower) {
                        Some(base) => flat.push_str(base),
                        None if lower.is_alphanumeric() => flat.push(lower),
                        None => flat.push(' '),
                    }
                }
            }
        }
    }
    flat.split_whitespace()
        .filter(|w| !STOP_WORDS.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn strip_accent(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'ñ' | 'ń' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => "u",
        'ý' | 'ÿ' => "y",
        'š' | 'ś' => "s",
        'ž' | 'ź' | 'ż' => "z",
        'ł' => "l",
        'œ' => "oe",
        'æ' => "ae",
        'ß' => "ss",
        _ => return None,
    })
}

fn role_of(name: &str) -> Option<Role> {
    let n = normalize(name);
    let is = |list: &[&str]| list.contains(&n.as_str());
    if is(KPI_ID) {
        Some(Role::Kpi(KpiColumn::Id))
    } else if is(KPI_CODE) {
        Some(Role::Kpi(KpiColumn::Code))
    } else if is(KPI_NAME) {
        Some(Role::Kpi(KpiColumn::Name))
    } else if is(KPI_AUTO) {
        Some(Role::Kpi(KpiColumn::Auto))
    } else if is(PERIOD) {
        Some(Role::Period)
    } else if is(VALUE) {
        Some(Role::Value)
    } else if is(COMMENT) {
        Some(Role::Comment)
    } else {
        None
    }
}

/// Where the columns are, once the header row is known.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) kpi: usize,
    pub(crate) period: usize,
    pub(crate) value: usize,
    pub(crate) comment: Option<usize>,
    pub(crate) header: Header,
}

impl Layout {
    /// The columns read from data rows: kpi, period, value, comment.
    pub(crate) fn columns(&self) -> [Option<usize>; 4] {
        [
            Some(self.kpi),
            Some(self.period),
            Some(self.value),
            self.comment,
        ]
    }
}

/// A row that named some of the columns, remembered to explain a missing header.
#[derive(Debug, Clone)]
struct Candidate {
    row: u64,
    found: Vec<String>,
    missing: Vec<&'static str>,
}

/// Looks for the header among the first non-empty rows.
#[derive(Debug, Default)]
pub(crate) struct HeaderSearch {
    rows_seen: usize,
    best: Option<Candidate>,
}

impl HeaderSearch {
    /// Examines one non-empty row given as (column, text) pairs.
    pub(crate) fn offer<'a>(
        &mut self,
        row: u64,
        cells: impl Iterator<Item = (usize, &'a str)>,
    ) -> Option<Layout> {
        self.rows_seen += 1;
        let mut kpi: Option<(usize, KpiColumn, &str)> = None;
        let mut period: Option<(usize, &str)> = None;
        let mut value: Option<(usize, &str)> = None;
        let mut comment: Option<(usize, &str)> = None;
        for (col, text) in cells {
            // A header name is short; skip long cells (titles, notes) cheaply.
            if text.len() > 200 {
                continue;
            }
            match role_of(text) {
                Some(Role::Kpi(kind)) => {
                    let better =
                        kpi.is_none_or(|(_, current, _)| priority(kind) < priority(current));
                    if better {
                        kpi = Some((col, kind, text));
                    }
                }
                Some(Role::Period) if period.is_none() => period = Some((col, text)),
                Some(Role::Value) if value.is_none() => value = Some((col, text)),
                Some(Role::Comment) if comment.is_none() => comment = Some((col, text)),
                _ => {}
            }
        }
        if let (Some((kc, kind, kt)), Some((pc, pt)), Some((vc, vt))) = (kpi, period, value) {
            return Some(Layout {
                kpi: kc,
                period: pc,
                value: vc,
                comment: comment.map(|(c, _)| c),
                header: Header {
                    kpi_column: kind,
                    kpi_header: kt.trim().to_owned(),
                    period_header: pt.trim().to_owned(),
                    value_header: vt.trim().to_owned(),
                    comment_header: comment.map(|(_, t)| t.trim().to_owned()),
                },
            });
        }
        let found: Vec<String> = [kpi.map(|k| k.2), period.map(|p| p.1), value.map(|v| v.1)]
            .into_iter()
            .flatten()
            .map(|t| format!("'{}'", shorten(t.trim())))
            .collect();
        if !found.is_empty()
            && self
                .best
                .as_ref()
                .is_none_or(|b| found.len() > b.found.len())
        {
            let mut missing = Vec::new();
            if kpi.is_none() {
                missing.push("a KPI column (kpi_id, kpi_code, code, kpi, indicateur, nom…)");
            }
            if period.is_none() {
                missing.push("a period column (period, période, date, mois, semaine…)");
            }
            if value.is_none() {
                missing.push("a value column (value, valeur, montant…)");
            }
            self.best = Some(Candidate {
                row,
                found,
                missing,
            });
        }
        None
    }

    /// True once enough rows were examined without finding the header.
    pub(crate) fn exhausted(&self) -> bool {
        self.rows_seen >= HEADER_SEARCH_ROWS
    }

    /// The message explaining why no header was found.
    pub(crate) fn failure(&self, place: &str) -> ParseError {
        if self.rows_seen == 0 {
            return ParseError::NoHeader(format!("{place} is empty; {EXPECTED}"));
        }
        match &self.best {
            Some(c) => ParseError::NoHeader(format!(
                "row {} of {place} has {} but no {}",
                c.row,
                c.found.join(" and "),
                c.missing.join(" and no ")
            )),
            None => ParseError::NoHeader(format!(
                "none of the first {} non-empty rows of {place} names the columns; {EXPECTED}",
                self.rows_seen.min(HEADER_SEARCH_ROWS)
            )),
        }
    }

    /// Whether this search got further than `other` (to report the most relevant sheet).
    pub(crate) fn better_than(&self, other: &Self) -> bool {
        let score = |s: &Self| {
            (
                s.best.as_ref().map_or(0, |c| c.found.len()),
                s.rows_seen.min(1),
            )
        };
        score(self) > score(other)
    }
}

fn priority(kind: KpiColumn) -> u8 {
    match kind {
        KpiColumn::Id => 0,
        KpiColumn::Code => 1,
        KpiColumn::Auto => 2,
        KpiColumn::Name => 3,
    }
}

/// Counts data rows and turns the cells of a row into a [`Record`].
#[derive(Debug)]
pub(crate) struct RecordBuilder<'a> {
    pub(crate) layout: Layout,
    limits: &'a Limits,
    rows: usize,
}

impl<'a> RecordBuilder<'a> {
    pub(crate) fn new(layout: Layout, limits: &'a Limits) -> Self {
        Self {
            layout,
            limits,
            rows: 0,
        }
    }

    /// Builds the record from the four cells (kpi, period, value, comment); `None` for a blank row.
    pub(crate) fn build(
        &mut self,
        row: u64,
        cells: [&CellValue; 4],
    ) -> Result<Option<Record>, ParseError> {
        if cells.iter().all(|c| c.is_blank()) {
            return Ok(None);
        }
        if cells
            .iter()
            .any(|c| c.text_len() > self.limits.max_field_bytes)
        {
            return Err(ParseError::FieldTooLong {
                row,
                limit: self.limits.max_field_bytes,
            });
        }
        self.rows += 1;
        if self.rows > self.limits.max_rows {
            return Err(ParseError::TooManyRows {
                limit: self.limits.max_rows,
            });
        }
        let [kpi, period, value, comment] = cells;
        Ok(Some(Record {
            row,
            kpi: kpi.display(),
            period: period.to_period(),
            value: value.to_value(),
            raw_value: value.display(),
            comment: comment.to_comment(),
            kpi_column: self.layout.header.kpi_column,
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn offer(search: &mut HeaderSearch, row: u64, cells: &[&str]) -> Option<Layout> {
        search.offer(row, cells.iter().copied().enumerate())
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize("  Période "), "periode");
        assert_eq!(normalize("KPI_ID"), "kpi id");
        assert_eq!(normalize("Code-KPI"), "code kpi");
        assert_eq!(normalize("Nom de l'indicateur"), "nom indicateur");
        assert_eq!(normalize("Valeur (%)"), "valeur");
        assert_eq!(normalize("RÉALISÉ"), "realise");
        assert_eq!(normalize("Date  début"), "date debut");
        assert_eq!(normalize("\u{feff}kpi__code"), "kpi code");
    }

    #[test]
    fn recognises_french_and_english_headers() {
        type Case<'a> = (&'a [&'a str], KpiColumn, usize, usize, usize, Option<usize>);
        let cases: &[Case<'_>] = &[
            (
                &["kpi_code", "period", "value", "comment"],
                KpiColumn::Code,
                0,
                1,
                2,
                Some(3),
            ),
            (
                &["Indicateur", "Période", "Valeur", "Commentaire"],
                KpiColumn::Auto,
                0,
                1,
                2,
                Some(3),
            ),
            (
                &["Indicator", "Month", "Value"],
                KpiColumn::Auto,
                0,
                1,
                2,
                None,
            ),
            (
                &["Code KPI", "Date", "Valeur"],
                KpiColumn::Code,
                0,
                1,
                2,
                None,
            ),
            (
                &["KPI", "Mois", "Réalisé", "Remarque"],
                KpiColumn::Auto,
                0,
                1,
                2,
                Some(3),
            ),
            (
                &["Unité", "Value", "kpi_id", "period_start"],
                KpiColumn::Id,
                2,
                3,
                1,
                None,
            ),
            (
                &["Nom", "Semaine", "Montant"],
                KpiColumn::Name,
                0,
                1,
                2,
                None,
            ),
            (
                &["Indicateur", "Code", "Trimestre", "Actual"],
                KpiColumn::Code,
                1,
                2,
                3,
                None,
            ),
        ];
        for (cells, kind, k, p, v, c) in cases {
            let layout = offer(&mut HeaderSearch::default(), 1, cells).unwrap();
            assert_eq!(layout.header.kpi_column, *kind, "{cells:?}");
            assert_eq!(
                (layout.kpi, layout.period, layout.value, layout.comment),
                (*k, *p, *v, *c),
                "{cells:?}"
            );
        }
    }

    #[test]
    fn keeps_the_header_texts_as_written() {
        let layout = offer(
            &mut HeaderSearch::default(),
            3,
            &["Code KPI ", "Date", "Valeur", "Commentaire"],
        )
        .unwrap();
        assert_eq!(
            layout.header,
            Header {
                kpi_column: KpiColumn::Code,
                kpi_header: "Code KPI".to_owned(),
                period_header: "Date".to_owned(),
                value_header: "Valeur".to_owned(),
                comment_header: Some("Commentaire".to_owned()),
            }
        );
    }

    #[test]
    fn explains_what_is_missing() {
        let mut search = HeaderSearch::default();
        assert!(offer(&mut search, 1, &["Export du 12/03"]).is_none());
        assert!(offer(&mut search, 2, &["Indicateur", "Période", "Total"]).is_none());
        let msg = search.failure("the file").to_string();
        assert!(msg.contains("row 2"), "{msg}");
        assert!(msg.contains("'Indicateur' and 'Période'"), "{msg}");
        assert!(msg.contains("value column"), "{msg}");
        assert!(!msg.contains("KPI column"), "{msg}");

        let msg = HeaderSearch::default().failure("the file").to_string();
        assert!(msg.contains("empty"), "{msg}");
    }
}
