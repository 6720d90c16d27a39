//! Kind sniffing, and the checks a zip-based spreadsheet (XLSX, ODS) must pass before calamine opens it.

use std::io::{Cursor, Read};

use zip::ZipArchive;
use zip::result::ZipError;

use super::xml::{self, Event, Scanner, TagTooLong};
use super::{FileKind, Limits, ParseError, human_bytes};

/// Entries smaller than this are not checked for their compression ratio.
const RATIO_CHECK_FLOOR: u64 = 1024 * 1024;
/// Bytes of each XLSX part scanned for `<dimension>` and `<sst>`.
const XLSX_HEAD_BYTES: u64 = 64 * 1024;
/// calamine's caps on ODS repeats (`ods.rs`), mirrored to estimate what it will allocate.
const ODS_MAX_COLUMNS: u64 = 16_384;

/// Validates a zip-based spreadsheet: entry count, declared and actual sizes, compression
/// ratios, and the sheet dimensions and string counts calamine would allocate for.
pub(crate) fn check_zip(bytes: &[u8], kind: FileKind, limits: &Limits) -> Result<(), ParseError> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| open_error(&e, kind))?;
    let count = zip.len();
    if count > limits.max_archive_entries {
        return Err(ParseError::Hostile(format!(
            "it holds {count} files, a spreadsheet needs far fewer (limit {})",
            limits.max_archive_entries
        )));
    }
    let mut total: u64 = 0;
    for i in 0..count {
        let entry = zip.by_index_data(i).map_err(|e| open_error(&e, kind))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if entry.encrypted() {
            return Err(ParseError::Encrypted);
        }
        let size = entry.size();
        let compressed = entry.compressed_size();
        if size > limits.max_uncompressed_bytes {
            return Err(ParseError::TooLarge {
                what: format!("the part '{name}' uncompresses to {}", human_bytes(size)),
                limit: human_bytes(limits.max_uncompressed_bytes),
            });
        }
        total = total.saturating_add(size);
        if total > limits.max_uncompressed_bytes {
            return Err(ParseError::TooLarge {
                what: "its content uncompresses to more than the limit".to_owned(),
                limit: human_bytes(limits.max_uncompressed_bytes),
            });
        }
        if size > RATIO_CHECK_FLOOR
            && (compressed == 0 || size / compressed > limits.max_compression_ratio)
        {
            return Err(ParseError::Hostile(format!(
                "the part '{name}' declares {} from {} compressed (a zip bomb?)",
                human_bytes(size),
                human_bytes(compressed)
            )));
        }
    }
    let mut scan = match kind {
        FileKind::Ods => Scan::Ods(OdsEstimate::default()),
        _ => Scan::Xlsx,
    };
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..count {
        let mut entry = zip.by_index(i).map_err(|e| open_error(&e, kind))?;
        if entry.is_dir() {
            continue;
        }
        let declared = entry.size();
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let lower = name.to_ascii_lowercase();
        let scan_bytes = match scan {
            Scan::Xlsx if lower.ends_with(".xml") => XLSX_HEAD_BYTES,
            Scan::Ods(_) if name == "content.xml" => u64::MAX,
            _ => 0,
        };
        let mut scanner = Scanner::default();
        let mut part = PartScan::default();
        let mut limited = (&mut entry).take(declared.saturating_add(1));
        let mut actual: u64 = 0;
        loop {
            let n = limited.read(&mut buf).map_err(|e| {
                // The zip reader enforces declared sizes too.
                if e.to_string().contains("larger than its declared") {
                    oversized(&name)
                } else {
                    ParseError::Malformed(format!("the part '{name}' cannot be decompressed ({e})"))
                }
            })?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            if actual < scan_bytes && !part.done {
                let take = usize::try_from(scan_bytes - actual)
                    .unwrap_or(usize::MAX)
                    .min(n);
                scanner.feed::<ParseError>(&chunk[..take], &mut |event| {
                    scan.on_event(&mut part, &event, limits)
                })?;
            }
            actual += n as u64;
            if actual > declared {
                return Err(oversized(&name));
            }
        }
        if actual < declared {
            return Err(ParseError::Malformed(format!(
                "the part '{name}' is shorter than its declared size"
            )));
        }
    }
    if let Scan::Ods(estimate) = &mut scan {
        estimate.finish(limits)?;
    }
    Ok(())
}

fn oversized(name: &str) -> ParseError {
    ParseError::Hostile(format!(
        "the part '{name}' holds more data than its declared size"
    ))
}

fn open_error(e: &ZipError, kind: FileKind) -> ParseError {
    match e {
        ZipError::UnsupportedArchive(msg) if msg.contains("assword") => ParseError::Encrypted,
        ZipError::InvalidPassword => ParseError::Encrypted,
        ZipError::CompressionMethodNotSupported(_) => ParseError::Malformed(format!(
            "this {kind} file uses a compression method that is not supported; save it again from your spreadsheet program"
        )),
        _ => ParseError::Malformed(format!(
            "this {kind} file cannot be opened, it may be truncated ({e})"
        )),
    }
}

impl From<TagTooLong> for ParseError {
    fn from(_: TagTooLong) -> Self {
        ParseError::Hostile("it contains an XML tag longer than 1 MiB".to_owned())
    }
}

enum Scan {
    /// `<dimension ref>` of worksheets and `<sst count uniqueCount>` of shared strings.
    Xlsx,
    Ods(OdsEstimate),
}

/// Per-part scanning state.
#[derive(Default)]
struct PartScan {
    /// The interesting head of the part is behind us.
    done: bool,
}

impl Scan {
    fn on_event(
        &mut self,
        part: &mut PartScan,
        event: &Event<'_>,
        limits: &Limits,
    ) -> Result<(), ParseError> {
        match self {
            Self::Xlsx => {
                if let Event::Start { name, attrs, .. } = event {
                    match xml::local_name(name) {
                        b"dimension" => {
                            if let Some(range) = xml::attr(attrs, b"ref") {
                                check_dimension(range, limits)?;
                            }
                        }
                        b"sst" => {
                            for key in [b"uniqueCount".as_slice(), b"count"] {
                                if let Some(v) = xml::attr(attrs, key) {
                                    check_count(key, v, limits)?;
                                }
                            }
                            part.done = true;
                        }
                        b"sheetData" => part.done = true,
                        _ => {}
                    }
                }
                Ok(())
            }
            Self::Ods(estimate) => estimate.on_event(event, limits),
        }
    }
}

/// Refuses a declared sheet range over the cell limit, e.g. `A1:XFD1048576`.
fn check_dimension(range: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let text = String::from_utf8_lossy(range);
    let (start, end) = match text.split_once(':') {
        Some((a, b)) => (a, b),
        None => (text.as_ref(), text.as_ref()),
    };
    let (Some((r1, c1)), Some((r2, c2))) = (cell_ref(start), cell_ref(end)) else {
        // calamine rejects what it cannot parse.
        return Ok(());
    };
    let rows = u128::from(r1.abs_diff(r2)) + 1;
    let cols = u128::from(c1.abs_diff(c2)) + 1;
    let cells = rows * cols;
    if cells > u128::from(limits.max_sheet_cells) {
        return Err(ParseError::Hostile(format!(
            "a sheet declares the range {text} ({cells} cells, limit {})",
            limits.max_sheet_cells
        )));
    }
    Ok(())
}

/// `B12` → (12, 2); `$B$12` accepted.
fn cell_ref(text: &str) -> Option<(u64, u64)> {
    let text = text.trim().replace('$', "");
    let letters = text.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    let (col, row) = text.split_at(letters);
    if col.is_empty() || col.len() > 8 || row.is_empty() || row.len() > 12 {
        return None;
    }
    let col = col.bytes().try_fold(0u64, |acc, b| {
        Some(acc * 26 + u64::from(b.to_ascii_uppercase() - b'A' + 1))
    })?;
    let row = row.parse::<u64>().ok()?;
    Some((row, col))
}

fn check_count(key: &[u8], value: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let text = String::from_utf8_lossy(value);
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    let absurd = digits
        .parse::<u64>()
        .map_or(true, |n| n > limits.max_sheet_cells);
    if absurd {
        return Err(ParseError::Hostile(format!(
            "the shared strings declare {}=\"{digits}\" (limit {})",
            String::from_utf8_lossy(key),
            limits.max_sheet_cells
        )));
    }
    Ok(())
}

/// Estimates, from `content.xml`, the cells and bytes calamine's ODS reader will materialize
/// (repeated rows and columns are expanded there).
#[derive(Debug, Default)]
struct OdsEstimate {
    /// Cells pushed while reading rows, before expansion (all tables).
    raw_cells: u64,
    /// Cells of the expanded bounding boxes (all tables).
    box_cells: u64,
    /// Bytes of text and attributes after expansion (all tables).
    bytes: u64,
    table: TableEstimate,
    row: Option<RowEstimate>,
    cell: Option<CellEstimate>,
    /// calamine reads a table until `</table:table>` and an annotation until
    /// `</office:annotation>`, ignoring the end of the document: it would loop forever.
    table_open: bool,
    annotation_open: bool,
    in_cell: bool,
}

#[derive(Debug, Default)]
struct TableEstimate {
    /// Expanded rows from the first to the last non-empty row.
    span_rows: u64,
    /// Expanded empty rows since the last non-empty one.
    pending_rows: u64,
    seen_non_empty: bool,
    col_min: u64,
    col_max: u64,
}

#[derive(Debug, Default)]
struct RowEstimate {
    repeats: u64,
    cols: u64,
    pending_empty: u64,
    first: Option<u64>,
    last: u64,
    bytes: u64,
}

#[derive(Debug, Default)]
struct CellEstimate {
    repeats: u64,
    bytes: u64,
}

fn repeat_attr(attrs: &[u8], key: &[u8]) -> u64 {
    xml::attr(attrs, key)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
}

impl OdsEstimate {
    fn on_event(&mut self, event: &Event<'_>, limits: &Limits) -> Result<(), ParseError> {
        if self.annotation_open {
            if let Event::End {
                name: b"office:annotation",
            } = event
            {
                self.annotation_open = false;
            }
            return Ok(());
        }
        match *event {
            Event::Start { name, attrs, empty } => match name {
                b"office:annotation" => self.annotation_open = !empty,
                b"table:table" => {
                    self.end_table();
                    self.table_open |= !empty;
                }
                b"table:table-row" => {
                    self.end_row();
                    self.row = Some(RowEstimate {
                        repeats: repeat_attr(attrs, b"table:number-rows-repeated"),
                        ..RowEstimate::default()
                    });
                    if empty {
                        self.end_row();
                    }
                }
                b"table:table-cell" | b"table:covered-table-cell" => {
                    self.end_cell();
                    self.in_cell = !empty;
                    let Some(row) = self.row.as_mut() else {
                        return Ok(());
                    };
                    let repeats = repeat_attr(attrs, b"table:number-columns-repeated")
                        .min(ODS_MAX_COLUMNS.saturating_sub(row.cols));
                    let has_value = [
                        b"office:value-type".as_slice(),
                        b"office:value",
                        b"office:string-value",
                        b"office:date-value",
                        b"office:time-value",
                        b"office:boolean-value",
                        b"table:formula",
                    ]
                    .iter()
                    .any(|k| xml::attr(attrs, k).is_some());
                    if has_value {
                        row.cols += row
                            .pending_empty
                            .min(ODS_MAX_COLUMNS.saturating_sub(row.cols));
                        row.pending_empty = 0;
                        row.first.get_or_insert(row.cols);
                        row.cols += repeats;
                        row.last = row.cols.saturating_sub(1);
                        self.cell = Some(CellEstimate {
                            repeats,
                            bytes: attrs.len() as u64,
                        });
                        if empty {
                            self.end_cell();
                        }
                    } else {
                        row.pending_empty = repeats;
                    }
                }
                b"text:s" => {
                    if let Some(cell) = self.cell.as_mut() {
                        cell.bytes = cell.bytes.saturating_add(repeat_attr(attrs, b"text:c"));
                    }
                }
                _ => {}
            },
            Event::End { name } => match name {
                b"table:table" if !self.in_cell => {
                    self.table_open = false;
                    self.end_table();
                }
                b"table:table-row" => self.end_row(),
                b"table:table-cell" | b"table:covered-table-cell" => {
                    self.in_cell = false;
                    self.end_cell();
                }
                _ => {}
            },
            Event::Text(n) => {
                if let Some(cell) = self.cell.as_mut() {
                    cell.bytes = cell.bytes.saturating_add(n as u64);
                }
            }
        }
        // Fail as soon as the estimate is over, rather than after scanning everything.
        self.check(limits)
    }

    /// At the end of `content.xml`: refuses a document calamine would never finish reading.
    fn finish(&mut self, limits: &Limits) -> Result<(), ParseError> {
        self.end_table();
        if self.table_open || self.annotation_open {
            return Err(ParseError::Malformed(
                "the sheet data ends before its table does".to_owned(),
            ));
        }
        self.check(limits)
    }

    fn end_cell(&mut self) {
        if let (Some(cell), Some(row)) = (self.cell.take(), self.row.as_mut()) {
            row.bytes = row
                .bytes
                .saturating_add(cell.bytes.saturating_mul(cell.repeats));
        }
    }

    fn end_row(&mut self) {
        self.end_cell();
        let Some(row) = self.row.take() else { return };
        self.raw_cells = self.raw_cells.saturating_add(row.cols);
        let t = &mut self.table;
        match row.first {
            Some(first) => {
                if t.seen_non_empty {
                    t.span_rows = t
                        .span_rows
                        .saturating_add(t.pending_rows)
                        .saturating_add(row.repeats);
                    t.col_min = t.col_min.min(first);
                    t.col_max = t.col_max.max(row.last);
                } else {
                    t.seen_non_empty = true;
                    t.span_rows = row.repeats;
                    t.col_min = first;
                    t.col_max = row.last;
                }
                t.pending_rows = 0;
                self.bytes = self
                    .bytes
                    .saturating_add(row.bytes.saturating_mul(row.repeats));
            }
            None => {
                if t.seen_non_empty {
                    t.pending_rows = t.pending_rows.saturating_add(row.repeats);
                }
            }
        }
    }

    fn end_table(&mut self) {
        self.end_row();
        let t = std::mem::take(&mut self.table);
        if t.seen_non_empty {
            let width = t.col_max.saturating_sub(t.col_min) + 1;
            self.box_cells = self
                .box_cells
                .saturating_add(t.span_rows.saturating_mul(width));
        }
    }

    fn check(&self, limits: &Limits) -> Result<(), ParseError> {
        let t = &self.table;
        let open_box = if t.seen_non_empty {
            t.span_rows
                .saturating_mul(t.col_max.saturating_sub(t.col_min) + 1)
        } else {
            0
        };
        let cells = self.raw_cells.max(self.box_cells.saturating_add(open_box));
        if cells > limits.max_sheet_cells {
            return Err(ParseError::Hostile(format!(
                "its repeated rows and columns expand to more than {} cells",
                limits.max_sheet_cells
            )));
        }
        if self.bytes > limits.max_uncompressed_bytes {
            return Err(ParseError::Hostile(format!(
                "its repeated cells expand to more than {} of text",
                human_bytes(limits.max_uncompressed_bytes)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cell_references() {
        assert_eq!(cell_ref("A1"), Some((1, 1)));
        assert_eq!(cell_ref("$XFD$1048576"), Some((1_048_576, 16_384)));
        assert_eq!(cell_ref("1A"), None);
        assert_eq!(cell_ref("A"), None);
    }

    #[test]
    fn dimension_limits() {
        let limits = Limits::default();
        assert!(check_dimension(b"A1:D39", &limits).is_ok());
        assert!(check_dimension(b"A1", &limits).is_ok());
        assert!(check_dimension(b"A1:XFD1048576", &limits).is_err());
        assert!(check_dimension(b"XFD1048576:A1", &limits).is_err());
    }

    #[test]
    fn shared_string_counts() {
        let limits = Limits::default();
        assert!(check_count(b"count", b"1200", &limits).is_ok());
        assert!(check_count(b"uniqueCount", b"10000000000", &limits).is_err());
        assert!(check_count(b"uniqueCount", b"99999999999999999999999", &limits).is_err());
    }

    fn ods_estimate(content: &str) -> Result<OdsEstimate, ParseError> {
        let mut estimate = OdsEstimate::default();
        let limits = Limits {
            max_sheet_cells: 1_000_000,
            max_uncompressed_bytes: 10_000_000,
            ..Limits::default()
        };
        let mut scanner = Scanner::default();
        scanner.feed::<ParseError>(content.as_bytes(), &mut |e| estimate.on_event(&e, &limits))?;
        estimate.finish(&limits)?;
        Ok(estimate)
    }

    #[test]
    fn ods_estimates_ignore_trailing_empty_repeats() {
        let content = r#"<table:table><table:table-row><table:table-cell office:value-type="string"><text:p>kpi</text:p></table:table-cell><table:table-cell table:number-columns-repeated="1020"/></table:table-row><table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table>"#;
        let estimate = ods_estimate(content).unwrap();
        assert_eq!(estimate.box_cells, 1);
    }

    #[test]
    fn ods_estimates_catch_expansion_bombs() {
        let rows = r#"<table:table><table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="1000"/></table:table-row></table:table>"#;
        assert!(matches!(ods_estimate(rows), Err(ParseError::Hostile(_))));
        let spaces = r#"<table:table><table:table-row table:number-rows-repeated="100"><table:table-cell office:value-type="string" table:number-columns-repeated="100"><text:p><text:s text:c="100000"/></text:p></table:table-cell></table:table-row></table:table>"#;
        assert!(matches!(ods_estimate(spaces), Err(ParseError::Hostile(_))));
    }

    #[test]
    fn ods_tables_and_annotations_must_be_closed() {
        let cell =
            r#"<table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell>"#;
        assert!(
            ods_estimate(&format!(
                "<table:table><table:table-row>{cell}</table:table-row></table:table>"
            ))
            .is_ok()
        );
        assert!(ods_estimate("<table:table/>").is_ok());
        let open = format!("<table:table><table:table-row>{cell}</table:table-row>");
        assert!(matches!(ods_estimate(&open), Err(ParseError::Malformed(_))));
        let closed_in_cell = r#"<table:table><table:table-row><table:table-cell office:value-type="string"><text:p></table:table></text:p></table:table-cell></table:table-row>"#;
        assert!(matches!(
            ods_estimate(closed_in_cell),
            Err(ParseError::Malformed(_))
        ));
        let annotation = r#"<table:table><table:table-row><table:table-cell office:value-type="string"><office:annotation><text:p>n</text:p></table:table-cell></table:table-row></table:table>"#;
        assert!(matches!(
            ods_estimate(annotation),
            Err(ParseError::Malformed(_))
        ));
    }
}
