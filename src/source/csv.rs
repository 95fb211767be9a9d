//! The raw recording CSV (docs/formats.md): read streaming, write.
//!
//! ```text
//! time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps
//! 0.00000,0.1210,9.7930,-0.2011,0.4100,-1.2200,0.0300
//! ```
//!
//! Extra columns after these seven are allowed and ignored; time is
//! non-decreasing (a step back of up to about one sample period is tolerated
//! and passed on, the pipeline skips it); gaps are allowed.

use crate::Sample;
use std::io::{Read, Write};
use std::path::Path;

/// The seven required columns, in order.
pub const HEADER: [&str; 7] = [
    "time_s",
    "acc_x_mps2",
    "acc_y_mps2",
    "acc_z_mps2",
    "gyr_x_dps",
    "gyr_y_dps",
    "gyr_z_dps",
];

/// A problem with a raw recording, naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// Nothing in the file.
    #[error("{file}: the file is empty; expected a header row `{}` and samples", HEADER.join(","))]
    Empty {
        /// The file.
        file: String,
    },
    /// The first row is not the header.
    #[error("{file}:1: column {column} is `{found}`, expected `{expected}`; the first row must be the header `{}`", HEADER.join(","))]
    BadHeader {
        /// The file.
        file: String,
        /// 1-based column.
        column: usize,
        /// What was there.
        found: String,
        /// What should be.
        expected: &'static str,
    },
    /// The file holds binary data (an executable, an image, a zip).
    #[error("{file} is not a CSV recording (it holds binary data); give the raw CSV medius or `simulate` wrote")]
    Binary {
        /// The file.
        file: String,
    },
    /// A header but no samples.
    #[error("{file}: the header is there but there are no samples")]
    NoSamples {
        /// The file.
        file: String,
    },
    /// A row with too few fields.
    #[error("{file}:{line}: {found} fields, expected at least 7 ({})", HEADER.join(","))]
    ShortRow {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// Fields found.
        found: usize,
    },
    /// A value that is not a number.
    #[error("{file}:{line}: column {column} ({name}) is `{found}`, not a number")]
    NotANumber {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: usize,
        /// The column's name.
        name: &'static str,
        /// What was there.
        found: String,
    },
    /// Time went backwards by more than a sample.
    #[error("{file}:{line}: time_s goes back from {previous} to {found}; samples must be in time order (sort the file by time_s)")]
    TimeBackwards {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// The previous time.
        previous: f64,
        /// This row's time.
        found: f64,
    },
    /// A line longer than [`MAX_LINE_BYTES`]: not a recording (`/dev/zero`,
    /// a binary file). Refused before it fills the memory.
    #[error("{file}:{line}: a line longer than {} KiB; a raw recording's lines are short (is this the right file?)", MAX_LINE_BYTES / 1024)]
    LineTooLong {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
    },
    /// The CSV layer failed (bad quoting, invalid UTF-8 ...).
    #[error("{file}:{line}: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What the CSV parser said.
        message: String,
    },
}

/// The longest line a recording may have. A sample row is about 60 bytes;
/// extra columns are allowed, so the cap is generous, but one line without
/// an end (`analyze /dev/zero`) no longer grows until the memory runs out.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Marks the I/O error [`LineCap`] returns, so it can be told from others.
#[derive(Debug)]
struct LineTooLongMark;

impl std::fmt::Display for LineTooLongMark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line longer than {MAX_LINE_BYTES} bytes")
    }
}

impl std::error::Error for LineTooLongMark {}

/// Passes bytes through and fails once a line (up to `\n` or `\r`) runs
/// past [`MAX_LINE_BYTES`]: the CSV reader below keeps a whole record in
/// memory, however long.
struct LineCap<R> {
    inner: R,
    in_line: usize,
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        if self.in_line + n <= MAX_LINE_BYTES {
            // No line can have run past the cap in this read: only the
            // line it ends in matters, found from the end.
            self.in_line = match read.iter().rposition(|b| *b == b'\n' || *b == b'\r') {
                Some(i) => n - i - 1,
                None => self.in_line + n,
            };
            return Ok(n);
        }
        for piece in read.split_inclusive(|b| *b == b'\n' || *b == b'\r') {
            let ended = matches!(piece.last(), Some(b'\n' | b'\r'));
            self.in_line += piece.len() - usize::from(ended);
            if self.in_line > MAX_LINE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    LineTooLongMark,
                ));
            }
            if ended {
                self.in_line = 0;
            }
        }
        Ok(n)
    }
}

/// Streams samples out of a raw recording without holding the file in memory.
pub struct RawReader<R: Read> {
    file: String,
    reader: ::csv::Reader<LineCap<R>>,
    record: ::csv::ByteRecord,
    line: u64,
    last_t: Option<f64>,
    period: Option<f64>,
    samples: u64,
    done: bool,
}

/// A field as it may be quoted in an error (40 characters at most), or
/// `None` when it is not text: bytes that are not UTF-8, or control
/// characters other than a tab (a binary file's bytes are never echoed).
fn shown(field: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(field).ok()?;
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    Some(text.chars().take(40).collect())
}

impl RawReader<std::io::BufReader<std::fs::File>> {
    /// Opens a file and checks its header.
    pub fn open(path: &Path) -> Result<Self, CsvError> {
        let file = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|source| CsvError::Io {
            file: file.clone(),
            source,
        })?;
        RawReader::new(std::io::BufReader::with_capacity(1 << 16, f), &file)
    }
}

impl<R: Read> RawReader<R> {
    /// Wraps any reader; `name` is used in error messages.
    pub fn new(input: R, name: &str) -> Result<Self, CsvError> {
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(LineCap {
                inner: input,
                in_line: 0,
            });
        let mut record = ::csv::ByteRecord::new();
        let file = name.to_string();
        let got = reader
            .read_byte_record(&mut record)
            .map_err(|e| malformed(&file, 1, e))?;
        if !got {
            return Err(CsvError::Empty { file });
        }
        if record.iter().any(|f| shown(f).is_none()) {
            return Err(CsvError::Binary { file });
        }
        for (i, expected) in HEADER.iter().enumerate() {
            let found = record
                .get(i)
                .map(|b| String::from_utf8_lossy(b.trim_ascii()).into_owned());
            let found_str = found.as_deref().unwrap_or("");
            // Tolerate a UTF-8 byte-order mark before the first name.
            let found_cmp = found_str.trim_start_matches('\u{feff}');
            if found_cmp != *expected {
                return Err(CsvError::BadHeader {
                    file,
                    column: i + 1,
                    found: if found.is_none() {
                        "(missing)".into()
                    } else {
                        found_str.chars().take(40).collect()
                    },
                    expected,
                });
            }
        }
        Ok(RawReader {
            file,
            reader,
            record,
            line: 1,
            last_t: None,
            period: None,
            samples: 0,
            done: false,
        })
    }

    /// Samples read so far.
    pub fn samples_read(&self) -> u64 {
        self.samples
    }

    fn parse_row(&mut self) -> Result<Sample, CsvError> {
        let line = self
            .record
            .position()
            .map(|p| p.line())
            .unwrap_or(self.line);
        self.line = line;
        if self.record.len() < 7 {
            return Err(CsvError::ShortRow {
                file: self.file.clone(),
                line,
                found: self.record.len(),
            });
        }
        let mut v = [0.0f64; 7];
        for (i, slot) in v.iter_mut().enumerate() {
            let field = self.record[i].trim_ascii();
            let parsed = parse_f64(field);
            match parsed {
                Some(x) if x.is_finite() => *slot = x,
                _ => {
                    return Err(CsvError::NotANumber {
                        file: self.file.clone(),
                        line,
                        column: i + 1,
                        name: HEADER[i],
                        found: shown(field).unwrap_or_else(|| "(binary data)".into()),
                    })
                }
            }
        }
        let t = v[0];
        if let Some(prev) = self.last_t {
            let dt = t - prev;
            if dt > 0.0 {
                // Running estimate of the sample period (ignores gaps).
                let p = self.period.get_or_insert(dt);
                if dt < 4.0 * *p {
                    *p += 0.05 * (dt - *p);
                }
            } else {
                let tolerance = self.period.unwrap_or(0.0) * 1.5 + 1e-9;
                if -dt > tolerance {
                    return Err(CsvError::TimeBackwards {
                        file: self.file.clone(),
                        line,
                        previous: prev,
                        found: t,
                    });
                }
            }
        }
        self.last_t = Some(self.last_t.map_or(t, |p| p.max(t)));
        self.samples += 1;
        Ok(Sample::new(t, [v[1], v[2], v[3]], [v[4], v[5], v[6]]))
    }
}

/// Parses a decimal number. Plain decimals of up to 15 digits (what sensors
/// and [`RawWriter`] write) take Clinger's exact fast path: the digits as an
/// integer, divided by a power of ten, both exact in an `f64`, so the one
/// rounding is the division's and the result is the correctly rounded value
/// `str::parse` gives. Anything else goes to `str::parse`.
fn parse_f64(b: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut n_digits = 0usize;
    let mut frac_digits = 0usize;
    let mut seen_point = false;
    let mut fast = !digits.is_empty();
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                n_digits += 1;
                frac_digits += usize::from(seen_point);
            }
            b'.' if !seen_point => seen_point = true,
            _ => {
                fast = false;
                break;
            }
        }
        if n_digits > 15 {
            fast = false;
            break;
        }
    }
    if fast && n_digits > 0 {
        let v = mantissa as f64 / POW10[frac_digits];
        return Some(if neg { -v } else { v });
    }
    std::str::from_utf8(b).ok()?.parse::<f64>().ok()
}

fn malformed(file: &str, line: u64, e: ::csv::Error) -> CsvError {
    let line = e.position().map(|p| p.line()).unwrap_or(line);
    if let ::csv::ErrorKind::Io(io) = e.kind() {
        if io.get_ref().is_some_and(|i| i.is::<LineTooLongMark>()) {
            return CsvError::LineTooLong {
                file: file.to_string(),
                line,
            };
        }
    }
    CsvError::Malformed {
        file: file.to_string(),
        line,
        message: e.to_string(),
    }
}

impl<R: Read> Iterator for RawReader<R> {
    type Item = Result<Sample, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {
                    // Skip blank lines.
                    if self.record.len() == 1 && self.record[0].trim_ascii().is_empty() {
                        continue;
                    }
                    let r = self.parse_row();
                    if r.is_err() {
                        self.done = true;
                    }
                    return Some(r);
                }
                Ok(false) => {
                    self.done = true;
                    if self.samples == 0 {
                        return Some(Err(CsvError::NoSamples {
                            file: self.file.clone(),
                        }));
                    }
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(malformed(&self.file, self.line + 1, e)));
                }
            }
        }
    }
}

/// Writes raw recordings in the contract's layout.
pub struct RawWriter<W: Write> {
    out: W,
}

impl<W: Write> RawWriter<W> {
    /// Writes the header and returns the writer.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        writeln!(out, "{}", HEADER.join(","))?;
        Ok(RawWriter { out })
    }

    /// Appends one sample.
    pub fn write(&mut self, s: &Sample) -> std::io::Result<()> {
        writeln!(
            self.out,
            "{:.5},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}",
            s.t, s.acc.x, s.acc.y, s.acc.z, s.gyr.x, s.gyr.y, s.gyr.z
        )
    }

    /// Flushes buffered rows to the underlying writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (to sync the file under a buffer).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Returns the underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Sample>, CsvError> {
        RawReader::new(text.as_bytes(), "t.csv")?.collect()
    }

    const H: &str = "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps\n";

    #[test]
    fn number_parsing_agrees_with_the_standard_library_bit_for_bit() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "+5",
            "1.",
            ".5",
            "-.25",
            "9.80665",
            "123456789012345",
            "1234567890123456",
            "0.000000000000001",
            "1e3",
            "-2.5E-3",
            "nan",
            "inf",
            "-inf",
            "",
            "-",
            ".",
            "1.2.3",
            "12a",
            "0x10",
            "١",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x = 0.123_456_789_f64;
        for i in 0..20_000 {
            // A cheap spread of magnitudes and precisions.
            x = (x * 7919.0 + 0.271_828_3).fract();
            let v = (x - 0.5) * 10f64.powi(i % 9 - 2);
            texts.push(format!("{:.*}", (i % 12) as usize, v));
            texts.push(format!("{v}"));
        }
        for t in &texts {
            let want = t.parse::<f64>().ok();
            let got = parse_f64(t.as_bytes());
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "{t:?}: {got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn spaces_around_fields_and_names_are_ignored() {
        let text = " time_s , acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_dps,gyr_y_dps,gyr_z_dps\n \n0.0, 0.1 ,0,9.8,0,0,0\n";
        let s = read(text).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].acc.x, 0.1);
    }

    #[test]
    fn round_trip() {
        let s = vec![
            Sample::new(0.0, [0.1, 9.8, -0.2], [0.4, -1.2, 0.03]),
            Sample::new(0.01, [0.2, 9.7, -0.1], [1.0, 2.0, 3.0]),
        ];
        let mut w = RawWriter::new(Vec::new()).unwrap();
        for x in &s {
            w.write(x).unwrap();
        }
        let text = String::from_utf8(w.into_inner()).unwrap();
        let back = read(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert!((back[1].gyr.z - 3.0).abs() < 1e-9);
    }

    #[test]
    fn extra_columns_gaps_and_duplicates_are_fine() {
        let text = format!("{},extra,note\n", H.trim_end())
            + "0,0,9.8,0,0,0,0,a\n0,0,9.8,0,0,0,0,b\n0.5,0,9.8,0,0,0,0,c\n";
        let back = read(&text).unwrap();
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = read("").unwrap_err();
        assert!(matches!(e, CsvError::Empty { .. }), "{e}");
        let e = read("time,a\n").unwrap_err();
        assert!(e.to_string().contains("t.csv:1: column 1"), "{e}");
        let e = read(H).unwrap_err();
        assert!(matches!(e, CsvError::NoSamples { .. }), "{e}");
        let e = read(&format!("{H}0,0,9.8,0,0,0,0\n0.01,0,abc,0,0,0,0\n")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:3: column 3 (acc_y_mps2) is `abc`, not a number"
        );
        let e = read(&format!(
            "{H}0,0,9.8,0,0,0,0\n0.01,0,9.8,0,0,0,0\n0.02,0,9.8,0,0,0,0\n0.0,0,9.8,0,0,0,0\n"
        ))
        .unwrap_err();
        assert!(matches!(e, CsvError::TimeBackwards { line: 5, .. }), "{e}");
        let e = read(&format!("{H}0,0,9.8\n")).unwrap_err();
        assert!(
            matches!(
                e,
                CsvError::ShortRow {
                    line: 2,
                    found: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = read(&format!("{H}0,0,9.8,0,0,0,NaN\n")).unwrap_err();
        assert!(matches!(e, CsvError::NotANumber { column: 7, .. }), "{e}");
    }

    #[test]
    fn a_line_without_end_is_refused_without_filling_the_memory() {
        // Issue 16, item 13: `analyze /dev/zero` allocated 1 GiB and aborted.
        let zeros = std::io::repeat(0).take(64 << 20);
        let e = RawReader::new(zeros, "zero").err().expect("refused");
        assert!(matches!(e, CsvError::LineTooLong { line: 1, .. }), "{e}");
        let long_row = format!(
            "{H}0,0,9.8,0,0,0,0\n0.01,{}\n",
            "1".repeat(MAX_LINE_BYTES + 1)
        );
        let e = read(&long_row).unwrap_err();
        assert!(matches!(e, CsvError::LineTooLong { line: 3, .. }), "{e}");
        // Long but under the cap (extra columns) is fine.
        let wide = format!("{H}0,0,9.8,0,0,0,0,{}\n", "x".repeat(100_000));
        assert_eq!(read(&wide).unwrap().len(), 1);
    }

    #[test]
    fn the_line_cap_holds_whatever_the_read_sizes() {
        // One byte a time, and everything in one read larger than the cap.
        struct Trickle<R>(R);
        impl<R: Read> Read for Trickle<R> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(1);
                self.0.read(&mut buf[..n])
            }
        }
        let drain = |mut r: LineCap<Box<dyn Read>>, chunk: usize| -> std::io::Result<usize> {
            let mut buf = vec![0u8; chunk];
            let mut total = 0;
            loop {
                match r.read(&mut buf)? {
                    0 => return Ok(total),
                    n => total += n,
                }
            }
        };
        let line = |len: usize| format!("0,{}\n1,2\n", "1".repeat(len - 2)).into_bytes();
        let cap = |bytes: Vec<u8>, trickle: bool| -> LineCap<Box<dyn Read>> {
            let inner: Box<dyn Read> = if trickle {
                Box::new(Trickle(std::io::Cursor::new(bytes)))
            } else {
                Box::new(std::io::Cursor::new(bytes))
            };
            LineCap { inner, in_line: 0 }
        };
        for (trickle, chunk) in [(true, 64), (false, 3 * MAX_LINE_BYTES)] {
            assert!(drain(cap(line(MAX_LINE_BYTES), trickle), chunk).is_ok());
            let e = drain(cap(line(MAX_LINE_BYTES + 1), trickle), chunk).unwrap_err();
            assert!(
                e.get_ref().is_some_and(|i| i.is::<LineTooLongMark>()),
                "{e}"
            );
        }
    }

    #[test]
    fn small_step_back_is_tolerated() {
        let text = format!(
            "{H}0,0,9.8,0,0,0,0\n0.01,0,9.8,0,0,0,0\n0.02,0,9.8,0,0,0,0\n0.015,0,9.8,0,0,0,0\n"
        );
        assert_eq!(read(&text).unwrap().len(), 4);
    }
}
