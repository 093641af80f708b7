//! Parquet inputs of any common codec. Columns of any integer, float, string, binary,
//! boolean, date or timestamp type; timestamp columns of any unit, or epoch numbers, or text.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryViewArray, BooleanArray, Float64Array, Int64Array,
    StringArray, StringViewArray, TimestampMicrosecondArray,
};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};

use super::input::fatal;
use super::mapping::{Cell, Mapper};
use super::{Format, IngestError, ReadOptions, RowError};
use crate::trace::TraceRecord;

/// Rows decoded at a time: the pipeline's batch size. Each batch's arrays live until its last
/// row is mapped, and 8192-row batches of a wide log (headers, bodies) cost about 25 MB of
/// peak RSS more than 2048-row ones, for no speed.
const BATCH_ROWS: usize = 2048;

pub(crate) struct ParquetSource {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    pub(crate) mapper: Mapper,
    cols: Vec<Col>,
    pos: usize,
    len: usize,
    row: u64,
}

/// One column of the current batch, in the few physical types the mapper reads.
enum Col {
    Null,
    Str(StringArray),
    StrView(StringViewArray),
    Bin(BinaryArray),
    BinView(BinaryViewArray),
    Int(Int64Array),
    Float(Float64Array),
    Bool(BooleanArray),
    Ts(TimestampMicrosecondArray),
}

/// The type a column is read as, chosen once from the schema.
fn target(dt: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match dt {
        Null => Null,
        Utf8 | LargeUtf8 | Utf8View => Utf8,
        Dictionary(_, v) if matches!(**v, Utf8 | LargeUtf8 | Utf8View) => Utf8,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Binary,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Int64,
        Float16 | Float32 | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..)
        | Decimal256(..) => Float64,
        Boolean => Boolean,
        Timestamp(..) | Date32 | Date64 => Timestamp(TimeUnit::Microsecond, None),
        other if can_cast_types(other, &Utf8) => Utf8,
        _ => return None,
    })
}

impl ParquetSource {
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self, IngestError> {
        let file = File::open(path).map_err(|err| IngestError::Open {
            path: path.to_path_buf(),
            err,
        })?;
        if file.metadata().map(|m| m.len()).unwrap_or(1) == 0 {
            return Err(IngestError::Empty {
                path: path.to_path_buf(),
            });
        }
        let not_parquet = |e: parquet::errors::ParquetError| IngestError::NotParquet {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let meta =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(not_parquet)?;
        let meta = ArrowReaderMetadata::try_new(
            meta.metadata().clone(),
            ArrowReaderOptions::new().with_schema(viewed(meta.schema())),
        )
        .map_err(not_parquet)?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
        if builder.metadata().file_metadata().num_rows() == 0 {
            return Err(IngestError::BadInput {
                path: path.to_path_buf(),
                format: Format::Parquet,
                reason: "it has a schema but no rows: there is nothing to ingest".into(),
            });
        }
        let schema = builder.schema().clone();
        for f in schema.fields() {
            if target(f.data_type()).is_none() {
                return Err(IngestError::BadInput {
                    path: path.to_path_buf(),
                    format: Format::Parquet,
                    reason: format!(
                        "column `{}` has type {} which esr cannot read as a value",
                        f.name(),
                        f.data_type()
                    ),
                });
            }
        }
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mapper = Mapper::new(path, names, &opts.map, opts.ts_unit)?;
        let reader = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(not_parquet)?;
        Ok(ParquetSource {
            path: path.to_path_buf(),
            reader,
            mapper,
            cols: Vec::new(),
            pos: 0,
            len: 0,
            row: 0,
        })
    }

    fn load(&mut self) -> Option<Result<(), RowError>> {
        // The last batch's arrays go before the next one is decoded, which can reuse them.
        self.cols.clear();
        self.len = 0;
        let batch = match self.reader.next()? {
            Ok(b) => b,
            Err(e) => {
                return Some(Err(fatal(
                    &self.path,
                    self.row + 1,
                    format!("the Parquet data is corrupt or truncated ({e})"),
                )));
            }
        };
        let mut cols = Vec::with_capacity(batch.num_columns());
        for (f, a) in batch.schema().fields().iter().zip(batch.columns()) {
            match convert(a) {
                Ok(c) => cols.push(c),
                Err(e) => {
                    return Some(Err(RowError {
                        column: Some(f.name().clone()),
                        ..fatal(
                            &self.path,
                            self.row + 1,
                            format!("cannot convert the column: {e}"),
                        )
                    }));
                }
            }
        }
        self.cols = cols;
        self.pos = 0;
        self.len = batch.num_rows();
        Some(Ok(()))
    }

    pub fn next(&mut self) -> Option<Result<TraceRecord, RowError>> {
        while self.pos >= self.len {
            if let Err(e) = self.load()? {
                return Some(Err(e));
            }
        }
        let i = self.pos;
        self.pos += 1;
        self.row += 1;
        let cols = &self.cols;
        Some(self.mapper.record(|c| cell(&cols[c], i), self.row, None))
    }
}

/// The file's schema with its string and binary columns read as views: a view points into
/// the decoded page (or its dictionary) where a plain array would copy every value out of it.
fn viewed(schema: &Schema) -> Arc<Schema> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let dt = match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
                DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
                other => other.clone(),
            };
            f.as_ref().clone().with_data_type(dt)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn convert(a: &ArrayRef) -> Result<Col, arrow::error::ArrowError> {
    match a.data_type() {
        DataType::Utf8View => {
            let v = a.as_any().downcast_ref::<StringViewArray>().expect("view");
            return Ok(Col::StrView(v.clone()));
        }
        DataType::BinaryView => {
            let v = a.as_any().downcast_ref::<BinaryViewArray>().expect("view");
            return Ok(Col::BinView(v.clone()));
        }
        _ => {}
    }
    let to = target(a.data_type()).unwrap_or(DataType::Utf8);
    let a = if a.data_type() == &to {
        a.clone()
    } else {
        cast(a, &to)?
    };
    let any = a.as_any();
    Ok(match to {
        DataType::Null => Col::Null,
        DataType::Utf8 => Col::Str(any.downcast_ref::<StringArray>().expect("cast").clone()),
        DataType::Binary => Col::Bin(any.downcast_ref::<BinaryArray>().expect("cast").clone()),
        DataType::Int64 => Col::Int(any.downcast_ref::<Int64Array>().expect("cast").clone()),
        DataType::Float64 => Col::Float(any.downcast_ref::<Float64Array>().expect("cast").clone()),
        DataType::Boolean => Col::Bool(any.downcast_ref::<BooleanArray>().expect("cast").clone()),
        _ => Col::Ts(
            any.downcast_ref::<TimestampMicrosecondArray>()
                .expect("cast")
                .clone(),
        ),
    })
}

fn cell(c: &Col, i: usize) -> Cell<'_> {
    let null = match c {
        Col::Null => true,
        Col::Str(a) => a.is_null(i),
        Col::StrView(a) => a.is_null(i),
        Col::Bin(a) => a.is_null(i),
        Col::BinView(a) => a.is_null(i),
        Col::Int(a) => a.is_null(i),
        Col::Float(a) => a.is_null(i),
        Col::Bool(a) => a.is_null(i),
        Col::Ts(a) => a.is_null(i),
    };
    if null {
        return Cell::Null;
    }
    match c {
        Col::Null => Cell::Null,
        Col::Str(a) => Cell::Str(Cow::Borrowed(a.value(i))),
        Col::StrView(a) => Cell::Str(Cow::Borrowed(a.value(i))),
        Col::Bin(a) => Cell::Bytes(a.value(i)),
        Col::BinView(a) => Cell::Bytes(a.value(i)),
        Col::Int(a) => Cell::Int(a.value(i)),
        Col::Float(a) => Cell::Float(a.value(i)),
        Col::Bool(a) => Cell::Bool(a.value(i)),
        Col::Ts(a) => Cell::TsMicros(a.value(i)),
    }
}
