//! Reading a roster file (CSV or XLSX) into rows of named cells, before any validation.
//!
//! Schools export from Excel, so: the first sheet of a workbook is read; a CSV may carry a
//! UTF-8 byte-order mark or be in GB 18030 (what Excel on Chinese Windows writes); columns are
//! found by their header in Chinese or English, in any order, and other columns are ignored;
//! empty rows are skipped. Every row keeps the line number a person sees in Excel or an editor.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader};

use super::error::EligibilityError;

/// The roster columns, with the headers each is known by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    StudentNumber,
    Name,
    IdType,
    IdNumber,
    EducationType,
    Level,
    Major,
    GraduationYear,
}

impl Column {
    pub const ALL: [Column; 8] = [
        Column::StudentNumber,
        Column::Name,
        Column::IdType,
        Column::IdNumber,
        Column::EducationType,
        Column::Level,
        Column::Major,
        Column::GraduationYear,
    ];

    /// (Chinese, English) header.
    pub fn headers(self) -> (&'static str, &'static str) {
        match self {
            Column::StudentNumber => ("学号", "student_number"),
            Column::Name => ("姓名", "name"),
            Column::IdType => ("证件类型", "id_type"),
            Column::IdNumber => ("证件号码", "id_number"),
            Column::EducationType => ("学历类别", "education_type"),
            Column::Level => ("层次", "level"),
            Column::Major => ("专业", "major"),
            Column::GraduationYear => ("毕业年份", "graduation_year"),
        }
    }

    pub fn required(self) -> bool {
        !matches!(self, Column::Level | Column::Major | Column::GraduationYear)
    }

    fn from_header(header: &str) -> Option<Column> {
        let header = header.trim().trim_start_matches('\u{feff}').to_lowercase();
        Column::ALL.into_iter().find(|c| {
            let (zh, en) = c.headers();
            header == zh || header == en
        })
    }
}

/// One cell's text. `numeric` marks a spreadsheet number, which cannot hold an 18-digit ID.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub text: String,
    pub numeric: bool,
}

#[derive(Clone, Debug)]
pub struct SheetRow {
    /// 1-based, counting the header line.
    pub line: usize,
    pub cells: HashMap<Column, Cell>,
}

impl SheetRow {
    pub fn get(&self, column: Column) -> Option<&Cell> {
        self.cells.get(&column).filter(|c| !c.text.is_empty())
    }
}

/// Reads the rows of a roster file; the format comes from the file name's extension.
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Vec<SheetRow>, EligibilityError> {
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let table = match extension.as_str() {
        "csv" | "txt" => read_csv(bytes)?,
        "xlsx" | "xlsm" | "xls" | "ods" => read_workbook(bytes)?,
        _ => {
            return Err(EligibilityError::RosterUnreadable(format!(
                "{file_name:?} is neither .csv nor .xlsx"
            )))
        }
    };
    to_rows(table)
}

/// (line, cells) of every line including the header.
type Table = Vec<(usize, Vec<Cell>)>;

fn read_csv(bytes: &[u8]) -> Result<Table, EligibilityError> {
    let text = crate::csv_text::decode(bytes).ok_or_else(|| {
        EligibilityError::RosterUnreadable("the CSV is neither UTF-8 nor GB 18030 text".into())
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut table = Vec::new();
    let mut counter = crate::csv_text::LineCounter::new(&text);
    for record in reader.records() {
        let record = record.map_err(|e| EligibilityError::RosterUnreadable(e.to_string()))?;
        let line = record.position().map_or(0, |p| counter.line_at(p.byte()));
        let cells = record
            .iter()
            .map(|text| Cell {
                text: text.trim().to_string(),
                numeric: false,
            })
            .collect();
        table.push((line, cells));
    }
    Ok(table)
}

fn read_workbook(bytes: &[u8]) -> Result<Table, EligibilityError> {
    let unreadable = |e: calamine::Error| EligibilityError::RosterUnreadable(e.to_string());
    let mut workbook =
        calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(unreadable)?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| EligibilityError::RosterUnreadable("the workbook has no sheet".into()))?
        .map_err(unreadable)?;
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let first_column = range.start().map_or(0, |(_, column)| column as usize);
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, row)| {
            // Keep column positions even when the used range does not start at column A.
            let cells = std::iter::repeat_n(empty(), first_column)
                .chain(row.iter().map(cell))
                .collect();
            (first_row + i + 1, cells)
        })
        .collect())
}

fn empty() -> Cell {
    Cell {
        text: String::new(),
        numeric: false,
    }
}

fn cell(data: &Data) -> Cell {
    match data {
        Data::Empty => empty(),
        Data::String(s) => Cell {
            text: s.trim().to_string(),
            numeric: false,
        },
        Data::Int(i) => Cell {
            text: i.to_string(),
            numeric: true,
        },
        // Whole numbers print without ".0": student numbers and years are often typed as numbers.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Cell {
            text: format!("{f:.0}"),
            numeric: true,
        },
        other => Cell {
            text: other.to_string().trim().to_string(),
            numeric: matches!(other, Data::Float(_)),
        },
    }
}

fn to_rows(table: Table) -> Result<Vec<SheetRow>, EligibilityError> {
    let mut lines = table
        .into_iter()
        .filter(|(_, cells)| cells.iter().any(|c| !c.text.is_empty()));
    let Some((_, header)) = lines.next() else {
        return Err(EligibilityError::RosterUnreadable(
            "the file is empty".into(),
        ));
    };
    let positions: Vec<(usize, Column)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Column::from_header(&c.text).map(|column| (i, column)))
        .collect();
    let missing: Vec<&'static str> = Column::ALL
        .into_iter()
        .filter(|c| c.required() && !positions.iter().any(|(_, p)| p == c))
        .map(|c| c.headers().0)
        .collect();
    if !missing.is_empty() {
        return Err(EligibilityError::RosterMissingColumns(missing));
    }
    Ok(lines
        .map(|(line, cells)| SheetRow {
            line,
            cells: positions
                .iter()
                .filter_map(|&(i, column)| cells.get(i).map(|c| (column, c.clone())))
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_row_keeps_the_line_an_editor_shows_after_blank_lines() {
        let csv = "学号,姓名,证件类型,证件号码,学历类别\r\n\
                   1,甲,护照,E1,自考\r\n\r\n\r\n\
                   2,乙,护照,E2,自考\r\n";
        let rows = read("名单.csv", csv.as_bytes()).unwrap();
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 5]);
    }
}
