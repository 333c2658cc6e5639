//! Command implementations: each talks to the daemon through the API client
//! and prints what docker prints.

pub mod build;
pub mod compose;
pub mod container;
pub mod container_opts;
pub mod cp;
pub mod image;
pub mod interactive;
pub mod network;
pub mod registry;
mod system;
pub mod volume;

use std::process::ExitCode;

use berth_api::Client;

use crate::cli::{Cli, Command, ContainerCmd, ImageCmd, NetworkCmd, SystemCmd, VolumeCmd};
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
        Command::System(SystemCmd::Prune(a)) => build::system_prune(&client, &a).await,
        Command::Build(a)
        | Command::Image(ImageCmd::Build(a))
        | Command::Builder(build::BuilderCmd::Build(a)) => build::build(&client, &a).await,
        Command::Builder(build::BuilderCmd::Prune(a)) => build::builder_prune(&client, &a).await,
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
        Command::Inspect(a) => inspect_any(&client, &a).await,
        Command::Run(a) | Command::Container(ContainerCmd::Run(a)) => {
            container::run(&client, &a).await
        }
        Command::Create(a) | Command::Container(ContainerCmd::Create(a)) => {
            container::create_cmd(&client, &a).await
        }
        Command::Start(a) | Command::Container(ContainerCmd::Start(a)) => {
            container::start(&client, &a).await
        }
        Command::Stop(a) | Command::Container(ContainerCmd::Stop(a)) => {
            container::stop(&client, &a, "stop").await
        }
        Command::Restart(a) | Command::Container(ContainerCmd::Restart(a)) => {
            container::stop(&client, &a, "restart").await
        }
        Command::Kill(a) | Command::Container(ContainerCmd::Kill(a)) => {
            container::kill(&client, &a).await
        }
        Command::Rm(a) | Command::Container(ContainerCmd::Rm(a)) => {
            container::rm(&client, &a).await
        }
        Command::Ps(a) | Command::Container(ContainerCmd::Ls(a)) => {
            container::ps(&client, &a).await
        }
        Command::Logs(a) | Command::Container(ContainerCmd::Logs(a)) => {
            container::logs(&client, &a).await
        }
        Command::Wait(a) | Command::Container(ContainerCmd::Wait(a)) => {
            container::wait(&client, &a).await
        }
        Command::Rename(a) | Command::Container(ContainerCmd::Rename(a)) => {
            container::rename(&client, &a).await
        }
        Command::Pause(a) | Command::Container(ContainerCmd::Pause(a)) => {
            container::simple(&client, &a, "pause").await
        }
        Command::Unpause(a) | Command::Container(ContainerCmd::Unpause(a)) => {
            container::simple(&client, &a, "unpause").await
        }
        Command::Container(ContainerCmd::Inspect(a)) => {
            container::inspect(&client, a.format.as_deref(), &a.containers, a.size).await
        }
        Command::Container(ContainerCmd::Prune(a)) => container::prune(&client, &a).await,
        Command::Diff(a) | Command::Container(ContainerCmd::Diff(a)) => {
            container::diff(&client, &a).await
        }
        Command::Top(a) | Command::Container(ContainerCmd::Top(a)) => {
            container::top(&client, &a).await
        }
        Command::Update(a) | Command::Container(ContainerCmd::Update(a)) => {
            container::update(&client, &a).await
        }
        Command::Commit(a) | Command::Container(ContainerCmd::Commit(a)) => {
            container::commit(&client, &a).await
        }
        Command::Export(a) | Command::Container(ContainerCmd::Export(a)) => {
            container::export(&client, &a).await
        }
        Command::Exec(a) | Command::Container(ContainerCmd::Exec(a)) => {
            interactive::exec(&client, &a).await
        }
        Command::Attach(a) | Command::Container(ContainerCmd::Attach(a)) => {
            interactive::attach(&client, &a).await
        }
        Command::Cp(a) | Command::Container(ContainerCmd::Cp(a)) => cp::cp(&client, &a).await,
        Command::Port(a) | Command::Container(ContainerCmd::Port(a)) => {
            network::port(&client, &a).await
        }
        Command::Pull(a) | Command::Image(ImageCmd::Pull(a)) => registry::pull(&client, &a).await,
        Command::Push(a) | Command::Image(ImageCmd::Push(a)) => registry::push(&client, &a).await,
        Command::Login(a) => registry::login(&client, &a).await,
        Command::Logout(a) => registry::logout(&client, &a).await,
        Command::Search(a) => registry::search(&client, &a).await,
        Command::Registry(_) => unreachable!("handled in main"),
        Command::Volume(v) => match v {
            VolumeCmd::Create(a) => volume::create(&client, &a).await,
            VolumeCmd::Ls(a) => volume::ls(&client, &a).await,
            VolumeCmd::Inspect(a) => {
                volume::inspect(&client, a.format.as_deref(), &a.volumes).await
            }
            VolumeCmd::Rm(a) => volume::rm(&client, &a).await,
            VolumeCmd::Prune(a) => volume::prune(&client, &a).await,
        },
        Command::Network(n) => match n {
            NetworkCmd::Create(a) => network::create(&client, &a).await,
            NetworkCmd::Ls(a) => network::ls(&client, &a).await,
            NetworkCmd::Inspect(a) => {
                network::inspect(&client, a.format.as_deref(), &a.networks).await
            }
            NetworkCmd::Rm(a) => network::rm(&client, &a).await,
            NetworkCmd::Prune(a) => network::prune(&client, &a).await,
            NetworkCmd::Connect(a) => network::connect(&client, &a).await,
            NetworkCmd::Disconnect(a) => network::disconnect(&client, &a).await,
        },
        Command::Stats(a) | Command::Container(ContainerCmd::Stats(a)) => {
            container::stats(&client, &a).await
        }
        Command::Compose(a) => compose::run(&client, &a).await,
        Command::Shim(_) | Command::ShimExec(_) => unreachable!("handled in main"),
    }
}

/// `inspect`: containers first, then images, as docker looks them up.
async fn inspect_any(client: &Client, a: &crate::cli::Inspect) -> Result<ExitCode, CmdError> {
    match a.kind.as_deref() {
        Some("image") => return image::inspect(client, a.format.as_deref(), &a.names).await,
        Some("container") => {
            return container::inspect(client, a.format.as_deref(), &a.names, a.size).await
        }
        Some("network") => return network::inspect(client, a.format.as_deref(), &a.names).await,
        Some("volume") => return volume::inspect(client, a.format.as_deref(), &a.names).await,
        Some(k) => return Err(format!("\"{k}\" is not a valid value for --type").into()),
        None => {}
    }
    let mut found = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let c = format!(
            "/containers/{n}/json{}",
            if a.size { "?size=1" } else { "" }
        );
        match client.get_json(&c).await {
            Ok(v) => {
                found.push(v);
                continue;
            }
            Err(berth_api::ClientError::Daemon { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        match client.get_json(&format!("/images/{n}/json")).await {
            Ok(v) => {
                found.push(v);
                continue;
            }
            Err(berth_api::ClientError::Daemon { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        match client.get_json(&format!("/networks/{n}")).await {
            Ok(v) => found.push(v),
            Err(berth_api::ClientError::Daemon { status: 404, .. }) => {
                eprintln!("Error: No such object: {n}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    match a.format.as_deref() {
        Some(f) => crate::output::print_each(f, &found)?,
        None => println!(
            "{}",
            crate::output::pretty(&serde_json::Value::Array(found))
        ),
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `inspect` of one kind of object: docker's JSON (4-space indent) or a
/// template per object; names not found are reported after the others.
pub async fn inspect_objects(
    client: &Client,
    format: Option<&str>,
    names: &[String],
    path: impl Fn(&str) -> String,
) -> Result<ExitCode, CmdError> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match client.get_json(&path(n)).await {
            Ok(v) => found.push(v),
            Err(berth_api::ClientError::Daemon {
                status: 404,
                message,
            }) => errors.push(format!("Error: {message}")),
            Err(e) => return Err(e.into()),
        }
    }
    match format {
        Some(f) => crate::output::print_each(f, &found)?,
        None => println!(
            "{}",
            crate::output::pretty(&serde_json::Value::Array(found))
        ),
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
