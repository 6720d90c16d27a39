//! The checks an XLS file (OLE compound file, BIFF records) must pass before calamine opens it.
//!
//! calamine reads XLS eagerly: it follows sector chains without cycle detection, reserves
//! cells from the declared sheet dimensions and materializes each sheet's bounding box.
//! This module walks the same structures the same way, bounded, and refuses what would
//! loop or allocate without limit.

use super::{Limits, ParseError, human_bytes};

const MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const ENDOFCHAIN: u32 = 0xFFFF_FFFE;
const RESERVED_SECTORS: u32 = 0xFFFF_FFFA;
const DIFSECT: u32 = 0xFFFF_FFFC;
const MINI_SECTOR: usize = 64;
const MINI_STREAM_CUTOFF: usize = 4096;

/// calamine's in-memory cell (`Cell<Data>`) is about this size; used for the memory estimate.
const CELL_BYTES: u64 = 48;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn corrupt(what: &str) -> ParseError {
    ParseError::Malformed(format!("this XLS file is damaged ({what})"))
}

/// Validates the compound file and the workbook stream of an XLS file.
pub(crate) fn check_xls(bytes: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let cfb = Cfb::open(bytes)?;
    let names: Vec<String> = cfb.entries.iter().map(|e| e.name.to_lowercase()).collect();
    if names
        .iter()
        .any(|n| n == "encryptedpackage" || n == "encryptioninfo")
    {
        return Err(ParseError::Encrypted);
    }
    let workbook = cfb
        .entries
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case("Workbook"))
        .or_else(|| {
            cfb.entries
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case("Book"))
        })
        .ok_or(ParseError::NotASpreadsheet)?;
    let stream = cfb.stream(workbook)?;
    check_biff(&stream, limits)
}

struct Entry {
    name: String,
    start: u32,
    len: u64,
}

struct Cfb<'a> {
    bytes: &'a [u8],
    sector_size: usize,
    /// Offset of sector 0 (the header occupies one sector).
    base: usize,
    max_id: u32,
    fat: Vec<u32>,
    entries: Vec<Entry>,
    mini_stream: Vec<u8>,
    mini_fat: Vec<u32>,
}

impl<'a> Cfb<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self, ParseError> {
        if bytes.len() < 512 || !bytes.starts_with(MAGIC) {
            return Err(ParseError::NotASpreadsheet);
        }
        let sector_size = match u16_at(bytes, 30) {
            Some(9) => 512,
            Some(12) => 4096,
            _ => return Err(corrupt("invalid sector size")),
        };
        if u16_at(bytes, 32) != Some(6) {
            return Err(corrupt("invalid mini sector size"));
        }
        let field = |at| u32_at(bytes, at).ok_or_else(|| corrupt("short header"));
        let dir_start = field(48)?;
        let mini_fat_start = field(60)?;
        let mini_fat_len = field(64)? as usize;
        let difat_start = field(68)?;
        let max_id = u32::try_from(bytes.len() / sector_size).unwrap_or(u32::MAX);
        let mut cfb = Cfb {
            bytes,
            sector_size,
            base: sector_size,
            max_id,
            fat: Vec::new(),
            entries: Vec::new(),
            mini_stream: Vec::new(),
            mini_fat: Vec::new(),
        };

        // DIFAT: 109 entries in the header, then a chain of DIFAT sectors whose last
        // entry links to the next one (as calamine reads it).
        let mut difat: Vec<u32> = (0..109).filter_map(|i| u32_at(bytes, 76 + 4 * i)).collect();
        let mut visited = Visited::new(max_id);
        let mut id = difat_start;
        while id < RESERVED_SECTORS {
            visited.visit(id)?;
            let sector = cfb.sector(id)?;
            difat.extend(sector.chunks_exact(4).filter_map(|c| u32_at(c, 0)));
            id = difat.pop().ok_or_else(|| corrupt("empty DIFAT sector"))?;
        }
        let fat_sectors: Vec<u32> = difat.into_iter().filter(|&id| id < DIFSECT).collect();
        if fat_sectors.len() > max_id as usize + 1 {
            return Err(corrupt("more allocation sectors than the file holds"));
        }
        let mut fat = Vec::new();
        for id in fat_sectors {
            let sector = cfb.sector(id)?;
            fat.extend(sector.chunks_exact(4).filter_map(|c| u32_at(c, 0)));
        }
        cfb.fat = fat;

        let dir = cfb.chain(dir_start, usize::MAX)?;
        cfb.entries = dir
            .chunks_exact(128)
            .map(|d| {
                let units: Vec<u16> = d[..64]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .take_while(|&u| u != 0)
                    .collect();
                let len = if sector_size == 512 {
                    u64::from(u32_at(d, 120).unwrap_or(0))
                } else {
                    u64_at(d, 120).unwrap_or(0)
                };
                Entry {
                    name: String::from_utf16_lossy(&units),
                    start: u32_at(d, 116).unwrap_or(ENDOFCHAIN),
                    len,
                }
            })
            .collect();
        let root = cfb
            .entries
            .first()
            .ok_or_else(|| corrupt("no root directory"))?;
        if mini_fat_len > 0 {
            let (root_start, root_len) =
                (root.start, usize::try_from(root.len).unwrap_or(usize::MAX));
            cfb.mini_stream = cfb.chain(root_start, root_len)?;
            let mini_fat_bytes =
                cfb.chain(mini_fat_start, mini_fat_len.saturating_mul(sector_size))?;
            cfb.mini_fat = mini_fat_bytes
                .chunks_exact(4)
                .filter_map(|c| u32_at(c, 0))
                .collect();
        }
        Ok(cfb)
    }

    /// Sector `id`, possibly short at the end of the file.
    fn sector(&self, id: u32) -> Result<&'a [u8], ParseError> {
        if id > self.max_id {
            return Err(corrupt("a sector points past the end of the file"));
        }
        let start = self.base + id as usize * self.sector_size;
        let end = (start + self.sector_size).min(self.bytes.len());
        Ok(self.bytes.get(start..end).unwrap_or_default())
    }

    /// Follows a FAT chain, refusing loops, up to `len` bytes.
    fn chain(&self, start: u32, len: usize) -> Result<Vec<u8>, ParseError> {
        let mut out = Vec::new();
        let mut visited = Visited::new(self.max_id);
        let mut id = start;
        while id != ENDOFCHAIN && out.len() < len {
            visited.visit(id)?;
            let sector = self.sector(id)?;
            let take = sector.len().min(len - out.len());
            out.extend_from_slice(&sector[..take]);
            if out.len() >= len {
                break;
            }
            id = *self
                .fat
                .get(id as usize)
                .ok_or_else(|| corrupt("a sector chain leaves the allocation table"))?;
        }
        Ok(out)
    }

    /// Follows a mini FAT chain inside the mini stream.
    fn mini_chain(&self, start: u32, len: usize) -> Result<Vec<u8>, ParseError> {
        let mut out = Vec::new();
        let max_id = u32::try_from(self.mini_stream.len() / MINI_SECTOR).unwrap_or(u32::MAX);
        let mut visited = Visited::new(max_id);
        let mut id = start;
        while id != ENDOFCHAIN && out.len() < len {
            visited.visit(id)?;
            let at = id as usize * MINI_SECTOR;
            let sector = self
                .mini_stream
                .get(at..(at + MINI_SECTOR).min(self.mini_stream.len()))
                .ok_or_else(|| corrupt("a mini sector points past the mini stream"))?;
            let take = sector.len().min(len - out.len());
            out.extend_from_slice(&sector[..take]);
            if out.len() >= len {
                break;
            }
            id = *self
                .mini_fat
                .get(id as usize)
                .ok_or_else(|| corrupt("a mini sector chain leaves its table"))?;
        }
        Ok(out)
    }

    fn stream(&self, entry: &Entry) -> Result<Vec<u8>, ParseError> {
        let len = usize::try_from(entry.len).unwrap_or(usize::MAX);
        if len < MINI_STREAM_CUTOFF {
            self.mini_chain(entry.start, len)
        } else {
            self.chain(entry.start, len)
        }
    }
}

/// Sector ids already followed in one chain.
struct Visited(Vec<bool>);

impl Visited {
    fn new(max_id: u32) -> Self {
        Self(vec![false; max_id as usize + 1])
    }

    fn visit(&mut self, id: u32) -> Result<(), ParseError> {
        let seen = self
            .0
            .get_mut(id as usize)
            .ok_or_else(|| corrupt("a sector points past the end of the file"))?;
        if *seen {
            return Err(corrupt("a sector chain loops"));
        }
        *seen = true;
        Ok(())
    }
}

/// One BIFF record with the CONTINUE records that follow it, as calamine groups them.
struct Record<'a> {
    typ: u16,
    data: &'a [u8],
    cont: Vec<&'a [u8]>,
}

/// Iterates records from `stream[pos..]` the way calamine's `RecordIter` does.
struct Records<'a> {
    stream: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let typ = u16_at(self.stream, 0)?;
        let len = usize::from(u16_at(self.stream, 2)?);
        let data = self.stream.get(4..4 + len)?;
        self.stream = &self.stream[4 + len..];
        let mut cont = Vec::new();
        while self.stream.len() > 4 && u16_at(self.stream, 0) == Some(0x003C) {
            let len = usize::from(u16_at(self.stream, 2)?);
            cont.push(self.stream.get(4..4 + len)?);
            self.stream = &self.stream[4 + len..];
        }
        Some(Record { typ, data, cont })
    }
}

/// Bounding box and count of the cells of one sheet.
#[derive(Default)]
struct SheetBox {
    rows: Option<(u32, u32)>,
    cols: Option<(u32, u32)>,
    cells: u64,
}

impl SheetBox {
    fn add(&mut self, row: u32, col_first: u32, col_last: u32) {
        let (r0, r1) = self.rows.unwrap_or((row, row));
        self.rows = Some((r0.min(row), r1.max(row)));
        let (c0, c1) = self.cols.unwrap_or((col_first, col_last));
        self.cols = Some((c0.min(col_first), c1.max(col_last)));
        self.cells += u64::from(col_last - col_first) + 1;
    }

    fn area(&self) -> u64 {
        match (self.rows, self.cols) {
            (Some((r0, r1)), Some((c0, c1))) => {
                (u64::from(r1 - r0) + 1).saturating_mul(u64::from(c1 - c0) + 1)
            }
            _ => 0,
        }
    }
}

/// Walks the workbook globals and every sheet substream like calamine, bounding what it will hold.
fn check_biff(stream: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let mut sheet_offsets = Vec::new();
    let mut sst_sizes: Vec<u64> = Vec::new();
    for record in (Records { stream }) {
        match record.typ {
            0x002F if u16_at(record.data, 0).is_some_and(|v| v != 0) => {
                return Err(ParseError::Encrypted);
            }
            0x0085 => {
                let pos = u32_at(record.data, 0).map_or(usize::MAX, |p| p as usize);
                if pos > stream.len() {
                    return Err(corrupt("a sheet starts past the end of the workbook"));
                }
                sheet_offsets.push(pos);
            }
            0x0809 if record.data.len() < 2 => return Err(corrupt("short BOF record")),
            0x00FC => sst_sizes = sst_string_sizes(&record),
            0x000A => break,
            _ => {}
        }
    }
    if sheet_offsets.len() > 10_000 {
        return Err(ParseError::Hostile(format!(
            "it declares {} sheets",
            sheet_offsets.len()
        )));
    }

    // calamine walks each declared sheet from its offset: offsets pointing at the same data
    // make it walk (and hold) it again, so the walk itself is budgeted.
    let mut walked: u64 = 0;
    let walk_budget = (stream.len() as u64).saturating_mul(4).max(1024 * 1024);
    let mut total_cells: u64 = 0;
    let mut total_bytes: u64 = 0;
    for pos in sheet_offsets {
        let Some(sheet) = stream.get(pos..) else {
            continue;
        };
        let mut bbox = SheetBox::default();
        let mut depth = 0usize;
        let mut seen_bof = false;
        for record in (Records { stream: sheet }) {
            walked += 4 + record.data.len() as u64;
            if walked > walk_budget {
                return Err(ParseError::Hostile(
                    "its sheets overlap each other many times".to_owned(),
                ));
            }
            if depth > 0 {
                match record.typ {
                    0x0809 => depth += 1,
                    0x000A => depth -= 1,
                    _ => {}
                }
                continue;
            }
            let d = record.data;
            let pos_of = |d: &[u8]| Some((u32::from(u16_at(d, 0)?), u32::from(u16_at(d, 2)?)));
            match record.typ {
                0x0809 => {
                    if seen_bof {
                        depth += 1;
                    } else {
                        seen_bof = true;
                    }
                }
                0x0200 => check_dimensions(d, limits)?,
                // Number, Label, RString, BoolErr, Rk, Formula.
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x0006 => {
                    if let Some((row, col)) = pos_of(d) {
                        bbox.add(row, col, col);
                        total_bytes = total_bytes.saturating_add(d.len() as u64 * 4);
                    }
                }
                // LabelSst: the shared string is copied into the cell.
                0x00FD => {
                    if let Some((row, col)) = pos_of(d) {
                        bbox.add(row, col, col);
                        let index = u32_at(d, 6).map_or(usize::MAX, |i| i as usize);
                        let size = sst_sizes.get(index).copied().unwrap_or(0);
                        total_bytes = total_bytes.saturating_add(size);
                    }
                }
                // MulRk: one cell per 6-byte entry from the first column.
                0x00BD => {
                    if let (Some((row, first)), Some(last)) = (
                        pos_of(d),
                        d.len().checked_sub(2).and_then(|at| u16_at(d, at)),
                    ) {
                        let width = usize::from(last.wrapping_sub(first as u16).wrapping_add(1));
                        if width > 0 && d.len() == 6 + 6 * width {
                            bbox.add(row, first, first + width as u32 - 1);
                        }
                    }
                }
                0x000A => break,
                _ => {}
            }
        }
        total_cells = total_cells
            .saturating_add(bbox.area())
            .saturating_add(bbox.cells);
    }
    if total_cells > limits.max_sheet_cells {
        return Err(ParseError::Hostile(format!(
            "its sheets span more than {} cells",
            limits.max_sheet_cells
        )));
    }
    let memory = total_cells
        .saturating_mul(CELL_BYTES)
        .saturating_add(total_bytes);
    if memory > limits.max_uncompressed_bytes.saturating_mul(2) {
        return Err(ParseError::Hostile(format!(
            "reading it would take more than {} of memory",
            human_bytes(limits.max_uncompressed_bytes.saturating_mul(2))
        )));
    }
    Ok(())
}

/// Refuses the sheet dimensions calamine would reserve room for, when absurd or reversed.
fn check_dimensions(d: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let (rf, rl, mut cf, cl) = match d.len() {
        10 => (
            u32::from(u16_at(d, 0).unwrap_or(0)),
            u32::from(u16_at(d, 2).unwrap_or(0)),
            u32::from(u16_at(d, 4).unwrap_or(0)),
            u32::from(u16_at(d, 6).unwrap_or(0)),
        ),
        14 | 16 => (
            u32_at(d, 0).unwrap_or(0),
            u32_at(d, 4).unwrap_or(0),
            u32::from(u16_at(d, 8).unwrap_or(0)),
            u32::from(u16_at(d, 10).unwrap_or(0)),
        ),
        // calamine reports an error for other lengths.
        _ => return Ok(()),
    };
    if cf > 0xFF || cl < cf {
        cf = 0;
    }
    let (rows, cols) = if rl >= 1 && cl >= 1 {
        let (end_row, end_col) = (rl - 1, cl - 1);
        if end_row < rf || end_col < cf {
            return Err(ParseError::Hostile(
                "a sheet declares dimensions that end before they start".to_owned(),
            ));
        }
        (u64::from(end_row - rf) + 1, u64::from(end_col - cf) + 1)
    } else {
        (1, 1)
    };
    let cells = rows.saturating_mul(cols);
    if cells > limits.max_sheet_cells {
        return Err(ParseError::Hostile(format!(
            "a sheet declares {rows} rows × {cols} columns ({cells} cells, limit {})",
            limits.max_sheet_cells
        )));
    }
    Ok(())
}

/// Upper bound of the UTF-8 size of each shared string (SST record and its CONTINUEs).
fn sst_string_sizes(record: &Record<'_>) -> Vec<u64> {
    let mut reader = ContinueReader {
        data: record.data,
        cont: &record.cont,
    };
    let mut sizes = Vec::new();
    if reader.skip(8).is_none() {
        return sizes;
    }
    while let Some(size) = reader.rich_string() {
        sizes.push(size);
    }
    sizes
}

/// Reads across CONTINUE records like calamine's `Record`.
struct ContinueReader<'a, 'b> {
    data: &'a [u8],
    cont: &'b [&'a [u8]],
}

impl ContinueReader<'_, '_> {
    fn next_part(&mut self) -> bool {
        match self.cont.split_first() {
            Some((first, rest)) => {
                self.data = first;
                self.cont = rest;
                true
            }
            None => false,
        }
    }

    fn skip(&mut self, mut len: usize) -> Option<()> {
        while len > 0 {
            if self.data.is_empty() && !self.next_part() {
                return None;
            }
            let n = len.min(self.data.len());
            self.data = &self.data[n..];
            len -= n;
        }
        Some(())
    }

    /// One XLUnicodeRichExtendedString; returns its UTF-8 size bound.
    fn rich_string(&mut self) -> Option<u64> {
        if self.data.is_empty() && !self.next_part() {
            return None;
        }
        let cch = usize::from(u16_at(self.data, 0)?);
        let flags = *self.data.get(2)?;
        self.data = &self.data[3..];
        let runs = if flags & 0x8 != 0 {
            let n = usize::from(u16_at(self.data, 0)?);
            self.data = self.data.get(2..)?;
            n
        } else {
            0
        };
        let ext = if flags & 0x4 != 0 {
            let n = u32_at(self.data, 0)? as usize;
            self.data = self.data.get(4..)?;
            n
        } else {
            0
        };
        let mut high = flags & 0x1 != 0;
        let mut left = cch;
        while left > 0 {
            let width = if high { 2 } else { 1 };
            let here = (self.data.len() / width).min(left);
            self.data = &self.data[here * width..];
            left -= here;
            if left > 0 {
                if !self.next_part() {
                    return None;
                }
                high = self.data.first()? & 0x1 != 0;
                self.data = &self.data[1..];
            }
        }
        self.skip(runs * 4)?;
        self.skip(ext)?;
        Some(cch as u64 * 3 + 24)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut out = typ.to_le_bytes().to_vec();
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn dimensions(rf: u32, rl: u32, cf: u16, cl: u16) -> Vec<u8> {
        let mut d = rf.to_le_bytes().to_vec();
        d.extend_from_slice(&rl.to_le_bytes());
        d.extend_from_slice(&cf.to_le_bytes());
        d.extend_from_slice(&cl.to_le_bytes());
        d.extend_from_slice(&[0, 0]);
        record(0x0200, &d)
    }

    fn number(row: u16, col: u16) -> Vec<u8> {
        let mut d = row.to_le_bytes().to_vec();
        d.extend_from_slice(&col.to_le_bytes());
        d.extend_from_slice(&[0; 10]);
        record(0x0203, &d)
    }

    /// Globals with one BoundSheet pointing right after them, then the sheet.
    fn workbook(sheet_records: &[Vec<u8>]) -> Vec<u8> {
        let bof = record(0x0809, &[0x00, 0x06, 0x05, 0x00]);
        let eof = record(0x000A, &[]);
        let mut bs = vec![0u8; 4];
        bs.extend_from_slice(&[0, 0, 2, 0]);
        bs.extend_from_slice(b"S1");
        let sheet_pos = (bof.len() + 4 + bs.len() + eof.len()) as u32;
        bs[..4].copy_from_slice(&sheet_pos.to_le_bytes());
        let mut out = bof.clone();
        out.extend(record(0x0085, &bs));
        out.extend(&eof);
        out.extend(record(0x0809, &[0x00, 0x06, 0x10, 0x00]));
        for r in sheet_records {
            out.extend(r);
        }
        out.extend(eof);
        out
    }

    #[test]
    fn accepts_a_small_sheet() {
        let wb = workbook(&[dimensions(0, 3, 0, 3), number(0, 0), number(2, 2)]);
        assert!(check_biff(&wb, &Limits::default()).is_ok());
    }

    #[test]
    fn refuses_absurd_or_reversed_dimensions() {
        let wb = workbook(&[dimensions(0, 1_048_576, 0, 256)]);
        assert!(matches!(
            check_biff(&wb, &Limits::default()),
            Err(ParseError::Hostile(_))
        ));
        let wb = workbook(&[dimensions(10, 5, 0, 3)]);
        assert!(matches!(
            check_biff(&wb, &Limits::default()),
            Err(ParseError::Hostile(_))
        ));
    }

    #[test]
    fn refuses_sparse_cells_spanning_the_sheet() {
        let wb = workbook(&[number(0, 0), number(65_535, 255)]);
        let limits = Limits {
            max_sheet_cells: 1_000_000,
            ..Limits::default()
        };
        assert!(matches!(
            check_biff(&wb, &limits),
            Err(ParseError::Hostile(_))
        ));
    }

    #[test]
    fn refuses_encrypted_workbooks() {
        let mut wb = record(0x0809, &[0x00, 0x06, 0x05, 0x00]);
        wb.extend(record(0x002F, &[1, 0, 0, 0]));
        assert!(matches!(
            check_biff(&wb, &Limits::default()),
            Err(ParseError::Encrypted)
        ));
    }

    #[test]
    fn refuses_junk_and_loops() {
        assert!(matches!(
            check_xls(b"not ole", &Limits::default()),
            Err(ParseError::NotASpreadsheet)
        ));
        // A header whose directory chain points to itself through the FAT.
        let mut file = vec![0u8; 512 * 3];
        file[..8].copy_from_slice(MAGIC);
        file[30..32].copy_from_slice(&9u16.to_le_bytes());
        file[32..34].copy_from_slice(&6u16.to_le_bytes());
        file[48..52].copy_from_slice(&1u32.to_le_bytes()); // directory at sector 1
        file[68..72].copy_from_slice(&ENDOFCHAIN.to_le_bytes());
        file[76..80].copy_from_slice(&0u32.to_le_bytes()); // FAT in sector 0
        for i in 1..109 {
            file[76 + 4 * i..80 + 4 * i].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        // FAT: sector 1 → sector 1.
        file[512 + 4..512 + 8].copy_from_slice(&1u32.to_le_bytes());
        let err = check_xls(&file, &Limits::default()).err().unwrap();
        assert!(err.to_string().contains("loops"), "{err}");
    }
}
