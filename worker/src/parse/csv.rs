//! CSV: encoding and delimiter detection, bounded record-by-record reading.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read};

use encoding_rs::{Decoder, Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};
use kpix_shared::file_kind::{TEXT_CHECK_BYTES, is_utf8_prefix, looks_like_text};

use super::cells::CellValue;
use super::header::{HeaderSearch, RecordBuilder};
use super::{Header, Limits, ParseError, Record};

/// Bytes read up front to choose the encoding and the delimiter.
const SNIFF_BYTES: usize = 64 * 1024;
const DELIMITERS: [u8; 3] = [b';', b'\t', b','];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// UTF-8 (BOM removed); a field that is not valid UTF-8 is read as Windows-1252.
    Utf8,
    /// Decoded to UTF-8 while reading.
    Decoded(&'static Encoding),
}

/// Parses CSV from a reader, streaming record by record.
pub fn parse_reader<R: Read>(
    mut reader: R,
    limits: &Limits,
    on_record: &mut dyn FnMut(Record) -> Result<(), ParseError>,
) -> Result<Header, ParseError> {
    let sniff = read_up_to(&mut reader, SNIFF_BYTES).map_err(io_error)?;
    let (charset, bom_len) = detect_charset(&sniff)?;
    let sniff_text = decode_sniff(&sniff[bom_len..], charset);
    let delimiter = detect_delimiter(sniff_text.as_bytes());

    let mut head = Cursor::new(sniff);
    head.set_position(bom_len as u64);
    let raw = head.chain(reader);
    let decoded = match charset {
        Charset::Utf8 => Text::Utf8(raw),
        Charset::Decoded(encoding) => Text::Decoded(DecodeReader::new(raw, encoding)),
    };
    let guard = RecordGuard::new(decoded, delimiter, limits.max_line_bytes);
    let mut csv = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(guard);

    let mut search = HeaderSearch::default();
    let mut builder: Option<RecordBuilder<'_>> = None;
    let mut record = ::csv::ByteRecord::new();
    loop {
        let more = csv
            .read_byte_record(&mut record)
            .map_err(|e| csv_error(e, limits))?;
        if !more {
            break;
        }
        let line = match record.position() {
            Some(pos) => csv.get_mut().start_line(pos.byte()).unwrap_or(pos.line()),
            None => 0,
        };
        match &mut builder {
            None => {
                let texts: Vec<(usize, String)> = record
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.len() <= limits.max_field_bytes)
                    .map(|(i, f)| (i, decode_field(f, charset)))
                    .filter(|(_, t)| !t.trim().is_empty())
                    .collect();
                if texts.is_empty() {
                    continue;
                }
                if let Some(layout) =
                    search.offer(line, texts.iter().map(|(i, t)| (*i, t.as_str())))
                {
                    builder = Some(RecordBuilder::new(layout, limits));
                } else if search.exhausted() {
                    return Err(search.failure("the file"));
                }
            }
            Some(builder) => {
                let mut cells: [CellValue; 4] = Default::default();
                for (slot, col) in cells.iter_mut().zip(builder.layout.columns()) {
                    if let Some(field) = col.and_then(|c| record.get(c)) {
                        if field.len() > limits.max_field_bytes {
                            return Err(ParseError::FieldTooLong {
                                row: line,
                                limit: limits.max_field_bytes,
                            });
                        }
                        *slot = CellValue::Text(decode_field(field, charset));
                    }
                }
                let [kpi, period, value, comment] = &cells;
                if let Some(rec) = builder.build(line, [kpi, period, value, comment])? {
                    on_record(rec)?;
                }
            }
        }
    }
    match builder {
        Some(builder) => Ok(builder.layout.header),
        None => Err(search.failure("the file")),
    }
}

/// Reads until `limit` bytes or end of input.
fn read_up_to<R: Read>(reader: &mut R, limit: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(limit.min(SNIFF_BYTES));
    reader.take(limit as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Picks the charset from the BOM, then UTF-8 validity; refuses binary content.
fn detect_charset(sniff: &[u8]) -> Result<(Charset, usize), ParseError> {
    if sniff.starts_with(b"\xEF\xBB\xBF") {
        return Ok((Charset::Utf8, 3));
    }
    if sniff.starts_with(b"\xFF\xFE") {
        return Ok((Charset::Decoded(UTF_16LE), 2));
    }
    if sniff.starts_with(b"\xFE\xFF") {
        return Ok((Charset::Decoded(UTF_16BE), 2));
    }
    if !looks_like_text(&sniff[..sniff.len().min(TEXT_CHECK_BYTES)]) {
        return Err(ParseError::NotASpreadsheet);
    }
    if is_utf8_prefix(sniff) {
        Ok((Charset::Utf8, 0))
    } else {
        Ok((Charset::Decoded(WINDOWS_1252), 0))
    }
}

fn decode_sniff(bytes: &[u8], charset: Charset) -> String {
    match charset {
        Charset::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(e) => String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
        },
        Charset::Decoded(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

fn decode_field(bytes: &[u8], charset: Charset) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        // Only in UTF-8 mode: a file that turns out to be Windows-1252 after the sniffed part.
        Err(_) => {
            debug_assert_eq!(charset, Charset::Utf8);
            WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .into_owned()
        }
    }
}

/// Chooses the delimiter: the one under which a row reads as a header, else the most regular one.
fn detect_delimiter(text: &[u8]) -> u8 {
    let mut best = (0usize, 0usize, b',');
    for delimiter in DELIMITERS {
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(text);
        let mut search = HeaderSearch::default();
        let mut header_found = 0;
        let mut split_rows = 0;
        let mut non_empty = 0;
        for record in reader
            .byte_records()
            .take(super::header::HEADER_SEARCH_ROWS * 2)
        {
            let Ok(record) = record else { break };
            let texts: Vec<(usize, String)> = record
                .iter()
                .enumerate()
                .map(|(i, f)| (i, String::from_utf8_lossy(f).into_owned()))
                .filter(|(_, t)| !t.trim().is_empty())
                .collect();
            if texts.is_empty() {
                continue;
            }
            non_empty += 1;
            if record.len() > 1 {
                split_rows += 1;
            }
            if header_found == 0
                && non_empty <= super::header::HEADER_SEARCH_ROWS
                && search
                    .offer(0, texts.iter().map(|(i, t)| (*i, t.as_str())))
                    .is_some()
            {
                header_found = 1;
            }
        }
        if (header_found, split_rows) > (best.0, best.1) {
            best = (header_found, split_rows, delimiter);
        }
    }
    best.2
}

/// The byte stream handed to the CSV reader: UTF-8 as is, or decoded to UTF-8.
enum Text<R> {
    Utf8(R),
    Decoded(DecodeReader<R>),
}

impl<R: Read> Read for Text<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Utf8(r) => r.read(buf),
            Self::Decoded(r) => r.read(buf),
        }
    }
}

/// Decodes a non-UTF-8 byte stream to UTF-8.
struct DecodeReader<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    finished: bool,
}

impl<R: Read> DecodeReader<R> {
    fn new(inner: R, encoding: &'static Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; 8 * 1024],
            output: Vec::new(),
            out_pos: 0,
            finished: false,
        }
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.output.len() {
            if self.finished {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            let capacity = self
                .decoder
                .max_utf8_buffer_length(n)
                .ok_or_else(|| io::Error::other("decoding buffer overflow"))?;
            self.output.clear();
            self.output.resize(capacity, 0);
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, last);
            debug_assert_eq!(read, n);
            self.output.truncate(written);
            self.out_pos = 0;
            self.finished = last;
        }
        let n = buf.len().min(self.output.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// Raised inside the byte stream when a record grows past the limit.
#[derive(Debug)]
struct RecordTooLong {
    line: u64,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record starting on line {} is too long", self.line)
    }
}

impl std::error::Error for RecordTooLong {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote seen inside a quoted field: either an escaped quote or the closing one.
    QuotedQuote,
}

/// Follows CSV quoting as the bytes stream past the CSV reader. It fails once a record
/// exceeds the limit, so that neither a huge line nor an unclosed quote can grow the record
/// buffer without bound, and it notes the line where each record starts: the reader's own
/// position is taken before the line ends and blank lines preceding a record.
struct RecordGuard<R> {
    inner: R,
    delimiter: u8,
    limit: usize,
    state: QuoteState,
    record_bytes: usize,
    line: u64,
    record_line: u64,
    offset: u64,
    after_cr: bool,
    between_records: bool,
    /// (byte offset, line) of the first byte of each record read ahead.
    starts: VecDeque<(u64, u64)>,
}

impl<R> RecordGuard<R> {
    fn new(inner: R, delimiter: u8, limit: usize) -> Self {
        Self {
            inner,
            delimiter,
            limit,
            state: QuoteState::FieldStart,
            record_bytes: 0,
            line: 1,
            record_line: 1,
            offset: 0,
            after_cr: false,
            between_records: true,
            starts: VecDeque::new(),
        }
    }

    /// The line of the first record starting at or after byte `offset`.
    fn start_line(&mut self, offset: u64) -> Option<u64> {
        while let Some((at, line)) = self.starts.pop_front() {
            if at >= offset {
                return Some(line);
            }
        }
        None
    }

    fn observe(&mut self, bytes: &[u8]) -> io::Result<()> {
        for &b in bytes {
            let end_of_record = matches!(b, b'\n' | b'\r');
            if self.between_records && !end_of_record {
                self.starts.push_back((self.offset, self.line));
                self.between_records = false;
            }
            self.offset += 1;
            // CRLF, LF and a lone CR each end a line.
            if b == b'\r' || (b == b'\n' && !self.after_cr) {
                self.line += 1;
            }
            self.after_cr = b == b'\r';
            self.state = match (self.state, b) {
                (QuoteState::Quoted, b'"') => QuoteState::QuotedQuote,
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (QuoteState::QuotedQuote, b'"') | (QuoteState::FieldStart, b'"') => {
                    QuoteState::Quoted
                }
                (_, d) if d == self.delimiter => QuoteState::FieldStart,
                (_, _) if end_of_record => QuoteState::FieldStart,
                _ => QuoteState::Unquoted,
            };
            if end_of_record && self.state == QuoteState::FieldStart {
                self.record_bytes = 0;
                self.record_line = self.line;
                self.between_records = true;
            } else {
                self.record_bytes += 1;
                if self.record_bytes > self.limit {
                    return Err(io::Error::other(RecordTooLong {
                        line: self.record_line,
                    }));
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n])?;
        Ok(n)
    }
}

fn io_error(e: io::Error) -> ParseError {
    ParseError::Malformed(format!("the file could not be read: {e}"))
}

fn csv_error(e: ::csv::Error, limits: &Limits) -> ParseError {
    if let ::csv::ErrorKind::Io(io) = e.kind()
        && let Some(too_long) = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<RecordTooLong>())
    {
        return ParseError::LineTooLong {
            line: too_long.line,
            limit: limits.max_line_bytes,
        };
    }
    ParseError::Malformed(format!("the CSV could not be read: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::*;
    use crate::parse::{KpiColumn, PeriodCell};

    fn parse(bytes: &[u8]) -> Result<(Header, Vec<Record>), ParseError> {
        parse_with(bytes, &Limits::default())
    }

    fn parse_with(bytes: &[u8], limits: &Limits) -> Result<(Header, Vec<Record>), ParseError> {
        let mut records = Vec::new();
        let header = parse_reader(bytes, limits, &mut |r| {
            records.push(r);
            Ok(())
        })?;
        Ok((header, records))
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn text(s: &str) -> PeriodCell {
        PeriodCell::Text(s.to_owned())
    }

    #[test]
    fn comma_delimited_utf8() {
        let (header, records) =
            parse(b"kpi_code,period,value,comment\nA,2025-01,12.5,ok\nB,2025-02,3,\n").unwrap();
        assert_eq!(header.kpi_column, KpiColumn::Code);
        assert_eq!(header.comment_header.as_deref(), Some("comment"));
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].row, 2);
        assert_eq!(records[0].kpi, "A");
        assert_eq!(records[0].period, text("2025-01"));
        assert_eq!(records[0].value, Ok(dec("12.5")));
        assert_eq!(records[0].comment.as_deref(), Some("ok"));
        assert_eq!(records[1].comment, None);
    }

    #[test]
    fn semicolon_with_decimal_comma_and_crlf() {
        let (_, records) = parse(
            b"Indicateur;Periode;Valeur\r\nTaux;31/01/2025;91,6\r\nTaux;28/02/2025;1 234,5\r\n",
        )
        .unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].value, Ok(dec("91.6")));
        assert_eq!(records[1].value, Ok(dec("1234.5")));
        assert_eq!(records[1].row, 3);
    }

    #[test]
    fn semicolon_file_is_not_mistaken_for_commas() {
        // Many commas in the numbers, one semicolon per field.
        let mut file = String::from("kpi;period;value\n");
        for i in 0..30 {
            file.push_str(&format!("K{i};2025-{:02};{i},5\n", i % 12 + 1));
        }
        let (_, records) = parse(file.as_bytes()).unwrap();
        assert_eq!(records.len(), 30);
        assert_eq!(records[3].value, Ok(dec("3.5")));
    }

    #[test]
    fn tab_delimited() {
        let (_, records) = parse(b"code\tmonth\tactual\nA\t2025-01\t95 %\n").unwrap();
        assert_eq!(records[0].value, Ok(dec("95")));
    }

    #[test]
    fn thousands_separators() {
        let file = "code;mois;valeur\nA;2025-01;1 234,5\nB;2025-01;1\u{a0}234,5\nC;2025-01;1\u{202f}234,5\nD;2025-01;\"1,234.5\"\n";
        let (_, records) = parse(file.as_bytes()).unwrap();
        assert_eq!(records.len(), 4);
        for r in &records {
            assert_eq!(r.value, Ok(dec("1234.5")), "{r:?}");
        }
    }

    #[test]
    fn utf8_bom_and_windows_1252() {
        let (header, records) =
            parse("\u{feff}Indicateur,Période,Valeur\nAbsentéisme,2025-01,2.9\n".as_bytes())
                .unwrap();
        assert_eq!(header.kpi_header, "Indicateur");
        assert_eq!(header.period_header, "Période");
        assert_eq!(records[0].kpi, "Absentéisme");

        let (bytes, _, _) = WINDOWS_1252.encode(
            "Indicateur;Période;Valeur;Commentaire\r\nAbsentéisme;31/01/2025;2,9;Arrêt prévu\r\n",
        );
        let (header, records) = parse(&bytes).unwrap();
        assert_eq!(header.period_header, "Période");
        assert_eq!(records[0].kpi, "Absentéisme");
        assert_eq!(records[0].comment.as_deref(), Some("Arrêt prévu"));
    }

    #[test]
    fn windows_1252_after_the_sniffed_part() {
        let mut bytes = b"kpi,period,value,comment\n".to_vec();
        for _ in 0..5000 {
            bytes.extend_from_slice(b"A,2025-01,1,plain ascii comment\n");
        }
        bytes.extend_from_slice(b"B,2025-02,2,pr\xe9vu\n");
        let (_, records) = parse(&bytes).unwrap();
        assert_eq!(records.last().unwrap().comment.as_deref(), Some("prévu"));
    }

    #[test]
    fn utf16_with_bom() {
        let text = "kpi\tperiod\tvalue\nTaux de service\t2025-01\t91,6\n";
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let (_, records) = parse(&bytes).unwrap();
        assert_eq!(records[0].kpi, "Taux de service");
        assert_eq!(records[0].value, Ok(dec("91.6")));
    }

    #[test]
    fn old_mac_line_endings() {
        let (_, records) = parse(b"kpi;period;value\rA;1;2\r\rB;1;3\r").unwrap();
        let rows: Vec<u64> = records.iter().map(|r| r.row).collect();
        assert_eq!(rows, vec![2, 4]);
    }

    #[test]
    fn title_rows_above_the_header() {
        let file = b"Export indicateurs;;;\n;;;\nGenerated 2025-03-01\n\nkpi;periode;valeur;note\nA;2025-01;1;\n\nB;2025-02;2;x\n";
        let (_, records) = parse(file).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].row, 6);
        assert_eq!(records[1].row, 8);
    }

    #[test]
    fn quoted_fields_with_delimiters_and_newlines() {
        let file = b"kpi,period,value,comment\n\"Taux, global\",2025-01,\"12,5\",\"line one\nline two\"\nB,2025-02,3,\"say \"\"hi\"\"\"\n";
        let (_, records) = parse(file).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].kpi, "Taux, global");
        assert_eq!(records[0].value, Ok(dec("12.5")));
        assert_eq!(records[0].comment.as_deref(), Some("line one\nline two"));
        assert_eq!(records[1].row, 4);
        assert_eq!(records[1].comment.as_deref(), Some("say \"hi\""));
    }

    #[test]
    fn short_and_bad_rows_are_row_errors() {
        let file = b"kpi;period;value\nA;2025-01\nB\n;2025-03;4\nC;2025-04;abc\n";
        let (_, records) = parse(file).unwrap();
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].value, Err("missing value".to_owned()));
        assert_eq!(records[1].period, text(""));
        assert_eq!(records[2].kpi, "");
        assert_eq!(records[3].value, Err("not a number: 'abc'".to_owned()));
        assert_eq!(records[3].raw_value, "abc");
    }

    #[test]
    fn no_header() {
        let err = parse(b"a;b;c\n1;2;3\n").unwrap_err();
        assert!(matches!(err, ParseError::NoHeader(_)), "{err}");
        assert!(err.to_string().contains("KPI column"), "{err}");
        let err = parse(b"").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let err = parse(b"kpi;period;total\nA;1;2\n").unwrap_err();
        assert!(err.to_string().contains("no a value column"), "{err}");
    }

    #[test]
    fn header_beyond_the_search_window() {
        let mut file = String::new();
        for i in 0..25 {
            file.push_str(&format!("note {i}\n"));
        }
        file.push_str("kpi,period,value\nA,1,2\n");
        assert!(matches!(
            parse(file.as_bytes()),
            Err(ParseError::NoHeader(_))
        ));
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_rows: 2,
            max_field_bytes: 10,
            max_line_bytes: 100,
            ..Limits::default()
        };
        let err = parse_with(b"kpi,period,value\nA,1,1\nB,1,1\nC,1,1\n", &limits).unwrap_err();
        assert!(matches!(err, ParseError::TooManyRows { limit: 2 }), "{err}");

        let err = parse_with(b"kpi,period,value\nA,1,1\nB,1,12345678901\n", &limits).unwrap_err();
        assert!(
            matches!(err, ParseError::FieldTooLong { row: 3, .. }),
            "{err}"
        );

        let long = format!("kpi,period,value\nA,1,1\nB,1,{}\n", "9".repeat(200));
        let err = parse_with(long.as_bytes(), &limits).unwrap_err();
        assert!(
            matches!(err, ParseError::LineTooLong { line: 3, .. }),
            "{err}"
        );

        // An unclosed quote swallows the rest of the file into one record.
        let mut open = b"kpi,period,value\nA,1,\"1\n".to_vec();
        open.extend(std::iter::repeat_n(b"B,1,1\n".as_slice(), 100).flatten());
        let err = parse_with(&open, &limits).unwrap_err();
        assert!(
            matches!(err, ParseError::LineTooLong { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn long_lines_without_newline_fail_fast() {
        let bytes = vec![b'a'; 10 * 1024 * 1024];
        let err = parse(&bytes).unwrap_err();
        assert!(
            matches!(err, ParseError::LineTooLong { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn binary_is_refused() {
        let bytes: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let err = parse(&bytes).unwrap_err();
        assert!(matches!(err, ParseError::NotASpreadsheet), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_csv_like_bytes(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"kpi;period;value,\t\"\r\n a1,5%\xe9\xc3\xa9".to_vec()),
                0..400,
            ),
        ) {
            let limits = Limits { max_line_bytes: 64, max_field_bytes: 16, max_rows: 5, ..Limits::default() };
            let mut header = b"kpi;period;value\n".to_vec();
            header.extend_from_slice(&bytes);
            for input in [&bytes, &header] {
                let mut previous = 0;
                let _ = parse_reader(input.as_slice(), &limits, &mut |r| {
                    assert!(r.row > previous);
                    previous = r.row;
                    Ok(())
                });
            }
        }
    }

    #[test]
    fn callback_errors_stop_parsing() {
        let mut seen = 0;
        let err = parse_reader(
            b"kpi,period,value\nA,1,1\nB,1,1\n".as_slice(),
            &Limits::default(),
            &mut |_| {
                seen += 1;
                Err(ParseError::Aborted("cancelled".to_owned()))
            },
        )
        .unwrap_err();
        assert!(matches!(err, ParseError::Aborted(_)));
        assert_eq!(seen, 1);
    }
}
