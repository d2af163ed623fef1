//! `--columns user_id=customer,title=name,…`: which of the file's names holds
//! each column of the contract.

use std::str::FromStr;

/// The contract's columns, in the order rows are built from.
pub const COLUMNS: [&str; 8] = [
    "user_id", "title", "author", "isbn13", "year", "genre", "score", "rank",
];
/// Columns a file may leave out.
pub(super) const OPTIONAL: [&str; 2] = ["isbn13", "rank"];

pub(super) const USER_ID: usize = 0;
pub(super) const TITLE: usize = 1;
pub(super) const AUTHOR: usize = 2;
pub(super) const ISBN13: usize = 3;
pub(super) const YEAR: usize = 4;
pub(super) const GENRE: usize = 5;
pub(super) const SCORE: usize = 6;
pub(super) const RANK: usize = 7;

/// The file's name for each of [`COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    names: [String; 8],
}

impl Default for ColumnMap {
    fn default() -> Self {
        Self {
            names: COLUMNS.map(str::to_owned),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnsError {
    #[error("'{0}' is not COLUMN=NAME: write e.g. user_id=customer")]
    NotAPair(String),
    #[error("'{0}' is not a column of the contract: use {list}", list = COLUMNS.join(", "))]
    Unknown(String),
    #[error("{0} is mapped twice")]
    Twice(String),
}

impl FromStr for ColumnMap {
    type Err = ColumnsError;

    fn from_str(value: &str) -> Result<Self, ColumnsError> {
        let mut map = Self::default();
        let mut seen = [false; 8];
        for pair in value
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let (column, name) = pair
                .split_once('=')
                .map(|(column, name)| (column.trim(), name.trim()))
                .filter(|(column, name)| !column.is_empty() && !name.is_empty())
                .ok_or_else(|| ColumnsError::NotAPair(pair.to_owned()))?;
            let index = COLUMNS
                .iter()
                .position(|known| *known == column)
                .ok_or_else(|| ColumnsError::Unknown(column.to_owned()))?;
            if std::mem::replace(&mut seen[index], true) {
                return Err(ColumnsError::Twice(column.to_owned()));
            }
            map.names[index] = name.to_owned();
        }
        Ok(map)
    }
}

impl ColumnMap {
    /// Where each column is among `found` (a header, a schema's names);
    /// a required one missing is an error naming it and what was found.
    pub(super) fn locate<S: AsRef<str>>(
        &self,
        found: &[S],
    ) -> Result<[Option<usize>; 8], super::ReadError> {
        let mut at = [None; 8];
        for (index, name) in self.names.iter().enumerate() {
            at[index] = found
                .iter()
                .position(|candidate| candidate.as_ref() == name);
            if at[index].is_none() && !OPTIONAL.contains(&COLUMNS[index]) {
                return Err(super::ReadError::MissingColumn {
                    column: COLUMNS[index],
                    name: name.clone(),
                    found: found.iter().map(|name| name.as_ref().to_owned()).collect(),
                });
            }
        }
        Ok(at)
    }

    /// The file's name for a column of the contract.
    pub(super) fn name(&self, index: usize) -> &str {
        &self.names[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_map_columns_and_mistakes_are_named() {
        let map: ColumnMap = "user_id=customer, title=name".parse().unwrap();
        assert_eq!(map.name(USER_ID), "customer");
        assert_eq!(map.name(TITLE), "name");
        assert_eq!(map.name(SCORE), "score");
        assert_eq!("".parse::<ColumnMap>().unwrap(), ColumnMap::default());
        assert!(matches!(
            "user=x".parse::<ColumnMap>(),
            Err(ColumnsError::Unknown(_))
        ));
        assert!(matches!(
            "title".parse::<ColumnMap>(),
            Err(ColumnsError::NotAPair(_))
        ));
        assert!(matches!(
            "title=a,title=b".parse::<ColumnMap>(),
            Err(ColumnsError::Twice(_))
        ));
    }
}
