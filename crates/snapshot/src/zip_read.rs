//! Reading a ZIP archive from a file: the central directory (ZIP64 included), then one entry at
//! a time as a stream, stored (method 0) or deflated (method 8), its CRC-32 checked at the end.
//! An entry never yields more bytes than its directory record declares, so a crafted archive
//! cannot inflate past what it admits to.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use miniz_oxide::inflate::stream::{InflateState, inflate};
use miniz_oxide::{DataFormat, MZFlush, MZStatus};

use crate::crc32::Crc32;
use crate::error::SnapshotError;

/// Most entries an archive may hold.
pub const MAX_ARCHIVE_ENTRIES: usize = 100_000;
const MAX_NAME: usize = 1024;

/// One entry of the central directory.
#[derive(Clone, Debug)]
pub struct ZipEntryInfo {
    /// Its path inside the archive.
    pub name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    /// Uncompressed size, as declared.
    pub size: u64,
    offset: u64,
}

/// An archive open for reading.
pub struct ZipReader {
    file: File,
    entries: Vec<ZipEntryInfo>,
}

fn bad(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Archive(what.into())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl ZipReader {
    /// Opens `file` and reads its central directory.
    pub fn open(mut file: File) -> Result<ZipReader, SnapshotError> {
        let len = file.seek(SeekFrom::End(0))?;
        let tail_len = len.min(22 + 65_535);
        file.seek(SeekFrom::Start(len - tail_len))?;
        let mut tail = vec![0u8; tail_len as usize];
        file.read_exact(&mut tail)?;
        let eocd = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(&tail, i) == 0x0605_4b50)
            .ok_or_else(|| bad("not a ZIP archive (no end of central directory record)"))?;
        let mut count = u64::from(u16_at(&tail, eocd + 10));
        let mut cd_size = u64::from(u32_at(&tail, eocd + 12));
        let mut cd_offset = u64::from(u32_at(&tail, eocd + 16));
        let eocd_pos = len - tail_len + eocd as u64;
        if (count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF) && eocd_pos >= 20
        {
            // ZIP64: the locator sits right before the end record.
            let mut loc = [0u8; 20];
            file.seek(SeekFrom::Start(eocd_pos - 20))?;
            file.read_exact(&mut loc)?;
            if u32_at(&loc, 0) == 0x0706_4b50 {
                let mut rec = [0u8; 56];
                file.seek(SeekFrom::Start(u64_at(&loc, 8)))?;
                file.read_exact(&mut rec)?;
                if u32_at(&rec, 0) != 0x0606_4b50 {
                    return Err(bad("broken ZIP64 end of central directory record"));
                }
                count = u64_at(&rec, 32);
                cd_size = u64_at(&rec, 40);
                cd_offset = u64_at(&rec, 48);
            }
        }
        if count > MAX_ARCHIVE_ENTRIES as u64 {
            return Err(SnapshotError::TooLarge(format!(
                "the archive has {count} entries; at most {MAX_ARCHIVE_ENTRIES} are read"
            )));
        }
        if cd_offset.saturating_add(cd_size) > len || cd_size > 64 << 20 {
            return Err(bad("the central directory lies outside the file"));
        }
        file.seek(SeekFrom::Start(cd_offset))?;
        let mut cd = vec![0u8; cd_size as usize];
        file.read_exact(&mut cd)?;
        let mut entries = Vec::with_capacity(count as usize);
        let mut at = 0usize;
        for _ in 0..count {
            if at + 46 > cd.len() || u32_at(&cd, at) != 0x0201_4b50 {
                return Err(bad("broken central directory"));
            }
            let name_len = usize::from(u16_at(&cd, at + 28));
            let extra_len = usize::from(u16_at(&cd, at + 30));
            let comment_len = usize::from(u16_at(&cd, at + 32));
            let end = at + 46 + name_len + extra_len + comment_len;
            if end > cd.len() || name_len > MAX_NAME {
                return Err(bad("broken central directory entry"));
            }
            let name = String::from_utf8_lossy(&cd[at + 46..at + 46 + name_len]).into_owned();
            let mut info = ZipEntryInfo {
                method: u16_at(&cd, at + 10),
                flags: u16_at(&cd, at + 8),
                crc: u32_at(&cd, at + 16),
                compressed: u64::from(u32_at(&cd, at + 20)),
                size: u64::from(u32_at(&cd, at + 24)),
                offset: u64::from(u32_at(&cd, at + 42)),
                name,
            };
            read_zip64_extra(
                &cd[at + 46 + name_len..at + 46 + name_len + extra_len],
                &mut info,
            );
            entries.push(info);
            at = end;
        }
        Ok(ZipReader { file, entries })
    }

    /// The entries, in directory order.
    pub fn entries(&self) -> &[ZipEntryInfo] {
        &self.entries
    }

    /// The entry called `name`, if any.
    pub fn find(&self, name: &str) -> Option<&ZipEntryInfo> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// A stream of `entry`'s uncompressed bytes.
    pub fn open_entry(&self, entry: &ZipEntryInfo) -> Result<EntryReader, SnapshotError> {
        if entry.flags & 1 != 0 {
            return Err(bad(format!("{} is encrypted", entry.name)));
        }
        if entry.method != 0 && entry.method != 8 {
            return Err(bad(format!(
                "{} uses compression method {}; only stored (0) and deflate (8) are read",
                entry.name, entry.method
            )));
        }
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(entry.offset))?;
        let mut header = [0u8; 30];
        file.read_exact(&mut header)?;
        if u32_at(&header, 0) != 0x0403_4b50 {
            return Err(bad(format!("broken local header of {}", entry.name)));
        }
        let skip = i64::from(u16_at(&header, 26)) + i64::from(u16_at(&header, 28));
        file.seek(SeekFrom::Current(skip))?;
        let raw = BufReader::with_capacity(64 * 1024, file).take(entry.compressed);
        Ok(EntryReader {
            name: entry.name.clone(),
            raw,
            inflate: (entry.method == 8).then(|| InflateState::new_boxed(DataFormat::Raw)),
            input: vec![0; 64 * 1024],
            pos: 0,
            end: 0,
            done: false,
            crc: Crc32::default(),
            expect_crc: entry.crc,
            remaining: entry.size,
        })
    }
}

fn read_zip64_extra(mut extra: &[u8], info: &mut ZipEntryInfo) {
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let len = usize::from(u16_at(extra, 2));
        let Some(body) = extra.get(4..4 + len) else {
            return;
        };
        if id == 0x0001 {
            let mut at = 0;
            for field in [&mut info.size, &mut info.compressed, &mut info.offset] {
                if *field == 0xFFFF_FFFF && at + 8 <= body.len() {
                    *field = u64_at(body, at);
                    at += 8;
                }
            }
        }
        extra = &extra[4 + len..];
    }
}

/// One entry's bytes.
pub struct EntryReader {
    name: String,
    raw: io::Take<BufReader<File>>,
    inflate: Option<Box<InflateState>>,
    input: Vec<u8>,
    pos: usize,
    end: usize,
    done: bool,
    crc: Crc32,
    expect_crc: u32,
    remaining: u64,
}

impl EntryReader {
    fn finish(&mut self) -> io::Result<usize> {
        if !self.done {
            self.done = true;
            if self.remaining != 0 {
                return Err(io::Error::other(format!("{} is truncated", self.name)));
            }
            if self.crc.value() != self.expect_crc {
                return Err(io::Error::other(format!(
                    "{} fails its CRC-32 check",
                    self.name
                )));
            }
        }
        Ok(0)
    }

    fn account(&mut self, out: &[u8]) -> io::Result<usize> {
        if out.len() as u64 > self.remaining {
            return Err(io::Error::other(format!(
                "{} holds more bytes than its directory entry declares",
                self.name
            )));
        }
        self.remaining -= out.len() as u64;
        self.crc.update(out);
        Ok(out.len())
    }
}

impl Read for EntryReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let Some(state) = self.inflate.as_mut() else {
            let n = self.raw.read(buf)?;
            if n == 0 {
                return self.finish();
            }
            return self.account(&buf[..n]);
        };
        loop {
            if self.pos == self.end {
                self.end = self.raw.read(&mut self.input)?;
                self.pos = 0;
            }
            let eof = self.end == 0;
            let result = inflate(
                state,
                &self.input[self.pos..self.end],
                buf,
                if eof { MZFlush::Finish } else { MZFlush::None },
            );
            self.pos += result.bytes_consumed;
            let written = result.bytes_written;
            match result.status {
                Ok(MZStatus::StreamEnd) => {
                    if written > 0 {
                        return self.account(&buf[..written]);
                    }
                    return self.finish();
                }
                Ok(_) if written > 0 => return self.account(&buf[..written]),
                Ok(_) if eof => {
                    return Err(io::Error::other(format!("{} is truncated", self.name)));
                }
                Ok(_) => {}
                Err(_) if eof && written == 0 => {
                    return Err(io::Error::other(format!("{} is truncated", self.name)));
                }
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "{} is not valid deflate data ({e:?})",
                        self.name
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read, Write};

    use super::ZipReader;
    use crate::zip_write::ZipWriter;

    #[test]
    fn what_is_written_reads_back_and_damage_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        let big: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        {
            let mut zip = ZipWriter::new(std::fs::File::create(&path).unwrap());
            let mut e = zip.entry("_tables/documents.jsonl").unwrap();
            e.write_all(b"{\"name\":\"t\",\"id\":10001}\n").unwrap();
            e.finish().unwrap();
            let e = zip.entry("empty").unwrap();
            e.finish().unwrap();
            let mut e = zip.entry("t/documents.jsonl").unwrap();
            for chunk in big.chunks(10_000) {
                e.write_all(chunk).unwrap();
            }
            e.finish().unwrap();
            zip.finish().unwrap();
        }
        let zip = ZipReader::open(std::fs::File::open(&path).unwrap()).unwrap();
        let names: Vec<_> = zip.entries().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["_tables/documents.jsonl", "empty", "t/documents.jsonl"]
        );
        let mut out = Vec::new();
        let e = zip.find("t/documents.jsonl").unwrap();
        zip.open_entry(e).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, big);
        let mut out = String::new();
        let e = zip.find("_tables/documents.jsonl").unwrap();
        zip.open_entry(e).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "{\"name\":\"t\",\"id\":10001}\n");
        let mut out = Vec::new();
        zip.open_entry(zip.find("empty").unwrap())
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert!(out.is_empty());

        // Flip a byte inside the big entry's data: deflate or the CRC must notice.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x55;
        std::fs::write(&path, &bytes).unwrap();
        let zip = ZipReader::open(std::fs::File::open(&path).unwrap()).unwrap();
        let e = zip.find("t/documents.jsonl").unwrap();
        let err = zip
            .open_entry(e)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("t/documents.jsonl"), "{err}");

        // Not a ZIP at all.
        std::fs::write(&path, b"hello").unwrap();
        let err = ZipReader::open(std::fs::File::open(&path).unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a ZIP"), "{err}");
    }
}
