//! Command implementations: each talks to the daemon through the API client
//! and prints what docker prints.

mod image;
mod system;

use std::process::ExitCode;

use berth_api::Client;

use crate::cli::{Cli, Command, ImageCmd, SystemCmd};
use crate::output::CmdError;

/// Runs a parsed command.
pub async fn dispatch(cli: Cli) -> Result<ExitCode, CmdError> {
    let client = Client::from_env(cli.host.as_deref())?;
    match cli.command {
        Command::Daemon(_) => unreachable!("handled in main"),
        Command::Version(a) => system::version(&client, a.format.as_deref()).await,
        Command::Info(a) | Command::System(SystemCmd::Info(a)) => {
            system::info(&client, a.format.as_deref()).await
        }
        Command::System(SystemCmd::Df(a)) => system::df(&client, &a).await,
        Command::Events(a) | Command::System(SystemCmd::Events(a)) => {
            system::events(&client, &a).await
        }
        Command::Images(a) | Command::Image(ImageCmd::Ls(a)) => image::ls(&client, &a).await,
        Command::Rmi(a) | Command::Image(ImageCmd::Rm(a)) => image::rm(&client, &a).await,
        Command::Tag(a) | Command::Image(ImageCmd::Tag(a)) => image::tag(&client, &a).await,
        Command::Load(a) | Command::Image(ImageCmd::Load(a)) => image::load(&client, &a).await,
        Command::Save(a) | Command::Image(ImageCmd::Save(a)) => image::save(&client, &a).await,
        Command::Import(a) | Command::Image(ImageCmd::Import(a)) => {
            image::import(&client, &a).await
        }
        Command::History(a) | Command::Image(ImageCmd::History(a)) => {
            image::history(&client, &a).await
        }
        Command::Image(ImageCmd::Inspect(a)) => {
            image::inspect(&client, a.format.as_deref(), &a.images).await
        }
        Command::Image(ImageCmd::Prune(a)) => image::prune(&client, &a).await,
        Command::Inspect(a) => {
            if let Some(k) = a.kind.as_deref().filter(|k| *k != "image") {
                return Err(format!(
                    "\"{k}\" is not a valid value for --type (berth knows: image)"
                )
                .into());
            }
            image::inspect(&client, a.format.as_deref(), &a.names).await
        }
    }
}
