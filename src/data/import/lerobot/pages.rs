//! The page headers of a parquet column chunk, read before the parquet reader decodes it: a page
//! that claims to inflate to more than its compressed bytes could (the reader reserves the
//! claimed size up front, up to 2 GiB per page) is refused, so a small damaged or hostile file
//! cannot make the import ask for gigabytes.
//!
//! Page headers are Thrift structs in the compact protocol; this reads fields 2
//! (`uncompressed_page_size`) and 3 (`compressed_page_size`) and skips the rest.

use crate::data::import::{MAX_INFLATION, MIN_READ_LIMIT};

/// Nesting of Thrift structs and lists beyond which a header counts as damaged (a real page
/// header nests three deep).
const MAX_DEPTH: usize = 16;

/// Walks the pages of the column chunk `bytes[start..start + len]`; the error says which page
/// is damaged or claims too much (the caller adds the file and column).
pub(super) fn check_pages(bytes: &[u8], start: usize, len: usize) -> Result<(), String> {
    let end = start.checked_add(len).filter(|&e| e <= bytes.len()).ok_or("column chunk outside the file")?;
    let mut pos = start;
    while pos < end {
        let mut reader = Compact { bytes: &bytes[..end], pos };
        let (uncompressed, compressed) =
            reader.page_sizes().ok_or_else(|| format!("damaged page header at byte {pos}"))?;
        let (Ok(uncompressed), Ok(compressed)) = (u64::try_from(uncompressed), u64::try_from(compressed)) else {
            return Err(format!("page at byte {pos}: negative size"));
        };
        if uncompressed > compressed.saturating_mul(MAX_INFLATION).max(MIN_READ_LIMIT) {
            return Err(format!(
                "page at byte {pos} claims {uncompressed} bytes uncompressed from {compressed} compressed bytes, \
                 more than they could hold"
            ));
        }
        pos = usize::try_from(compressed).ok().and_then(|c| reader.pos.checked_add(c)).ok_or("page size overflows")?;
    }
    Ok(())
}

/// A reader of the Thrift compact protocol over `bytes`, from `pos`. Every method returns
/// `None` at the end of the bytes or on a value that cannot be.
struct Compact<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn advance(&mut self, n: u64) -> Option<()> {
        let end = self.pos.checked_add(usize::try_from(n).ok()?)?;
        (end <= self.bytes.len()).then(|| self.pos = end)
    }

    /// The two sizes of a `PageHeader` struct, the reader left after it.
    fn page_sizes(&mut self) -> Option<(i64, i64)> {
        let (mut uncompressed, mut compressed) = (None, None);
        self.fields(0, |r, id, kind| {
            match (id, kind) {
                (2, 5) => uncompressed = Some(r.zigzag()?),
                (3, 5) => compressed = Some(r.zigzag()?),
                _ => r.skip(kind, 1)?,
            }
            Some(())
        })?;
        Some((uncompressed?, compressed?))
    }

    /// Reads a struct's fields up to its stop byte, handing each (id, type) to `field`.
    fn fields(&mut self, depth: usize, mut field: impl FnMut(&mut Self, i16, u8) -> Option<()>) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut last = 0i16;
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Some(());
            }
            let (delta, kind) = (header >> 4, header & 0x0f);
            let id = if delta == 0 { i16::try_from(self.zigzag()?).ok()? } else { last.checked_add(i16::from(delta))? };
            last = id;
            field(self, id, kind)?;
        }
    }

    /// A collection's element count, if the bytes left could hold that many elements (each takes
    /// one byte at least): a damaged count cannot make the walk loop for long.
    fn count(&self, n: u64) -> Option<u64> {
        (n <= (self.bytes.len() - self.pos) as u64).then_some(n)
    }

    /// Skips an element of a list, set or map of compact type `kind` (booleans there are a byte).
    fn element(&mut self, kind: u8, depth: usize) -> Option<()> {
        if matches!(kind, 1 | 2) { self.byte().map(drop) } else { self.skip(kind, depth) }
    }

    /// Skips a value of compact type `kind` (in a field: booleans carry their value in the type).
    fn skip(&mut self, kind: u8, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match kind {
            1 | 2 => Some(()),
            3 => self.byte().map(drop),
            4..=6 => self.zigzag().map(drop),
            7 => self.advance(8),
            8 => {
                let n = self.varint()?;
                self.advance(n)
            }
            9 | 10 => {
                let header = self.byte()?;
                let (short, element) = (header >> 4, header & 0x0f);
                let n = if short == 15 { self.varint()? } else { u64::from(short) };
                for _ in 0..self.count(n)? {
                    self.element(element, depth + 1)?;
                }
                Some(())
            }
            11 => {
                let n = self.varint()?;
                if n > 0 {
                    let types = self.byte()?;
                    for _ in 0..self.count(n)? {
                        self.element(types >> 4, depth + 1)?;
                        self.element(types & 0x0f, depth + 1)?;
                    }
                }
                Some(())
            }
            12 => self.fields(depth + 1, |r, _, kind| r.skip(kind, depth + 1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page header whose first field is a map of 2⁶³ − 1 boolean pairs (it would be walked
    /// for ever if its elements took no bytes) is damaged, found at once.
    #[test]
    fn a_huge_collection_count_is_refused_at_once() {
        let header = [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x11, 0x00];
        let mut bytes = header.to_vec();
        bytes.extend([0u8; 64]);
        let e = check_pages(&bytes, 0, bytes.len()).unwrap_err();
        assert!(e.contains("damaged page header at byte 0"), "{e}");
    }

    /// Random bytes never panic (nor loop: a walk that did would hang this test).
    #[test]
    fn random_headers_are_refused_or_walked() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..48)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = check_pages(&bytes, 0, bytes.len());
        }
    }
}
