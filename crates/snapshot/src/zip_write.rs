//! Writing a ZIP archive as a stream: each entry is deflated as it is written (raw DEFLATE,
//! method 8) with a data descriptor after it, so nothing is held in memory but the
//! compressor's window and the central directory. Entries and the archive must stay below
//! 4 GiB and 65,535 entries (no ZIP64 on write); passing that is an error, never a broken file.

use std::io::{self, Write};

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params,
};

use crate::crc32::Crc32;
use crate::error::SnapshotError;

/// Compression level: fast, JSON lines still shrink several times.
const LEVEL: i32 = 1;
const CHUNK: usize = 64 * 1024;
/// DOS date 1980-01-01 (entries carry no wall-clock time).
const DOS_DATE: u16 = (1 << 5) | 1;
/// Data descriptor follows (bit 3) and the name is UTF-8 (bit 11).
const FLAGS: u16 = (1 << 3) | (1 << 11);
const MAX_ENTRIES: usize = 65_535;

struct Central {
    name: String,
    crc: u32,
    compressed: u32,
    size: u32,
    offset: u32,
}

/// A ZIP archive being written to `W`.
pub struct ZipWriter<W: Write> {
    out: W,
    offset: u64,
    entries: Vec<Central>,
}

fn u32_of(n: u64, what: &str) -> Result<u32, SnapshotError> {
    u32::try_from(n).map_err(|_| {
        SnapshotError::TooLarge(format!(
            "{what} passes 4 GiB, which this ZIP writer does not support (no ZIP64)"
        ))
    })
}

impl<W: Write> ZipWriter<W> {
    /// An empty archive on `out`.
    pub fn new(out: W) -> ZipWriter<W> {
        ZipWriter {
            out,
            offset: 0,
            entries: Vec::new(),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Starts entry `name`; write its bytes to the returned writer and call
    /// [`ZipEntry::finish`].
    pub fn entry(&mut self, name: &str) -> Result<ZipEntry<'_, W>, SnapshotError> {
        if self.entries.len() >= MAX_ENTRIES {
            return Err(SnapshotError::TooLarge(format!(
                "an archive holds at most {MAX_ENTRIES} entries"
            )));
        }
        let offset = u32_of(self.offset, "the archive")?;
        let name_len = u16::try_from(name.len())
            .map_err(|_| SnapshotError::TooLarge(format!("entry name {name:?} is too long")))?;
        let mut header = Vec::with_capacity(30 + name.len());
        header.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        header.extend_from_slice(&20u16.to_le_bytes());
        header.extend_from_slice(&FLAGS.to_le_bytes());
        header.extend_from_slice(&8u16.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&DOS_DATE.to_le_bytes());
        header.extend_from_slice(&[0; 12]); // crc, sizes: in the data descriptor
        header.extend_from_slice(&name_len.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(name.as_bytes());
        self.put(&header)?;
        Ok(ZipEntry {
            compressor: Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
                LEVEL, 0, 0,
            ))),
            zip: self,
            name: name.to_owned(),
            offset,
            crc: Crc32::default(),
            size: 0,
            compressed: 0,
            buf: vec![0; CHUNK],
        })
    }

    /// Writes the central directory and returns the output.
    pub fn finish(mut self) -> Result<W, SnapshotError> {
        let start = u32_of(self.offset, "the archive")?;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            let mut rec = Vec::with_capacity(46 + e.name.len());
            rec.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            rec.extend_from_slice(&20u16.to_le_bytes()); // made by
            rec.extend_from_slice(&20u16.to_le_bytes()); // needed
            rec.extend_from_slice(&FLAGS.to_le_bytes());
            rec.extend_from_slice(&8u16.to_le_bytes());
            rec.extend_from_slice(&0u16.to_le_bytes());
            rec.extend_from_slice(&DOS_DATE.to_le_bytes());
            rec.extend_from_slice(&e.crc.to_le_bytes());
            rec.extend_from_slice(&e.compressed.to_le_bytes());
            rec.extend_from_slice(&e.size.to_le_bytes());
            rec.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            rec.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
            rec.extend_from_slice(&e.offset.to_le_bytes());
            rec.extend_from_slice(e.name.as_bytes());
            self.put(&rec)?;
        }
        let size = u32_of(self.offset - u64::from(start), "the central directory")?;
        u32_of(self.offset, "the archive")?;
        let count = entries.len() as u16;
        let mut end = Vec::with_capacity(22);
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&[0; 4]); // disk numbers
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&count.to_le_bytes());
        end.extend_from_slice(&size.to_le_bytes());
        end.extend_from_slice(&start.to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.put(&end)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One entry being written; `Write` compresses as it goes.
pub struct ZipEntry<'z, W: Write> {
    zip: &'z mut ZipWriter<W>,
    compressor: Box<CompressorOxide>,
    name: String,
    offset: u32,
    crc: Crc32,
    size: u64,
    compressed: u64,
    buf: Vec<u8>,
}

impl<W: Write> ZipEntry<'_, W> {
    fn pump(&mut self, mut input: &[u8], flush: TDEFLFlush) -> io::Result<()> {
        loop {
            let (status, read, written) =
                compress(&mut self.compressor, input, &mut self.buf, flush);
            input = &input[read..];
            let out = &self.buf[..written];
            self.zip.out.write_all(out)?;
            self.zip.offset += written as u64;
            self.compressed += written as u64;
            match status {
                TDEFLStatus::Done => return Ok(()),
                TDEFLStatus::Okay if input.is_empty() && written < self.buf.len() => {
                    if matches!(flush, TDEFLFlush::None) {
                        return Ok(());
                    }
                }
                TDEFLStatus::Okay => {}
                _ => return Err(io::Error::other("deflate failed")),
            }
        }
    }

    /// Ends the entry: flushes the compressor and writes the data descriptor.
    pub fn finish(mut self) -> Result<(), SnapshotError> {
        self.pump(&[], TDEFLFlush::Finish)?;
        let crc = self.crc.value();
        let compressed = u32_of(self.compressed, &self.name)?;
        let size = u32_of(self.size, &self.name)?;
        let mut desc = Vec::with_capacity(16);
        desc.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
        desc.extend_from_slice(&crc.to_le_bytes());
        desc.extend_from_slice(&compressed.to_le_bytes());
        desc.extend_from_slice(&size.to_le_bytes());
        self.zip.put(&desc)?;
        let name = std::mem::take(&mut self.name);
        self.zip.entries.push(Central {
            name,
            crc,
            compressed,
            size,
            offset: self.offset,
        });
        Ok(())
    }
}

impl<W: Write> Write for ZipEntry<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.crc.update(bytes);
        self.size += bytes.len() as u64;
        self.pump(bytes, TDEFLFlush::None)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
