//! Decoding the rows of a rows event with the column layout computed once per
//! table map. `mysql_common`'s own row iterator re-parses the table map's
//! optional metadata and builds a named column description for every column
//! of every row, which made it most of the source's CPU time; this reads the
//! same bytes with the same per-value decoder (`BinlogValue`'s) and nothing else.
//!
//! Row image layout (MySQL/MariaDB, v1 and v2 events): a bitmap of NULLs over
//! the columns present in the image, then the present non-NULL values in
//! column order.
//!
//! TIME(1) and TIME(2) are decoded here: `mysql_common` 0.37 keeps their
//! fraction in an unsigned integer, so a negative time with a fraction
//! (`-00:00:01.5`) underflows (garbage in release builds, a panic in debug).

use mysql_common::binlog::events::{OptionalMetaExtractor, RowsEventData, TableMapEvent};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value as MyValue;

/// The start of the error for a row image without every column.
pub const PARTIAL_IMAGE: &str = "partial row image";

/// How to read each column of one table map.
#[derive(Debug, Clone)]
pub struct RowLayout {
    columns: Vec<(ColumnType, Vec<u8>, bool)>,
}

/// One row image: a value per column of the table (images that lack columns are refused).
pub type RowImage = Vec<BinlogValue<'static>>;

/// The before and after images of one row (an insert has no before, a delete no after).
pub type RowImages = (Option<RowImage>, Option<RowImage>);

impl RowLayout {
    pub fn of(tme: &TableMapEvent<'_>) -> Result<Self, String> {
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta()).map_err(|e| e.to_string())?;
        let mut signedness = meta.iter_signedness();
        let mut columns = Vec::with_capacity(tme.columns_count() as usize);
        for i in 0..tme.columns_count() as usize {
            let column_type = tme
                .get_column_type(i)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("column {i} has no type"))?;
            let unsigned = column_type.is_numeric_type() && signedness.next().unwrap_or(false);
            columns.push((column_type, tme.get_column_metadata(i).unwrap_or(&[]).to_vec(), unsigned));
        }
        Ok(Self { columns })
    }

    /// The (before, after) images of every row of the event.
    pub fn rows<'a>(&'a self, event: &'a RowsEventData<'a>) -> Result<Vec<RowImages>, String> {
        if matches!(event, RowsEventData::PartialUpdateRowsEvent(_)) {
            return Err("partial JSON update event: set binlog_row_value_options='' on the server".into());
        }
        let before = event.columns_before_image();
        let after = event.columns_after_image();
        let mut buf = ParseBuf(event.rows_data());
        let mut rows = Vec::new();
        while !buf.is_empty() {
            let before_image = before.map(|present| self.image(&mut buf, present.iter().by_vals())).transpose()?;
            let after_image = after.map(|present| self.image(&mut buf, present.iter().by_vals())).transpose()?;
            rows.push((before_image, after_image));
        }
        Ok(rows)
    }

    fn image<'a>(&'a self, buf: &mut ParseBuf<'a>, present: impl Iterator<Item = bool>) -> Result<RowImage, String> {
        let present: Vec<bool> = present.take(self.columns.len()).collect();
        // A session with binlog_row_image=MINIMAL or NOBLOB writes partial rows:
        // publishing the absent columns as NULL would be silently wrong.
        if present.len() < self.columns.len() || present.iter().any(|p| !p) {
            let absent = present.iter().filter(|p| !**p).count() + self.columns.len().saturating_sub(present.len());
            return Err(format!(
                "{PARTIAL_IMAGE}: {absent} of {} columns are absent from this row image (the writing session used \
                 binlog_row_image=MINIMAL or NOBLOB). Set binlog_row_image=FULL globally and make sure no session overrides it \
                 (SET GLOBAL binlog_row_image='FULL', then reconnect the applications), then re-snapshot this table",
                self.columns.len()
            ));
        }
        // Every column is in the image (checked above): the NULL bitmap has a bit per column.
        let count = self.columns.len();
        let nulls = buf.0.get(..count.div_ceil(8)).ok_or("row image cut short (NULL bitmap)")?.to_vec();
        buf.eat(count.div_ceil(8));
        let mut values = Vec::with_capacity(count);
        for (i, (column_type, meta, unsigned)) in self.columns.iter().enumerate() {
            let null = nulls[i / 8] & (1 << (i % 8)) != 0;
            if null {
                values.push(BinlogValue::Value(MyValue::NULL));
            } else if *column_type == ColumnType::MYSQL_TYPE_TIME2 {
                values.push(BinlogValue::Value(time2(buf, meta.first().copied().unwrap_or(0)).map_err(|e| format!("column {i} (TIME): {e}"))?));
            } else {
                let value: BinlogValue<'a> = buf
                    .parse((*column_type, meta.as_slice(), *unsigned, false))
                    .map_err(|e| format!("column {i} ({column_type:?}): {e}"))?;
                values.push(value.into_owned());
            }
        }
        Ok(values)
    }
}

/// A TIME2 value with `fsp` fractional digits, as MySQL's
/// `my_time_packed_from_binary` reads it (signed fraction arithmetic).
fn time2(buf: &mut ParseBuf<'_>, fsp: u8) -> Result<MyValue, String> {
    const INT_OFS: i64 = 0x80_0000;
    let len = 3 + usize::from(fsp).div_ceil(2);
    let bytes = buf.0.get(..len).ok_or("row image cut short (TIME)")?;
    buf.eat(len);
    let be = |b: &[u8]| b.iter().fold(0i64, |acc, &x| (acc << 8) | i64::from(x));
    let packed = match fsp {
        1 | 2 => {
            let (mut int, mut frac) = (be(&bytes[..3]) - INT_OFS, i64::from(bytes[3]));
            if int < 0 && frac != 0 {
                int += 1;
                frac -= 0x100;
            }
            (int << 24) + frac * 10_000
        }
        3 | 4 => {
            let (mut int, mut frac) = (be(&bytes[..3]) - INT_OFS, be(&bytes[3..5]));
            if int < 0 && frac != 0 {
                int += 1;
                frac -= 0x1_0000;
            }
            (int << 24) + frac * 100
        }
        5 | 6 => be(&bytes[..6]) - 0x8000_0000_0000,
        _ => (be(&bytes[..3]) - INT_OFS) << 24,
    };
    let (negative, magnitude) = (packed < 0, packed.unsigned_abs());
    let hms = magnitude >> 24;
    let hours = ((hms >> 12) % (1 << 10)) as u32;
    Ok(MyValue::Time(
        negative,
        hours / 24,
        (hours % 24) as u8,
        ((hms >> 6) % (1 << 6)) as u8,
        (hms % (1 << 6)) as u8,
        (magnitude % (1 << 24)) as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MySQL's `my_time_packed_to_binary` for `hours:minutes:seconds.micros` (sign applied to all).
    fn encode(negative: bool, h: i64, m: i64, s: i64, micros: i64, fsp: u8) -> Vec<u8> {
        let magnitude = (((h << 12) | (m << 6) | s) << 24) + micros;
        let packed = if negative { -magnitude } else { magnitude };
        let int = packed >> 24;
        let frac = packed % (1 << 24);
        let be = |v: i64, n: usize| (0..n).rev().map(|i| (v >> (8 * i)) as u8).collect::<Vec<_>>();
        // C semantics: `>>` floors, `%` truncates, the fraction is stored as a signed byte/short.
        match fsp {
            1 | 2 => [be(int + 0x80_0000, 3), vec![(frac / 10_000) as i8 as u8]].concat(),
            3 | 4 => [be(int + 0x80_0000, 3), be(i64::from((frac / 100) as i16 as u16), 2)].concat(),
            5 | 6 => be(packed + 0x8000_0000_0000, 6),
            _ => be(int + 0x80_0000, 3),
        }
    }

    #[test]
    fn negative_times_with_fractions_decode() {
        let cases = [
            (true, 0, 0, 1, 500_000, 1),
            (true, 838, 59, 59, 0, 0),
            (true, 1, 2, 3, 450_000, 2),
            (true, 0, 0, 0, 10_000, 2),
            (false, 12, 34, 56, 780_000, 2),
            (true, 0, 0, 1, 123_400, 4),
            (true, 23, 59, 59, 999_999, 6),
            (false, 0, 0, 0, 0, 3),
        ];
        for (negative, h, m, s, micros, fsp) in cases {
            let bytes = encode(negative, h, m, s, micros, fsp);
            let mut buf = ParseBuf(&bytes);
            let expected = MyValue::Time(negative && (h, m, s, micros) != (0, 0, 0, 0), (h / 24) as u32, (h % 24) as u8, m as u8, s as u8, micros as u32);
            assert_eq!(time2(&mut buf, fsp).unwrap(), expected, "{negative} {h}:{m}:{s}.{micros} fsp {fsp}");
            assert!(buf.is_empty());
        }
    }
}
