use std::io::Read;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};

use crate::configuration::Settings;
use photo_ledger_domain::metadata::Role;

use crate::accounts::staff;
use crate::startup::open_store;

#[derive(Args, Debug)]
pub struct StaffArgs {
    #[command(subcommand)]
    pub command: StaffCommand,
}

#[derive(Subcommand, Debug)]
pub enum StaffCommand {
    /// Add a reviewer, print-staff (courier) or admin account, or reset an existing one's role
    /// and password.
    Add {
        /// The username staff sign in with (letters, digits, '.', '_', '-').
        name: String,
        /// reviewer, courier or admin.
        #[arg(long, value_parser = staff_role)]
        role: Role,
        /// Read the password from standard input (its first line), so it stays out of the shell
        /// history and the process list.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// A staff account's role: `student` is not one.
fn staff_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .filter(|role| role.is_staff())
        .ok_or_else(|| "a staff role is reviewer, courier or admin".to_string())
}

pub async fn run(args: StaffArgs, settings: &Settings) -> anyhow::Result<()> {
    match args.command {
        StaffCommand::Add {
            name,
            role,
            password_stdin: _,
        } => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("cannot read the password from standard input")?;
            let password = input.lines().next().unwrap_or_default().to_string();
            let db = open_store(&settings.store).await?;
            let created = staff::add(&db, &name, role, password, Utc::now()).await?;
            let verb = if created { "added" } else { "updated" };
            println!("{verb} {name} ({})", role.as_str());
            Ok(())
        }
    }
}
