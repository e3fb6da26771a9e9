//! `clx datastore ls`: where local libraries can keep their files.

use serde::Serialize;

use super::Ctx;
use crate::args::DatastoreCommand;
use crate::output::{Failure, Row, clean, human, print};

pub async fn run(command: &DatastoreCommand, ctx: &Ctx<'_>) -> Result<(), Failure> {
    match command {
        DatastoreCommand::Ls => {
            let rows: Vec<DatastoreRow> = ctx.client.datastores(None).await?.into_iter().map(DatastoreRow).collect();
            print(ctx.json, &rows);
        }
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(transparent)]
struct DatastoreRow(cl_sdk::types::DatastoreSummary);

impl Row for DatastoreRow {
    const HEADER: &'static [&'static str] = &["NAME", "TYPE", "FREE", "CAPACITY", "ID"];
    fn cells(&self) -> Vec<String> {
        let bytes = |b: Option<i64>| b.and_then(|b| u64::try_from(b).ok()).map_or_else(|| "-".to_owned(), human);
        let d = &self.0;
        vec![
            clean(&d.name).into_owned(),
            clean(&d.type_.to_string()).into_owned(),
            bytes(d.free_space),
            bytes(d.capacity),
            clean(&d.datastore).into_owned(),
        ]
    }
}
