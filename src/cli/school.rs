use chrono::Utc;
use clap::{Args, Subcommand};

use crate::configuration::Settings;
use crate::eligibility::schools;
use crate::startup::open_store;

#[derive(Args, Debug)]
pub struct SchoolArgs {
    #[command(subcommand)]
    pub command: SchoolCommand,
}

#[derive(Subcommand, Debug)]
pub enum SchoolCommand {
    /// Add a school, or add education categories to an existing one.
    Add {
        /// The school's full name, as students will type it.
        name: String,
        /// An education category it collects for (开放教育, 普通高等教育, 成人高等教育, 自学考试,
        /// 网络教育, …); repeat for several.
        #[arg(long = "category", required = true)]
        categories: Vec<String>,
    },
    /// List the schools and their categories.
    List,
}

pub async fn run(args: SchoolArgs, settings: &Settings) -> anyhow::Result<()> {
    match args.command {
        SchoolCommand::Add { name, categories } => {
            let db = open_store(&settings.store).await?;
            let (school, created) = schools::add(&db, &name, &categories, Utc::now())
                .await
                .map_err(super::refusal)?;
            let verb = if created { "added" } else { "updated" };
            println!(
                "{verb} {} ({}): {}",
                school.name,
                school.school_id,
                school.categories.join(", ")
            );
        }
        SchoolCommand::List => {
            let db = open_store(&settings.store).await?;
            for school in schools::list(&db).await.map_err(super::refusal)? {
                println!(
                    "{}\t{}\t{}",
                    school.school_id,
                    school.name,
                    school.categories.join(", ")
                );
            }
        }
    }
    Ok(())
}
