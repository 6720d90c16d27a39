//! Parsing of uploaded KPI value files (CSV, XLSX, XLS, ODS) into records, with limits against hostile input.

mod archive;
mod cells;
mod csv;
mod header;
mod ole;
mod spreadsheet;
mod xml;

use rust_decimal::Decimal;

pub use kpix_shared::file_kind::FileKind;

pub use self::cells::parse_number;
pub use self::csv::parse_reader;

/// Bounds applied while parsing; anything over them fails the file with a [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Data rows (blank rows and the header excluded).
    pub max_rows: usize,
    /// Bytes in one cell.
    pub max_field_bytes: usize,
    /// Bytes in one CSV record (a line, or several when a quoted field spans lines).
    pub max_line_bytes: usize,
    /// Declared and actual uncompressed bytes of a zip-based file, per entry and in total.
    pub max_uncompressed_bytes: u64,
    /// Entries in a zip-based file.
    pub max_archive_entries: usize,
    /// Uncompressed / compressed size of one zip entry (checked above 1 MiB).
    pub max_compression_ratio: u64,
    /// Cells a sheet may declare or materialize.
    pub max_sheet_cells: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows: 2_000_000,
            max_field_bytes: 4 * 1024,
            max_line_bytes: 64 * 1024,
            max_uncompressed_bytes: 1024 * 1024 * 1024,
            max_archive_entries: 10_000,
            max_compression_ratio: 200,
            max_sheet_cells: 50_000_000,
        }
    }
}

/// The period cell of a row: a real date when the spreadsheet stored one, the text otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodCell {
    Text(String),
    Date(chrono::NaiveDate),
}

/// One data row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The row number the user sees: 1-based line (CSV) or row (spreadsheet), header included.
    pub row: u64,
    pub kpi: String,
    pub period: PeriodCell,
    /// `Err(message)` when the value cell is not a number.
    pub value: Result<Decimal, String>,
    /// The value cell as text, for error reports.
    pub raw_value: String,
    pub comment: Option<String>,
    /// What `kpi` is, as the header named the column.
    pub kpi_column: KpiColumn,
}

/// Which kind of KPI reference the header named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KpiColumn {
    /// `kpi_id`, `id kpi`.
    Id,
    /// `kpi_code`, `code`, `code kpi`, `code indicateur`.
    Code,
    /// `kpi name`, `nom`, `name`, `indicator name`, `libellé`.
    Name,
    /// The generic words `kpi`, `indicateur`, `indicator`: id, code or name,
    /// to be resolved by the caller.
    Auto,
}

/// The header row found, with the column titles as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kpi_column: KpiColumn,
    pub kpi_header: String,
    pub period_header: String,
    pub value_header: String,
    pub comment_header: Option<String>,
}

/// File-level failures, with messages written for the person who uploaded the file.
#[derive(thiserror::Error, Debug)]
pub enum ParseError {
    #[error(
        "the file is not a CSV, XLSX, XLS or ODS spreadsheet; save it in one of these formats and import it again"
    )]
    NotASpreadsheet,
    #[error(
        "the file is password-protected or encrypted; save it without a password and import it again"
    )]
    Encrypted,
    #[error("the file is too large: {what}, the limit is {limit}")]
    TooLarge { what: String, limit: String },
    #[error("the file has more than {limit} data rows; split it into several files")]
    TooManyRows { limit: usize },
    #[error("no header row found: {0}")]
    NoHeader(String),
    #[error("row {row}: a cell is longer than {limit} bytes")]
    FieldTooLong { row: u64, limit: usize },
    #[error(
        "line {line}: a row is longer than {limit} bytes (is a quote left open, or is this not a CSV file?)"
    )]
    LineTooLong { line: u64, limit: usize },
    #[error("the file is damaged or truncated: {0}")]
    Malformed(String),
    #[error("the file was refused because it looks crafted to exhaust the server: {0}")]
    Hostile(String),
    /// Returned by an `on_record` callback to stop parsing; passed through unchanged.
    #[error("import stopped: {0}")]
    Aborted(String),
}

/// Parses a whole file, calling `on_record` for every data row in order (blank rows skipped).
///
/// Rows are streamed: CSV record by record, XLSX cell by cell; XLS and ODS sheets are
/// materialized by calamine after their declared and actual sizes have been checked.
pub fn parse_file(
    bytes: &[u8],
    kind: FileKind,
    limits: &Limits,
    on_record: &mut dyn FnMut(Record) -> Result<(), ParseError>,
) -> Result<Header, ParseError> {
    match kind {
        FileKind::Csv => parse_reader(bytes, limits, on_record),
        FileKind::Xlsx => {
            archive::check_zip(bytes, FileKind::Xlsx, limits)?;
            spreadsheet::parse_xlsx(bytes, limits, on_record)
        }
        FileKind::Ods => {
            archive::check_zip(bytes, FileKind::Ods, limits)?;
            spreadsheet::parse_ods(bytes, limits, on_record)
        }
        FileKind::Xls => {
            ole::check_xls(bytes, limits)?;
            spreadsheet::parse_xls(bytes, limits, on_record)
        }
    }
}

/// Formats a byte count for messages.
fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    if n >= KIB * KIB * KIB && n.is_multiple_of(KIB * KIB * KIB) {
        format!("{} GiB", n / (KIB * KIB * KIB))
    } else if n >= KIB * KIB * KIB {
        format!("{:.1} GiB", n as f64 / (KIB * KIB * KIB) as f64)
    } else if n >= KIB * KIB && n.is_multiple_of(KIB * KIB) {
        format!("{} MiB", n / (KIB * KIB))
    } else if n >= KIB * KIB {
        format!("{:.1} MiB", n as f64 / (KIB * KIB) as f64)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests;
