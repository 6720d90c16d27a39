//! Spreadsheets through calamine: XLSX streamed cell by cell, XLS and ODS sheet by sheet,
//! using the first sheet that has a recognizable header.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use calamine::{Data, Ods, OdsError, Range, Reader, Xls, XlsError, Xlsx, XlsxError};

use super::cells::{CellValue, from_data_ref, is_percent_format};
use super::header::{HeaderSearch, RecordBuilder};
use super::{FileKind, Header, Limits, ParseError, Record};

/// Non-empty cells kept per row while looking for the header (a sheet has at most 16,384 columns).
const MAX_HEADER_ROW_CELLS: usize = 16_384;

type OnRecord<'a> = &'a mut dyn FnMut(Record) -> Result<(), ParseError>;

/// Runs a calamine call, turning a panic on malformed input into an error.
fn guarded<T>(kind: FileKind, f: impl FnOnce() -> T) -> Result<T, ParseError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        ParseError::Malformed(format!(
            "this {kind} file is malformed and cannot be read; open it in your spreadsheet program and save it again"
        ))
    })
}

fn malformed(kind: FileKind, e: impl std::fmt::Display) -> ParseError {
    ParseError::Malformed(format!("this {kind} file cannot be read ({e})"))
}

fn xlsx_error(e: XlsxError) -> ParseError {
    match e {
        XlsxError::Password => ParseError::Encrypted,
        e => malformed(FileKind::Xlsx, e),
    }
}

fn xls_error(e: XlsError) -> ParseError {
    match e {
        XlsError::Password => ParseError::Encrypted,
        e => malformed(FileKind::Xls, e),
    }
}

fn ods_error(e: OdsError) -> ParseError {
    match e {
        OdsError::Password => ParseError::Encrypted,
        e => malformed(FileKind::Ods, e),
    }
}

/// What a sheet gave.
enum SheetOutcome {
    Parsed(Header),
    /// No header in the first rows: try the next sheet.
    NoHeader(HeaderSearch),
}

/// Header search, then record building, over the rows of one sheet.
struct SheetRows<'l> {
    limits: &'l Limits,
    search: HeaderSearch,
    builder: Option<RecordBuilder<'l>>,
}

/// The cells of one row being assembled.
#[derive(Default)]
struct RowCells {
    /// Before the header: the non-empty cells, by absolute column.
    all: Vec<(usize, CellValue)>,
    /// After the header: kpi, period, value, comment.
    slots: [CellValue; 4],
}

impl<'l> SheetRows<'l> {
    fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            search: HeaderSearch::default(),
            builder: None,
        }
    }

    /// Whether a cell in this column can matter (before the header, all can).
    fn wants(&self, col: usize) -> bool {
        self.builder
            .as_ref()
            .is_none_or(|b| b.layout.columns().contains(&Some(col)))
    }

    /// Stores a cell of the current row if it can matter.
    fn push(&self, row: &mut RowCells, col: usize, value: CellValue) {
        match &self.builder {
            None => {
                if !value.is_blank() && row.all.len() < MAX_HEADER_ROW_CELLS {
                    row.all.push((col, value));
                }
            }
            Some(builder) => {
                for (slot, wanted) in row.slots.iter_mut().zip(builder.layout.columns()) {
                    if wanted == Some(col) {
                        *slot = value.clone();
                    }
                }
            }
        }
    }

    /// Ends a row; returns `false` when the header search gave up on this sheet.
    fn finish_row(
        &mut self,
        row_index: u32,
        row: &mut RowCells,
        on_record: OnRecord<'_>,
    ) -> Result<bool, ParseError> {
        let number = u64::from(row_index) + 1;
        let cells = std::mem::take(row);
        match &mut self.builder {
            None => {
                if cells.all.is_empty() {
                    return Ok(true);
                }
                let texts: Vec<(usize, String)> = cells
                    .all
                    .iter()
                    .filter(|(_, v)| matches!(v, CellValue::Text(_)))
                    .map(|(c, v)| (*c, v.display()))
                    .collect();
                if let Some(layout) = self
                    .search
                    .offer(number, texts.iter().map(|(c, t)| (*c, t.as_str())))
                {
                    self.builder = Some(RecordBuilder::new(layout, self.limits));
                    Ok(true)
                } else {
                    Ok(!self.search.exhausted())
                }
            }
            Some(builder) => {
                let [kpi, period, value, comment] = &cells.slots;
                if let Some(record) = builder.build(number, [kpi, period, value, comment])? {
                    on_record(record)?;
                }
                Ok(true)
            }
        }
    }

    fn outcome(self) -> SheetOutcome {
        match self.builder {
            Some(builder) => SheetOutcome::Parsed(builder.layout.header),
            None => SheetOutcome::NoHeader(self.search),
        }
    }
}

/// Remembers the most informative failed header search across sheets.
#[derive(Default)]
struct Sheets {
    best: Option<(String, HeaderSearch)>,
}

impl Sheets {
    fn missed(&mut self, name: &str, search: HeaderSearch) {
        let replace = match &self.best {
            None => true,
            Some((_, best)) => search.better_than(best),
        };
        if replace {
            self.best = Some((name.to_owned(), search));
        }
    }

    fn failure(self) -> ParseError {
        match self.best {
            Some((name, search)) => search.failure(&format!("sheet '{name}'")),
            None => ParseError::NoHeader("the workbook has no sheet with data".to_owned()),
        }
    }
}

pub(crate) fn parse_xlsx(
    bytes: &[u8],
    limits: &Limits,
    on_record: OnRecord<'_>,
) -> Result<Header, ParseError> {
    let kind = FileKind::Xlsx;
    let mut workbook: Xlsx<_> =
        guarded(kind, || Xlsx::new(Cursor::new(bytes)))?.map_err(xlsx_error)?;
    let mut sheets = Sheets::default();
    for name in workbook.sheet_names() {
        let mut reader = match guarded(kind, || workbook.worksheet_cells_reader(&name))? {
            Ok(reader) => reader,
            Err(XlsxError::NotAWorksheet(_)) => continue,
            Err(e) => return Err(xlsx_error(e)),
        };
        let percent: Vec<bool> = reader
            .styles()
            .iter()
            .map(|s| {
                s.number_format
                    .as_ref()
                    .is_some_and(|f| is_percent_format(&f.format_code))
            })
            .collect();
        let mut rows = SheetRows::new(limits);
        let mut row = RowCells::default();
        let mut current: Option<u32> = None;
        let mut gave_up = false;
        loop {
            let next = guarded(kind, || reader.next_cell_with_style_id())?.map_err(xlsx_error)?;
            let Some((cell, style)) = next else { break };
            let (r, c) = cell.get_position();
            if let Some(cur) = current
                && cur != r
                && !rows.finish_row(cur, &mut row, on_record)?
            {
                gave_up = true;
                break;
            }
            current = Some(r);
            let col = c as usize;
            if rows.wants(col) {
                let is_percent = percent.get(style).copied().unwrap_or(false);
                rows.push(
                    &mut row,
                    col,
                    from_data_ref(cell.get_value().clone(), is_percent),
                );
            }
        }
        if !gave_up && let Some(cur) = current {
            rows.finish_row(cur, &mut row, on_record)?;
        }
        match rows.outcome() {
            SheetOutcome::Parsed(header) => return Ok(header),
            SheetOutcome::NoHeader(search) => sheets.missed(&name, search),
        }
    }
    Err(sheets.failure())
}

pub(crate) fn parse_xls(
    bytes: &[u8],
    limits: &Limits,
    on_record: OnRecord<'_>,
) -> Result<Header, ParseError> {
    let kind = FileKind::Xls;
    let mut workbook: Xls<_> =
        guarded(kind, || Xls::new(Cursor::new(bytes)))?.map_err(xls_error)?;
    let mut sheets = Sheets::default();
    for name in workbook.sheet_names() {
        let range = guarded(kind, || workbook.worksheet_range(&name))?.map_err(xls_error)?;
        match parse_range(&range, limits, on_record)? {
            SheetOutcome::Parsed(header) => return Ok(header),
            SheetOutcome::NoHeader(search) => sheets.missed(&name, search),
        }
    }
    Err(sheets.failure())
}

pub(crate) fn parse_ods(
    bytes: &[u8],
    limits: &Limits,
    on_record: OnRecord<'_>,
) -> Result<Header, ParseError> {
    let kind = FileKind::Ods;
    let mut workbook: Ods<_> =
        guarded(kind, || Ods::new(Cursor::new(bytes)))?.map_err(ods_error)?;
    let mut sheets = Sheets::default();
    for name in workbook.sheet_names() {
        let range = guarded(kind, || workbook.worksheet_range(&name))?.map_err(ods_error)?;
        match parse_range(&range, limits, on_record)? {
            SheetOutcome::Parsed(header) => return Ok(header),
            SheetOutcome::NoHeader(search) => sheets.missed(&name, search),
        }
    }
    Err(sheets.failure())
}

/// Parses a sheet already in memory; positions are absolute.
fn parse_range(
    range: &Range<Data>,
    limits: &Limits,
    on_record: OnRecord<'_>,
) -> Result<SheetOutcome, ParseError> {
    let mut rows = SheetRows::new(limits);
    let Some((first_row, first_col)) = range.start() else {
        return Ok(rows.outcome());
    };
    for (i, cells) in range.rows().enumerate() {
        let index = first_row.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
        let mut row = RowCells::default();
        for (j, data) in cells.iter().enumerate() {
            let col = first_col as usize + j;
            if !matches!(data, Data::Empty) && rows.wants(col) {
                rows.push(&mut row, col, CellValue::from(data.clone()));
            }
        }
        if !rows.finish_row(index, &mut row, on_record)? {
            break;
        }
    }
    Ok(rows.outcome())
}
