//! Parser tests over whole files: the project's import files, generated spreadsheets and hostile input.

#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Read, Write};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use kpix_shared::file_kind::detect as detect_kind;

use super::*;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/imports");

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{SAMPLES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("sample {path} must exist: {e}"))
}

fn parse_all(bytes: &[u8], kind: FileKind) -> Result<(Header, Vec<Record>), ParseError> {
    parse_limited(bytes, kind, &Limits::default())
}

fn parse_limited(
    bytes: &[u8],
    kind: FileKind,
    limits: &Limits,
) -> Result<(Header, Vec<Record>), ParseError> {
    let mut records = Vec::new();
    let header = parse_file(bytes, kind, limits, &mut |r| {
        records.push(r);
        Ok(())
    })?;
    Ok((header, records))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> PeriodCell {
    PeriodCell::Date(NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn text(s: &str) -> PeriodCell {
    PeriodCell::Text(s.to_owned())
}

#[test]
fn sample_french_excel_csv() {
    let bytes = sample("valeurs_2024_excel_fr.csv");
    assert_eq!(
        detect_kind(&bytes, Some("valeurs_2024_excel_fr.csv")),
        Some(FileKind::Csv)
    );
    let (header, records) = parse_all(&bytes, FileKind::Csv).unwrap();
    assert_eq!(
        header,
        Header {
            kpi_column: KpiColumn::Auto,
            kpi_header: "Indicateur".to_owned(),
            period_header: "Période".to_owned(),
            value_header: "Valeur".to_owned(),
            comment_header: Some("Commentaire".to_owned()),
        }
    );
    assert_eq!(records.len(), 36);
    let first = &records[0];
    assert_eq!(first.row, 2);
    assert_eq!(first.kpi, "Taux de service");
    assert_eq!(first.period, text("31/01/2024"));
    assert_eq!(first.value, Ok(dec("92.8")));
    assert_eq!(first.raw_value, "92,8");
    assert_eq!(first.comment, None);
    assert_eq!(records[1].period, text("29/02/2024"));
    let last = records.last().unwrap();
    assert_eq!(last.row, 37);
    assert_eq!(last.kpi, "Absentéisme");
    assert_eq!(last.period, text("31/12/2024"));
    assert_eq!(last.value, Ok(dec("3.78")));
    let commented: Vec<_> = records
        .iter()
        .filter_map(|r| Some((r.row, r.comment.as_deref()?)))
        .collect();
    assert_eq!(
        commented,
        [
            (9, "Grève transporteur – 2 jours"),
            (16, "Arrêt machine prévu")
        ]
    );
    assert!(records.iter().all(|r| r.value.is_ok()));
}

#[test]
fn sample_utf8_bom_csv() {
    let bytes = sample("rebut_hebdo_2026_utf8_bom.csv");
    assert_eq!(detect_kind(&bytes, None), Some(FileKind::Csv));
    let (header, records) = parse_all(&bytes, FileKind::Csv).unwrap();
    assert_eq!(header.kpi_column, KpiColumn::Code);
    assert_eq!(header.kpi_header, "kpi_code");
    assert_eq!(header.comment_header.as_deref(), Some("comment"));
    assert_eq!(records.len(), 26);
    assert_eq!(
        records[0],
        Record {
            row: 2,
            kpi: "QUA-REB".to_owned(),
            period: text("2026-W01"),
            value: Ok(dec("1.87")),
            raw_value: "1.87".to_owned(),
            comment: None,
            kpi_column: KpiColumn::Code,
        }
    );
    assert_eq!(
        records[8].comment.as_deref(),
        Some("Lot refusé, reprise en cours")
    );
    let last = records.last().unwrap();
    assert_eq!(last.row, 27);
    assert_eq!(last.period, text("2026-W26"));
    assert_eq!(last.value, Ok(dec("2.99")));
    assert_eq!(records.iter().filter(|r| r.comment.is_some()).count(), 1);
    assert!(records.iter().all(|r| r.value.is_ok()));
}

#[test]
fn sample_xlsx() {
    let bytes = sample("indicateurs_2023.xlsx");
    assert_eq!(detect_kind(&bytes, None), Some(FileKind::Xlsx));
    assert_eq!(detect_kind(&bytes[..2048], None), Some(FileKind::Xlsx));
    let (header, records) = parse_all(&bytes, FileKind::Xlsx).unwrap();
    assert_eq!(
        header,
        Header {
            kpi_column: KpiColumn::Code,
            kpi_header: "Code KPI".to_owned(),
            period_header: "Date".to_owned(),
            value_header: "Valeur".to_owned(),
            comment_header: Some("Commentaire".to_owned()),
        }
    );
    assert_eq!(records.len(), 36);
    let first = &records[0];
    assert_eq!(first.row, 4);
    assert_eq!(first.kpi, "LOG-OTD");
    assert_eq!(first.period, date(2023, 1, 1));
    assert_eq!(first.value, Ok(dec("95.22")));
    assert_eq!(first.raw_value, "95.22");
    // stored by Excel as 93.09999999999999: the shortest decimal of that double
    assert_eq!(records[1].value, Ok(dec("93.1")));
    assert_eq!(records[13].row, 17);
    assert_eq!(records[13].comment.as_deref(), Some("Changement de série"));
    let last = records.last().unwrap();
    assert_eq!(last.row, 39);
    assert_eq!(last.kpi, "RH-ABS");
    assert_eq!(last.period, date(2023, 12, 1));
    assert_eq!(last.value, Ok(dec("6.13")));
    assert!(records.iter().all(|r| r.value.is_ok()));
    assert!(
        records
            .iter()
            .all(|r| matches!(r.period, PeriodCell::Date(_)))
    );
}

/// A workbook with a sheet without header, then a sheet with title rows and varied cells.
fn generated_xlsx() -> Vec<u8> {
    let mut workbook = Workbook::new();
    let notes = workbook.add_worksheet();
    notes.set_name("Notes").unwrap();
    notes.write_string(0, 0, "Read me first").unwrap();
    notes.write_string(1, 0, "Values are monthly").unwrap();

    let date_format = Format::new().set_num_format("dd/mm/yyyy");
    let percent = Format::new().set_num_format("0.0%");
    let data = workbook.add_worksheet();
    data.set_name("Saisie").unwrap();
    data.write_string(0, 0, "Export — usine de Lyon").unwrap();
    // Row 2 left blank.
    for (col, title) in ["Indicateur", "Mois", "Valeur (%)", "Commentaire"]
        .iter()
        .enumerate()
    {
        data.write_string(2, col as u16, *title).unwrap();
    }
    let jan = ExcelDateTime::from_ymd(2025, 1, 31).unwrap();
    data.write_string(3, 0, "Taux de service").unwrap();
    data.write_datetime_with_format(3, 1, &jan, &date_format)
        .unwrap();
    data.write_number(3, 2, 91.6).unwrap();
    data.write_string(3, 3, "ok").unwrap();

    data.write_string(4, 0, "TRS ligne 2").unwrap();
    data.write_number_with_format(4, 1, 45_688.0, &date_format)
        .unwrap(); // 2025-01-31
    data.write_number_with_format(4, 2, 0.956, &percent)
        .unwrap();

    data.write_string(5, 0, "Absentéisme").unwrap();
    data.write_number(5, 1, 2025.0).unwrap();
    data.write_string(5, 2, "12,5").unwrap();

    // Row 7 blank, then a bad value and a short row.
    data.write_string(7, 0, "Absentéisme").unwrap();
    data.write_string(7, 1, "2025-02").unwrap();
    data.write_string(7, 2, "abc").unwrap();
    data.write_string(8, 0, "Absentéisme").unwrap();
    data.write_string(8, 1, "2025-03").unwrap();
    data.write_number(9, 0, 42.0).unwrap();
    data.write_string(9, 1, "2025-04").unwrap();
    data.write_number(9, 2, 0.1 + 0.2).unwrap();
    workbook.save_to_buffer().unwrap()
}

#[test]
fn generated_xlsx_cells() {
    let bytes = generated_xlsx();
    assert_eq!(detect_kind(&bytes, None), Some(FileKind::Xlsx));
    let (header, records) = parse_all(&bytes, FileKind::Xlsx).unwrap();
    assert_eq!(header.kpi_column, KpiColumn::Auto);
    assert_eq!(header.value_header, "Valeur (%)");
    assert_eq!(header.period_header, "Mois");
    let rows: Vec<u64> = records.iter().map(|r| r.row).collect();
    assert_eq!(rows, vec![4, 5, 6, 8, 9, 10]);

    assert_eq!(records[0].period, date(2025, 1, 31));
    assert_eq!(records[0].value, Ok(dec("91.6")));
    assert_eq!(records[0].comment.as_deref(), Some("ok"));
    // A date-formatted serial is a date; a percent-formatted 0.956 is 95.6, as shown.
    assert_eq!(records[1].period, date(2025, 1, 31));
    assert_eq!(records[1].value, Ok(dec("95.6")));
    assert_eq!(records[1].raw_value, "95.6%");
    // A plain number in the period column is its integer text; text values are parsed.
    assert_eq!(records[2].period, text("2025"));
    assert_eq!(records[2].value, Ok(dec("12.5")));
    assert_eq!(records[3].value, Err("not a number: 'abc'".to_owned()));
    assert_eq!(records[3].raw_value, "abc");
    assert_eq!(records[4].value, Err("missing value".to_owned()));
    assert_eq!(records[5].kpi, "42");
    assert_eq!(records[5].value, Ok(dec("0.3")));
}

/// Writes a zip from (name, content, stored) entries.
fn zip_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content, stored) in entries {
        let method = if *stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        writer
            .start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Rewrites a zip, passing each entry's content through `edit`.
fn rewrite_zip(bytes: &[u8], mut edit: impl FnMut(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut zip = ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut entries = Vec::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).unwrap();
        let name = file.name().unwrap().into_owned();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        let content = edit(&name, content);
        entries.push((name, content));
    }
    let refs: Vec<(&str, &[u8], bool)> = entries
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice(), false))
        .collect();
    zip_of(&refs)
}

const ODS_MIME: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";

fn ods_of(content_xml: &str) -> Vec<u8> {
    let manifest = br#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"#;
    zip_of(&[
        ("mimetype", ODS_MIME, true),
        ("META-INF/manifest.xml", manifest, false),
        ("content.xml", content_xml.as_bytes(), false),
    ])
}

fn ods_content(tables: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
    )
}

fn ods_text(s: &str) -> String {
    format!(
        r#"<table:table-cell office:value-type="string"><text:p>{s}</text:p></table:table-cell>"#
    )
}

#[test]
fn generated_ods_cells() {
    let rows = [
        format!(
            "<table:table-row>{}<table:table-cell table:number-columns-repeated=\"3\"/></table:table-row>",
            ods_text("Indicateurs 2025")
        ),
        "<table:table-row><table:table-cell table:number-columns-repeated=\"4\"/></table:table-row>".to_owned(),
        format!(
            "<table:table-row>{}{}{}{}</table:table-row>",
            ods_text("Code"),
            ods_text("Période"),
            ods_text("Valeur"),
            ods_text("Remarque")
        ),
        format!(
            "<table:table-row>{}<table:table-cell office:value-type=\"date\" office:date-value=\"2025-01-31\"><text:p>31/01/2025</text:p></table:table-cell><table:table-cell office:value-type=\"float\" office:value=\"91.6\"><text:p>91,6</text:p></table:table-cell>{}</table:table-row>",
            ods_text("LOG-OTD"),
            ods_text("ok")
        ),
        format!(
            "<table:table-row table:number-rows-repeated=\"2\"><table:table-cell table:number-columns-repeated=\"4\"/></table:table-row><table:table-row>{}{}{}</table:table-row>",
            ods_text("PROD-TRS"),
            ods_text("2025-02"),
            ods_text("1 234,5")
        ),
        "<table:table-row table:number-rows-repeated=\"1048570\"><table:table-cell table:number-columns-repeated=\"1024\"/></table:table-row>".to_owned(),
    ];
    let content = ods_content(&format!(
        r#"<table:table table:name="Vide"><table:table-row><table:table-cell/></table:table-row></table:table><table:table table:name="Saisie">{}</table:table>"#,
        rows.concat()
    ));
    let bytes = ods_of(&content);
    assert_eq!(detect_kind(&bytes, None), Some(FileKind::Ods));
    assert_eq!(detect_kind(&bytes[..200], None), Some(FileKind::Ods));
    let (header, records) = parse_all(&bytes, FileKind::Ods).unwrap();
    assert_eq!(header.kpi_column, KpiColumn::Code);
    assert_eq!(header.period_header, "Période");
    assert_eq!(header.comment_header.as_deref(), Some("Remarque"));
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].row, 4);
    assert_eq!(records[0].kpi, "LOG-OTD");
    assert_eq!(records[0].period, date(2025, 1, 31));
    assert_eq!(records[0].value, Ok(dec("91.6")));
    assert_eq!(records[0].comment.as_deref(), Some("ok"));
    assert_eq!(records[1].row, 7);
    assert_eq!(records[1].period, text("2025-02"));
    assert_eq!(records[1].value, Ok(dec("1234.5")));
}

#[test]
fn no_header_in_any_sheet() {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "Indicateur").unwrap();
    sheet.write_string(0, 1, "Date").unwrap();
    sheet.write_string(1, 0, "A").unwrap();
    let bytes = workbook.save_to_buffer().unwrap();
    let err = parse_all(&bytes, FileKind::Xlsx).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ParseError::NoHeader(_)), "{msg}");
    assert!(
        msg.contains("Sheet1") && msg.contains("value column"),
        "{msg}"
    );
}

#[test]
fn xlsx_row_limit() {
    let limits = Limits {
        max_rows: 2,
        ..Limits::default()
    };
    let err = parse_limited(&generated_xlsx(), FileKind::Xlsx, &limits).unwrap_err();
    assert!(matches!(err, ParseError::TooManyRows { limit: 2 }), "{err}");
}

#[test]
fn streams_a_large_xlsx() {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "kpi").unwrap();
    sheet.write_string(0, 1, "period").unwrap();
    sheet.write_string(0, 2, "value").unwrap();
    for row in 1..=20_000u32 {
        sheet.write_string(row, 0, "K").unwrap();
        sheet
            .write_number(row, 1, f64::from(2000 + row % 50))
            .unwrap();
        sheet.write_number(row, 2, f64::from(row) / 10.0).unwrap();
    }
    let bytes = workbook.save_to_buffer().unwrap();
    let mut count = 0u64;
    let mut last = None;
    parse_file(&bytes, FileKind::Xlsx, &Limits::default(), &mut |r| {
        count += 1;
        last = Some(r);
        Ok(())
    })
    .unwrap();
    assert_eq!(count, 20_000);
    let last = last.unwrap();
    assert_eq!(last.row, 20_001);
    assert_eq!(last.value, Ok(dec("2000")));
}

/// Parses hostile input on a thread with a deadline: it must fail cleanly, fast.
fn assert_refused(bytes: Vec<u8>, kind: FileKind, limits: Limits) -> ParseError {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = parse_limited(&bytes, kind, &limits).map(|(_, r)| r.len());
        let _ = tx.send(result);
    });
    let started = Instant::now();
    let result = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("parsing hung or panicked after {:?}", started.elapsed()));
    match result {
        Ok(n) => panic!("hostile {kind} input parsed into {n} records"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

#[test]
fn refuses_a_zip_bomb_xlsx() {
    let zeros = vec![b' '; 20 * 1024 * 1024];
    let bytes = rewrite_zip(&generated_xlsx(), |name, content| {
        if name == "xl/worksheets/sheet2.xml" {
            zeros.clone()
        } else {
            content
        }
    });
    let limits = Limits {
        max_uncompressed_bytes: 10 * 1024 * 1024,
        ..Limits::default()
    };
    let err = assert_refused(bytes.clone(), FileKind::Xlsx, limits);
    assert!(matches!(err, ParseError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("sheet2.xml"), "{err}");
    // Under the size limit, the ratio gives it away.
    let err = assert_refused(bytes, FileKind::Xlsx, Limits::default());
    assert!(matches!(err, ParseError::Hostile(_)), "{err}");
    assert!(err.to_string().contains("zip bomb"), "{err}");
}

/// Patches the uncompressed size of `name` in its local and central headers.
fn patch_declared_size(bytes: &mut [u8], name: &[u8], size: u32) {
    let mut patched = 0;
    for i in 0..bytes.len().saturating_sub(46) {
        let (sig, name_at, size_at) = match &bytes[i..i + 4] {
            b"PK\x03\x04" => ("local", i + 30, i + 22),
            b"PK\x01\x02" => ("central", i + 46, i + 24),
            _ => continue,
        };
        let len_at = if sig == "local" { i + 26 } else { i + 28 };
        let len = usize::from(u16::from_le_bytes([bytes[len_at], bytes[len_at + 1]]));
        if bytes.get(name_at..name_at + len) == Some(name) {
            bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2);
}

#[test]
fn refuses_an_entry_larger_than_declared() {
    let mut sheet = Vec::new();
    while sheet.len() < 300_000 {
        sheet.extend_from_slice(b"<row><c><v>1</v></c></row>");
    }
    let mut bytes = rewrite_zip(&generated_xlsx(), |name, content| {
        if name == "xl/worksheets/sheet2.xml" {
            sheet.clone()
        } else {
            content
        }
    });
    patch_declared_size(&mut bytes, b"xl/worksheets/sheet2.xml", 1000);
    let err = assert_refused(bytes, FileKind::Xlsx, Limits::default());
    assert!(matches!(err, ParseError::Hostile(_)), "{err}");
    assert!(err.to_string().contains("declared size"), "{err}");
}

#[test]
fn refuses_an_absurd_sheet_dimension() {
    let bytes = rewrite_zip(&generated_xlsx(), |name, content| {
        if name != "xl/worksheets/sheet2.xml" {
            return content;
        }
        let xml = String::from_utf8(content).unwrap();
        let start = xml.find("<dimension ref=\"").unwrap() + "<dimension ref=\"".len();
        let end = start + xml[start..].find('"').unwrap();
        format!("{}A1:XFD1048576{}", &xml[..start], &xml[end..]).into_bytes()
    });
    let err = assert_refused(bytes, FileKind::Xlsx, Limits::default());
    assert!(matches!(err, ParseError::Hostile(_)), "{err}");
    assert!(err.to_string().contains("A1:XFD1048576"), "{err}");
}

#[test]
fn refuses_absurd_shared_string_counts() {
    let bytes = rewrite_zip(&generated_xlsx(), |name, content| {
        if name != "xl/sharedStrings.xml" {
            return content;
        }
        let xml = String::from_utf8(content).unwrap();
        let start = xml.find("uniqueCount=\"").unwrap() + "uniqueCount=\"".len();
        let end = start + xml[start..].find('"').unwrap();
        format!("{}10000000000{}", &xml[..start], &xml[end..]).into_bytes()
    });
    let err = assert_refused(bytes, FileKind::Xlsx, Limits::default());
    assert!(matches!(err, ParseError::Hostile(_)), "{err}");
    assert!(err.to_string().contains("uniqueCount"), "{err}");
}

#[test]
fn refuses_an_archive_with_too_many_entries() {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    writer.start_file("xl/workbook.xml", options).unwrap();
    for i in 0..20_000 {
        writer
            .start_file(format!("xl/media/p{i}.bin"), options)
            .unwrap();
    }
    let bytes = writer.finish().unwrap().into_inner();
    assert_eq!(detect_kind(&bytes, None), Some(FileKind::Xlsx));
    let err = assert_refused(bytes, FileKind::Xlsx, Limits::default());
    assert!(matches!(err, ParseError::Hostile(_)), "{err}");
    assert!(err.to_string().contains("20001 files"), "{err}");
}

#[test]
fn refuses_an_ods_expansion_bomb() {
    let content = ods_content(
        r#"<table:table table:name="S"><table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="16384"/></table:table-row></table:table>"#,
    );
    let err = assert_refused(ods_of(&content), FileKind::Ods, Limits::default());
    assert!(matches!(err, ParseError::Hostile(_)), "{err}");
}

#[test]
fn refuses_random_binary() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    assert_eq!(detect_kind(&bytes, Some("valeurs.csv")), None);
    for kind in [FileKind::Csv, FileKind::Xlsx, FileKind::Xls, FileKind::Ods] {
        let err = assert_refused(bytes.clone(), kind, Limits::default());
        assert!(
            matches!(err, ParseError::NotASpreadsheet | ParseError::Malformed(_)),
            "{kind}: {err}"
        );
    }
}

#[test]
fn refuses_binary_renamed_csv_with_a_clear_error() {
    // Mostly text but with NUL bytes, as a renamed executable or image would be.
    let mut bytes = b"kpi;period;value\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 1, 2, 3, 0xff, 0xfe, 0]);
    assert_eq!(detect_kind(&bytes, Some("x.csv")), None);
    let err = assert_refused(bytes, FileKind::Csv, Limits::default());
    assert!(matches!(err, ParseError::NotASpreadsheet), "{err}");
}

#[test]
fn refuses_a_truncated_xlsx() {
    let full = sample("indicateurs_2023.xlsx");
    let half = full[..full.len() / 2].to_vec();
    assert_eq!(
        detect_kind(&half, Some("indicateurs_2024.xlsx")),
        Some(FileKind::Xlsx)
    );
    assert_eq!(detect_kind(&half, None), Some(FileKind::Xlsx));
    let err = assert_refused(half, FileKind::Xlsx, Limits::default());
    assert!(matches!(err, ParseError::Malformed(_)), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn refuses_every_truncation_of_an_xlsx_and_an_ods() {
    let xlsx = generated_xlsx();
    for cut in (0..xlsx.len()).step_by(97) {
        let result = parse_all(&xlsx[..cut], FileKind::Xlsx);
        assert!(result.is_err(), "cut at {cut}");
    }
    let ods = ods_of(&ods_content(&format!(
        "<table:table><table:table-row>{}{}{}</table:table-row></table:table>",
        ods_text("kpi"),
        ods_text("period"),
        ods_text("value")
    )));
    for cut in 0..ods.len() {
        let result = parse_all(&ods[..cut], FileKind::Ods);
        assert!(result.is_err(), "cut at {cut}");
    }
}

#[test]
fn refuses_corrupted_xlsx_bytes_without_panicking() {
    let original = generated_xlsx();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..200 {
        let mut bytes = original.clone();
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % bytes.len() as u64) as usize;
            bytes[at] = (state >> 32) as u8;
        }
        // Either parses (the damage hit something unimportant) or fails cleanly.
        let _ = parse_all(&bytes, FileKind::Xlsx);
    }
}

#[test]
fn refuses_an_encrypted_ooxml_package() {
    // An encrypted XLSX is an OLE file holding EncryptionInfo and EncryptedPackage streams.
    let mut file = vec![0u8; 512 * 3];
    file[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
    file[30..32].copy_from_slice(&9u16.to_le_bytes());
    file[32..34].copy_from_slice(&6u16.to_le_bytes());
    file[48..52].copy_from_slice(&1u32.to_le_bytes());
    file[60..64].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    file[68..72].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    file[76..80].copy_from_slice(&0u32.to_le_bytes());
    for i in 1..109 {
        file[76 + 4 * i..80 + 4 * i].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    // FAT (sector 0): sector 0 is a FAT sector, sector 1 (directory) ends its chain.
    file[512..516].copy_from_slice(&0xFFFF_FFFDu32.to_le_bytes());
    file[516..520].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    let dir = 1024;
    for (i, name) in ["Root Entry", "EncryptedPackage"].iter().enumerate() {
        let entry = dir + i * 128;
        for (j, unit) in name.encode_utf16().enumerate() {
            file[entry + 2 * j..entry + 2 * j + 2].copy_from_slice(&unit.to_le_bytes());
        }
        file[entry + 116..entry + 120].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    }
    assert_eq!(detect_kind(&file, Some("secret.xlsx")), Some(FileKind::Xls));
    let err = assert_refused(file, FileKind::Xls, Limits::default());
    assert!(matches!(err, ParseError::Encrypted), "{err}");
}

#[test]
fn error_messages_are_readable() {
    let err = ParseError::TooLarge {
        what: "the part 'a.xml' uncompresses to 2 GiB".to_owned(),
        limit: human_bytes(1024 * 1024 * 1024),
    };
    assert_eq!(
        err.to_string(),
        "the file is too large: the part 'a.xml' uncompresses to 2 GiB, the limit is 1 GiB"
    );
    assert_eq!(human_bytes(1536), "1536 bytes");
    assert_eq!(human_bytes(64 * 1024), "64 KiB");
    assert_eq!(human_bytes(1024 * 1024 * 3 / 2), "1.5 MiB");
}

/// BIFF8 record.
fn biff(typ: u16, data: &[u8]) -> Vec<u8> {
    let mut out = typ.to_le_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn biff_label(row: u16, col: u16, s: &str) -> Vec<u8> {
    let units: Vec<u16> = s.encode_utf16().collect();
    let mut d = row.to_le_bytes().to_vec();
    d.extend_from_slice(&col.to_le_bytes());
    d.extend_from_slice(&0u16.to_le_bytes());
    d.extend_from_slice(&u16::try_from(units.len()).unwrap().to_le_bytes());
    d.push(1); // UTF-16 characters
    for u in units {
        d.extend_from_slice(&u.to_le_bytes());
    }
    biff(0x0204, &d)
}

fn biff_number(row: u16, col: u16, xf: u16, value: f64) -> Vec<u8> {
    let mut d = row.to_le_bytes().to_vec();
    d.extend_from_slice(&col.to_le_bytes());
    d.extend_from_slice(&xf.to_le_bytes());
    d.extend_from_slice(&value.to_le_bytes());
    biff(0x0203, &d)
}

/// A minimal XLS: one compound-file stream "Workbook" holding BIFF8 globals and one sheet.
fn generated_xls() -> Vec<u8> {
    let bof = |dt: u16| {
        let mut d = vec![0x00, 0x06];
        d.extend_from_slice(&dt.to_le_bytes());
        d.extend_from_slice(&[0; 12]);
        biff(0x0809, &d)
    };
    let xf = |ifmt: u16| {
        let mut d = vec![0u8; 20];
        d[2..4].copy_from_slice(&ifmt.to_le_bytes());
        biff(0x00E0, &d)
    };
    let eof = biff(0x000A, &[]);
    let mut boundsheet = vec![0u8; 4];
    boundsheet.extend_from_slice(&[0, 0, 6, 0]);
    boundsheet.extend_from_slice(b"Saisie");
    let mut globals = bof(0x0005);
    globals.extend(xf(0));
    globals.extend(xf(14)); // built-in date format
    let sheet_pos = globals.len() + 4 + boundsheet.len() + eof.len();
    boundsheet[..4].copy_from_slice(&u32::try_from(sheet_pos).unwrap().to_le_bytes());
    globals.extend(biff(0x0085, &boundsheet));
    globals.extend(&eof);

    let mut dims = 0u32.to_le_bytes().to_vec();
    dims.extend_from_slice(&5u32.to_le_bytes());
    dims.extend_from_slice(&0u16.to_le_bytes());
    dims.extend_from_slice(&3u16.to_le_bytes());
    dims.extend_from_slice(&[0, 0]);
    let mut stream = globals;
    stream.extend(bof(0x0010));
    stream.extend(biff(0x0200, &dims));
    stream.extend(biff_label(0, 0, "Indicateurs XLS"));
    stream.extend(biff_label(2, 0, "Code"));
    stream.extend(biff_label(2, 1, "Période"));
    stream.extend(biff_label(2, 2, "Valeur"));
    stream.extend(biff_label(3, 0, "LOG-OTD"));
    stream.extend(biff_number(3, 1, 1, 45_658.0)); // 2025-01-01
    stream.extend(biff_number(3, 2, 0, 91.6));
    stream.extend(biff_label(4, 0, "RH-ABS"));
    stream.extend(biff_label(4, 1, "2025-02"));
    stream.extend(biff_label(4, 2, "4,5"));
    stream.extend(&eof);
    // Streams under 4096 bytes live in the mini stream; stay above to keep the container simple.
    stream.resize(4608, 0);
    compound_file(&[("Workbook", &stream)])
}

/// A version 3 compound file (512-byte sectors) with the given streams, each of at least 4096 bytes.
fn compound_file(streams: &[(&str, &[u8])]) -> Vec<u8> {
    const FREE: u32 = 0xFFFF_FFFF;
    const END: u32 = 0xFFFF_FFFE;
    const FAT: u32 = 0xFFFF_FFFD;
    let mut header = vec![0u8; 512];
    header[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
    header[24..26].copy_from_slice(&0x3Eu16.to_le_bytes());
    header[26..28].copy_from_slice(&3u16.to_le_bytes());
    header[28..30].copy_from_slice(&0xFFFEu16.to_le_bytes());
    header[30..32].copy_from_slice(&9u16.to_le_bytes());
    header[32..34].copy_from_slice(&6u16.to_le_bytes());
    header[44..48].copy_from_slice(&1u32.to_le_bytes());
    header[48..52].copy_from_slice(&1u32.to_le_bytes());
    header[56..60].copy_from_slice(&4096u32.to_le_bytes());
    header[60..64].copy_from_slice(&END.to_le_bytes());
    header[68..72].copy_from_slice(&END.to_le_bytes());
    header[76..80].copy_from_slice(&0u32.to_le_bytes());
    for i in 1..109 {
        header[76 + 4 * i..80 + 4 * i].copy_from_slice(&FREE.to_le_bytes());
    }
    let mut fat = vec![FREE; 128];
    fat[0] = FAT;
    fat[1] = END;
    let mut directory = vec![0u8; 512];
    let mut data = Vec::new();
    let mut next_sector = 2u32;
    let mut entries: Vec<(&str, u8, u32, u32)> = vec![("Root Entry", 5, END, 0)];
    for (name, content) in streams {
        assert!(content.len() >= 4096 && content.len() % 512 == 0);
        let sectors = u32::try_from(content.len() / 512).unwrap();
        for s in 0..sectors {
            let id = next_sector + s;
            fat[id as usize] = if s + 1 == sectors { END } else { id + 1 };
        }
        entries.push((name, 2, next_sector, u32::try_from(content.len()).unwrap()));
        data.extend_from_slice(content);
        next_sector += sectors;
    }
    for (i, (name, kind, start, size)) in entries.iter().enumerate() {
        let e = &mut directory[i * 128..(i + 1) * 128];
        let units: Vec<u16> = name.encode_utf16().collect();
        for (j, u) in units.iter().enumerate() {
            e[2 * j..2 * j + 2].copy_from_slice(&u.to_le_bytes());
        }
        e[64..66].copy_from_slice(&u16::try_from(2 * units.len() + 2).unwrap().to_le_bytes());
        e[66] = *kind;
        e[67] = 1;
        e[68..72].copy_from_slice(&FREE.to_le_bytes());
        e[72..76].copy_from_slice(&FREE.to_le_bytes());
        let child = if i == 0 && entries.len() > 1 { 1 } else { FREE };
        e[76..80].copy_from_slice(&child.to_le_bytes());
        e[116..120].copy_from_slice(&start.to_le_bytes());
        e[120..124].copy_from_slice(&size.to_le_bytes());
    }
    let mut file = header;
    for id in &fat {
        file.extend_from_slice(&id.to_le_bytes());
    }
    file.extend(directory);
    file.extend(data);
    file
}

#[test]
fn generated_xls_cells() {
    let bytes = generated_xls();
    assert_eq!(detect_kind(&bytes, None), Some(FileKind::Xls));
    let (header, records) = parse_all(&bytes, FileKind::Xls).unwrap();
    assert_eq!(header.kpi_column, KpiColumn::Code);
    assert_eq!(header.period_header, "Période");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].row, 4);
    assert_eq!(records[0].kpi, "LOG-OTD");
    assert_eq!(records[0].period, date(2025, 1, 1));
    assert_eq!(records[0].value, Ok(dec("91.6")));
    assert_eq!(records[1].row, 5);
    assert_eq!(records[1].period, text("2025-02"));
    assert_eq!(records[1].value, Ok(dec("4.5")));
}

#[test]
fn refuses_an_xls_with_absurd_dimensions() {
    let mut bytes = generated_xls();
    // DIMENSIONS data: rwMic, rwMac (u32), colMic, colMac (u16): claim 1,048,576 × 256.
    let at = bytes
        .windows(4)
        .position(|w| w == [0x00, 0x02, 0x0E, 0x00])
        .unwrap()
        + 4;
    bytes[at + 4..at + 8].copy_from_slice(&1_048_576u32.to_le_bytes());
    bytes[at + 10..at + 12].copy_from_slice(&256u16.to_le_bytes());
    let err = assert_refused(bytes, FileKind::Xls, Limits::default());
    assert!(matches!(err, ParseError::Hostile(_)), "{err}");
}

#[test]
fn refuses_every_truncation_of_an_xls() {
    let xls = generated_xls();
    // Past the last EOF record only padding is cut.
    let end = xls
        .windows(4)
        .rposition(|w| w == [0x0A, 0x00, 0x00, 0x00])
        .unwrap()
        + 4;
    for cut in (0..end).step_by(7) {
        assert!(
            parse_all(&xls[..cut], FileKind::Xls).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn csv_line_numbers_count_blank_lines_and_crlf() {
    let file = b"\r\n\r\nkpi;period;value\r\n\r\nA;1;2\r\n\"B\r\nb\";1;2\r\nC;1;2";
    let (_, records) = parse_all(file, FileKind::Csv).unwrap();
    let rows: Vec<u64> = records.iter().map(|r| r.row).collect();
    assert_eq!(rows, vec![5, 6, 8]);
}

/// Mutated XLSX / XLS / ODS files are parsed or refused, never a panic or a
/// hang; `FUZZ_ITERATIONS` runs longer by hand (500 take about a second).
#[test]
fn fuzz_structured_mutations() {
    let mut state = 0x1234_5678_9abc_def1_u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let iterations: usize = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let xlsx = generated_xlsx();
    let xls = generated_xls();
    let ods = {
        let content = ods_content(&format!(
            "<table:table table:name=\"S\"><table:table-row>{}{}{}</table:table-row><table:table-row table:number-rows-repeated=\"3\">{}<table:table-cell office:value-type=\"date\" office:date-value=\"2025-01-31\"/><table:table-cell office:value-type=\"float\" office:value=\"1.5\" table:number-columns-repeated=\"2\"/></table:table-row></table:table>",
            ods_text("kpi"),
            ods_text("period"),
            ods_text("value"),
            ods_text("A")
        ));
        ods_of(&content)
    };
    let mutate = |bytes: &mut Vec<u8>, rand: &mut dyn FnMut() -> u64| {
        let edits = 1 + rand() % 6;
        for _ in 0..edits {
            if bytes.is_empty() {
                return;
            }
            let at = (rand() % bytes.len() as u64) as usize;
            match rand() % 4 {
                0 => bytes[at] = rand() as u8,
                1 => bytes[at] = b"<>\"/=0123456789:AZ"[(rand() % 18) as usize],
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b"9"[0]),
            }
        }
    };
    for i in 0..iterations {
        let which = i % 3;
        let (bytes, kind) = match which {
            0 => {
                let target = [
                    "xl/worksheets/sheet2.xml",
                    "xl/sharedStrings.xml",
                    "xl/styles.xml",
                    "xl/workbook.xml",
                    "xl/_rels/workbook.xml.rels",
                    "[Content_Types].xml",
                ][(rand() % 6) as usize];
                let bytes = rewrite_zip(&xlsx, |name, mut content| {
                    if name == target {
                        mutate(&mut content, &mut rand);
                    }
                    content
                });
                (bytes, FileKind::Xlsx)
            }
            1 => {
                let mut bytes = xls.clone();
                let mut region = bytes[1536..1536 + 400].to_vec();
                mutate(&mut region, &mut rand);
                region.resize(400, 0);
                bytes[1536..1536 + 400].copy_from_slice(&region);
                (bytes, FileKind::Xls)
            }
            _ => {
                let bytes = rewrite_zip(&ods, |name, mut content| {
                    if name == "content.xml" {
                        mutate(&mut content, &mut rand);
                    }
                    content
                });
                (bytes, FileKind::Ods)
            }
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let input = bytes.clone();
        std::thread::spawn(move || {
            let _ = parse_all(&input, kind);
            let _ = tx.send(());
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let path = std::env::temp_dir().join("kpix-fuzz-hang.bin");
            std::fs::write(&path, &bytes).unwrap();
            panic!(
                "iteration {i} ({kind}) hung or panicked; input in {}",
                path.display()
            );
        }
    }
}
