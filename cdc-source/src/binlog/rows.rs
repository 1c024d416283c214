//! Decoding the rows of a rows event with the column layout computed once per
//! table map. `mysql_common`'s own row iterator re-parses the table map's
//! optional metadata and builds a named column description for every column
//! of every row, which made it most of the source's CPU time; this reads the
//! same bytes with the same per-value decoder (`BinlogValue`'s) and nothing else.
//!
//! Row image layout (MySQL/MariaDB, v1 and v2 events): a bitmap of NULLs over
//! the columns present in the image, then the present non-NULL values in
//! column order.

use mysql_common::binlog::events::{OptionalMetaExtractor, RowsEventData, TableMapEvent};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value as MyValue;

/// How to read each column of one table map.
#[derive(Debug, Clone)]
pub struct RowLayout {
    columns: Vec<(ColumnType, Vec<u8>, bool)>,
}

/// One row image: a value per column of the table (NULL for columns absent from the image).
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
        let count = present.iter().filter(|p| **p).count();
        let nulls = buf.0.get(..count.div_ceil(8)).ok_or("row image cut short (NULL bitmap)")?.to_vec();
        buf.eat(count.div_ceil(8));
        let mut values = Vec::with_capacity(self.columns.len());
        let mut image_index = 0;
        for (i, (column_type, meta, unsigned)) in self.columns.iter().enumerate() {
            if !present.get(i).copied().unwrap_or(false) {
                values.push(BinlogValue::Value(MyValue::NULL));
                continue;
            }
            let null = nulls[image_index / 8] & (1 << (image_index % 8)) != 0;
            image_index += 1;
            if null {
                values.push(BinlogValue::Value(MyValue::NULL));
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
