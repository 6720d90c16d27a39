//! What kind of file an upload is, from its first bytes: the API sorts
//! uploads into job types with it and the worker picks its parser with it,
//! so both read a file the same way.
use std::fmt;
use std::io::{Cursor, Read};

use zip::ZipArchive;

use crate::domain::ImportType;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const EMPTY_ZIP_MAGIC: &[u8] = b"PK\x05\x06";
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const ODS_MIMETYPE: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";
/// Bytes checked for control bytes when deciding whether content is text.
pub const TEXT_CHECK_BYTES: usize = 8 * 1024;

/// The formats the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Csv,
    Xlsx,
    Xls,
    Ods,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "CSV",
            Self::Xlsx => "XLSX",
            Self::Xls => "XLS",
            Self::Ods => "ODS",
        })
    }
}

impl FileKind {
    /// The import job type of a file of this kind.
    pub fn import_type(self) -> ImportType {
        match self {
            Self::Csv => ImportType::Csv,
            Self::Xlsx | Self::Xls | Self::Ods => ImportType::Excel,
        }
    }
}

/// Sniffs the kind of a file from its content (the whole file or at least
/// its first 8 KiB). The file name is only a hint, used when the content is
/// ambiguous (a zip whose directory is not in `head`).
pub fn detect(head: &[u8], filename: Option<&str>) -> Option<FileKind> {
    if head.starts_with(ZIP_MAGIC) || head.starts_with(EMPTY_ZIP_MAGIC) {
        return zip_kind(head, filename);
    }
    if head.starts_with(OLE_MAGIC) {
        return Some(FileKind::Xls);
    }
    if head.starts_with(b"\xEF\xBB\xBF")
        || head.starts_with(b"\xFF\xFE")
        || head.starts_with(b"\xFE\xFF")
    {
        return Some(FileKind::Csv);
    }
    if looks_like_text(&head[..head.len().min(TEXT_CHECK_BYTES)]) {
        return Some(FileKind::Csv);
    }
    None
}

fn extension_kind(filename: Option<&str>) -> Option<FileKind> {
    let ext = filename?.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" => Some(FileKind::Xlsx),
        "ods" => Some(FileKind::Ods),
        _ => None,
    }
}

/// Which spreadsheet a zip holds: from its directory when `head` is the whole file,
/// else from the local headers in `head`, else from the file name.
fn zip_kind(head: &[u8], filename: Option<&str>) -> Option<FileKind> {
    if let Ok(mut zip) = ZipArchive::new(Cursor::new(head)) {
        if zip.index_for_name("xl/workbook.xml").is_some() {
            return Some(FileKind::Xlsx);
        }
        if let Ok(entry) = zip.by_name("mimetype") {
            let mut mime = Vec::new();
            if entry
                .take(ODS_MIMETYPE.len() as u64 + 16)
                .read_to_end(&mut mime)
                .is_ok()
                && mime.trim_ascii() == ODS_MIMETYPE
            {
                return Some(FileKind::Ods);
            }
        }
        return None;
    }
    let mut saw_ooxml = false;
    for name in local_header_names(head) {
        match name {
            LocalEntry::Named(name) if name.starts_with(b"xl/") => return Some(FileKind::Xlsx),
            LocalEntry::Named(b"[Content_Types].xml") => saw_ooxml = true,
            LocalEntry::Mimetype(content) if content.starts_with(ODS_MIMETYPE) => {
                return Some(FileKind::Ods);
            }
            _ => {}
        }
    }
    // A zip we cannot open whole (truncated, or only its start given): trust the name,
    // else an OOXML package is most likely a workbook; parsing will say if it is not.
    extension_kind(filename).or(saw_ooxml.then_some(FileKind::Xlsx))
}

enum LocalEntry<'a> {
    Named(&'a [u8]),
    /// The stored `mimetype` entry of an OpenDocument file, with its content.
    Mimetype(&'a [u8]),
}

/// Walks the local file headers present in `head`.
fn local_header_names(head: &[u8]) -> Vec<LocalEntry<'_>> {
    let u16_at = |at: usize| {
        head.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut out = Vec::new();
    let mut at = 0usize;
    while head.get(at..at + 4) == Some(ZIP_MAGIC) && out.len() < 64 {
        let (Some(flags), Some(method), Some(csize), Some(name_len), Some(extra_len)) = (
            u16_at(at + 6),
            u16_at(at + 8),
            u32_at(at + 18),
            u16_at(at + 26),
            u16_at(at + 28),
        ) else {
            break;
        };
        let name_start = at + 30;
        let data_start = name_start + usize::from(name_len) + usize::from(extra_len);
        let Some(name) = head.get(name_start..name_start + usize::from(name_len)) else {
            break;
        };
        if name == b"mimetype" && method == 0 {
            let end = (data_start + csize as usize).min(head.len());
            out.push(LocalEntry::Mimetype(
                head.get(data_start..end).unwrap_or_default(),
            ));
        } else {
            out.push(LocalEntry::Named(name));
        }
        // Sizes come after the data when bit 3 is set: the next header cannot be located.
        if flags & 0x08 != 0 {
            break;
        }
        at = data_start + csize as usize;
    }
    out
}

/// Valid UTF-8, allowing a sequence cut at the end of the buffer.
pub fn is_utf8_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Text as a spreadsheet program writes it: no NUL or other control bytes, and
/// either UTF-8 or bytes that Windows-1252 defines.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    let controls_ok = bytes
        .iter()
        .all(|&b| b >= 0x20 && b != 0x7F || matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1A));
    if !controls_ok {
        return false;
    }
    is_utf8_prefix(bytes)
        || !bytes
            .iter()
            .any(|b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_kinds() {
        assert_eq!(detect(b"kpi;period;value\r\n", None), Some(FileKind::Csv));
        assert_eq!(detect(b"", Some("x.csv")), Some(FileKind::Csv));
        assert_eq!(detect(OLE_MAGIC, None), Some(FileKind::Xls));
        assert_eq!(detect(b"\x00\x01\x02binary", Some("x.csv")), None);
        assert_eq!(
            detect(b"PK\x03\x04garbage", Some("book.xlsx")),
            Some(FileKind::Xlsx)
        );
        assert_eq!(
            detect(b"PK\x03\x04garbage", Some("book.ods")),
            Some(FileKind::Ods)
        );
        assert_eq!(detect(b"PK\x03\x04garbage", Some("book.csv")), None);
    }
}
