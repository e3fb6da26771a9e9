//! `clx login`: check the login, show the user and the dialect.

use serde::Serialize;

use super::Ctx;
use crate::output::{Failure, Report, clean, print};

pub async fn run(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let user = ctx.client.session_user().await?;
    let login = Login { user, dialect: ctx.client.dialect().to_string(), url: ctx.client.url().to_owned() };
    print(ctx.json, &login);
    Ok(())
}

#[derive(Serialize)]
struct Login {
    user: String,
    dialect: String,
    url: String,
}

impl Report for Login {
    fn text(&self) -> String {
        format!("logged in to {} as {} over {}", self.url, clean(&self.user), self.dialect)
    }
}
