//! The `berth compose` command tree: compose v2's global flags and
//! subcommands (plus v1's `scale` and `--compatibility`), as clap
//! definitions.

use clap::{Args, Subcommand};

// `compose [OPTIONS] COMMAND`.
#[derive(Args, Debug, Clone)]
pub struct ComposeArgs {
    /// Compose configuration files (repeatable; `-` reads standard input).
    #[arg(short = 'f', long = "file")]
    pub files: Vec<String>,
    /// Project name.
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first file).
    #[arg(long = "project-directory")]
    pub project_directory: Option<String>,
    /// Alternate environment files (repeatable).
    #[arg(long = "env-file")]
    pub env_files: Vec<String>,
    /// Profiles to enable (repeatable).
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
    /// Run compose in backward compatibility mode (v1 names: `project_service_1`).
    #[arg(long = "compatibility")]
    pub compatibility: bool,
    /// Control when to print ANSI control characters ("never", "always", "auto").
    #[arg(long = "ansi", default_value = "auto")]
    pub ansi: String,
    /// Set type of progress output (auto, tty, plain, quiet).
    #[arg(long = "progress", default_value = "auto")]
    pub progress: String,
    /// Control max parallelism, -1 for unlimited.
    #[arg(long = "parallel", default_value_t = -1, allow_hyphen_values = true)]
    pub parallel: i64,
    /// The command.
    #[command(subcommand)]
    pub command: ComposeCmd,
}

/// The compose subcommands.
#[derive(Subcommand, Debug, Clone)]
#[command(defer = true)]
pub enum ComposeCmd {
    /// Build or rebuild services.
    Build(BuildArgs),
    /// Parse, resolve and render the compose file in canonical format.
    #[command(alias = "convert")]
    Config(ConfigArgs),
    /// Copy files/folders between a service container and the local filesystem.
    Cp(CpArgs),
    /// Create containers for a service.
    Create(CreateArgs),
    /// Stop and remove containers, networks.
    Down(DownArgs),
    /// Receive real time events from containers.
    Events(EventsArgs),
    /// Execute a command in a running container.
    Exec(ExecArgs),
    /// List images used by the created containers.
    Images(ImagesArgs),
    /// Force stop service containers.
    Kill(KillArgs),
    /// View output from containers.
    Logs(LogsArgs),
    /// List running compose projects.
    Ls(LsArgs),
    /// Pause services.
    Pause(Services),
    /// Print the public port for a port binding.
    Port(PortArgs),
    /// List containers.
    Ps(PsArgs),
    /// Pull service images.
    Pull(PullArgs),
    /// Push service images.
    Push(PushArgs),
    /// Restart service containers.
    Restart(RestartArgs),
    /// Removes stopped service containers.
    Rm(RmArgs),
    /// Run a one-off command on a service.
    Run(RunArgs),
    /// Scale services (`SERVICE=NUM`...).
    Scale(ScaleArgs),
    /// Start services.
    Start(Services),
    /// Stop services.
    Stop(StopArgs),
    /// Display the running processes.
    Top(Services),
    /// Unpause services.
    Unpause(Services),
    /// Create and start containers.
    Up(UpArgs),
    /// Show the Docker Compose version information.
    Version(VersionArgs),
}

// Service names.
#[derive(Args, Debug, Clone)]
pub struct Services {
    /// Services (default: all).
    pub services: Vec<String>,
}

// `build`.
#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    #[arg(long = "pull")]
    pub pull: bool,
    /// Don't print anything to STDOUT.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Set build-time variables for services (KEY=VALUE).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Also build dependencies.
    #[arg(long = "with-dependencies")]
    pub with_dependencies: bool,
    /// Services to build (default: all with a build section).
    pub services: Vec<String>,
}

// `config`.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Print the service names, one per line.
    #[arg(long = "services")]
    pub services: bool,
    /// Print the volume names, one per line.
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Print the image names, one per line.
    #[arg(long = "images")]
    pub images: bool,
    /// Print the profile names, one per line.
    #[arg(long = "profiles")]
    pub profiles: bool,
    /// Only validate the configuration, don't print anything.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format the output (yaml or json).
    #[arg(long = "format", default_value = "yaml")]
    pub format: String,
    /// Print the service config hash, one per line ("*" for all services;
    /// compose v2's hash: the label berth writes is docker-compose 1.29's).
    #[arg(long = "hash")]
    pub hash: Option<String>,
    /// Save to file (default to stdout).
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// Services to render (default: all).
    #[arg(value_name = "SERVICE")]
    pub only: Vec<String>,
}

// `cp`.
#[derive(Args, Debug, Clone)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Index of the container if the service has multiple replicas.
    #[arg(long = "index", default_value_t = 0)]
    pub index: u32,
    /// SERVICE:SRC_PATH or a local path.
    pub src: String,
    /// SERVICE:DEST_PATH or a local path.
    pub dst: String,
}

// Options shared by `create` and `up`.
#[derive(Args, Debug, Clone, Default)]
pub struct CreateOpts {
    /// Build images before starting containers.
    #[arg(long = "build")]
    pub build: bool,
    /// Don't build an image, even if it's policy.
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Pull image before running ("always", "missing", "never").
    #[arg(long = "pull", default_value = "policy")]
    pub pull: String,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM); overrides the file.
    #[arg(long = "scale")]
    pub scale: Vec<String>,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers.
    #[arg(short = 'V', long = "renew-anon-volumes")]
    pub renew_anon_volumes: bool,
    /// Pull without printing progress information.
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
}

// `create`.
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Creation options.
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `up`.
#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// Creation options.
    #[command(flatten)]
    pub opts: CreateOpts,
    /// Detached mode: run containers in the background.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Don't start linked services.
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Don't start the services after creating them.
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long = "wait")]
    pub wait: bool,
    /// Maximum duration to wait for the project to be running|healthy (seconds).
    #[arg(long = "wait-timeout")]
    pub wait_timeout: Option<u64>,
    /// Stops all containers if any container was stopped. Incompatible with -d.
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure. Incompatible with -d.
    #[arg(long = "abort-on-container-failure")]
    pub abort_on_container_failure: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit.
    #[arg(long = "exit-code-from")]
    pub exit_code_from: Option<String>,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i64>,
    /// Produce monochrome output.
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs.
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show timestamps.
    #[arg(long = "timestamps")]
    pub timestamps: bool,
    /// Restrict attaching to the specified services.
    #[arg(long = "attach")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services.
    #[arg(long = "no-attach")]
    pub no_attach: Vec<String>,
    /// Automatically attach to log output of dependent services.
    #[arg(long = "attach-dependencies")]
    pub attach_dependencies: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `down`.
#[derive(Args, Debug, Clone)]
pub struct DownArgs {
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Remove images used by services ("local" or "all").
    #[arg(long = "rmi")]
    pub rmi: Option<String>,
    /// Remove named volumes declared in the "volumes" section and anonymous volumes.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i64>,
    /// Services (default: all, networks and volumes included).
    pub services: Vec<String>,
}

// `events`.
#[derive(Args, Debug, Clone)]
pub struct EventsArgs {
    /// Output events as a stream of json objects.
    #[arg(long = "json")]
    pub json: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `exec`.
#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Set environment variables (KEY=VALUE).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Index of the container if the service has multiple replicas.
    #[arg(long = "index", default_value_t = 0)]
    pub index: u32,
    /// Disable pseudo-TTY allocation (default: a TTY when stdin is one).
    #[arg(short = 'T', long = "no-TTY", alias = "no-tty")]
    pub no_tty: bool,
    /// Give extended privileges to the process.
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Run the command as this user.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Path to workdir directory for this command.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Keep STDIN open (always on, accepted for compatibility).
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// SERVICE COMMAND [ARGS...].
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SERVICE COMMAND [ARGS...]"
    )]
    pub cmd: Vec<String>,
}

// `images`.
#[derive(Args, Debug, Clone)]
pub struct ImagesArgs {
    /// Only display IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format the output (table or json).
    #[arg(long = "format", default_value = "table")]
    pub format: String,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `kill`.
#[derive(Args, Debug, Clone)]
pub struct KillArgs {
    /// SIGNAL to send to the container.
    #[arg(short = 's', long = "signal", default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `logs`.
#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container.
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Produce monochrome output.
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs.
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show logs since timestamp or relative (e.g. 42m).
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative (e.g. 42m).
    #[arg(long = "until")]
    pub until: Option<String>,
    /// Index of the container if the service has multiple replicas.
    #[arg(long = "index", default_value_t = 0)]
    pub index: u32,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `ls`.
#[derive(Args, Debug, Clone)]
pub struct LsArgs {
    /// Show all stopped Compose projects.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display project names.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format the output (table or json).
    #[arg(long = "format", default_value = "table")]
    pub format: String,
    /// Filter output based on conditions provided (name=...).
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

// `port`.
#[derive(Args, Debug, Clone)]
pub struct PortArgs {
    /// Index of the container if the service has multiple replicas.
    #[arg(long = "index", default_value_t = 0)]
    pub index: u32,
    /// tcp or udp.
    #[arg(long = "protocol", default_value = "tcp")]
    pub protocol: String,
    /// The service.
    pub service: String,
    /// The private port.
    pub private_port: u16,
}

// `ps`.
#[derive(Args, Debug, Clone)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display services.
    #[arg(long = "services")]
    pub services_only: bool,
    /// Format output using a custom template ("table", "json" or a Go template).
    #[arg(long = "format", default_value = "table")]
    pub format: String,
    /// Filter services by a property (status=...).
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Filter services by status (paused, restarting, removing, running, dead, created, exited).
    #[arg(long = "status")]
    pub status: Vec<String>,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Include orphaned services (not declared by project).
    #[arg(long = "orphans", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub orphans: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `pull`.
#[derive(Args, Debug, Clone)]
pub struct PullArgs {
    /// Pull what it can and ignores images with pull failures.
    #[arg(long = "ignore-pull-failures")]
    pub ignore_pull_failures: bool,
    /// Also pull services declared as dependencies.
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    /// Pull without printing progress information.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Ignore images that can be built.
    #[arg(long = "ignore-buildable")]
    pub ignore_buildable: bool,
    /// Apply pull policy ("missing"|"always").
    #[arg(long = "policy")]
    pub policy: Option<String>,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `push`.
#[derive(Args, Debug, Clone)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures.
    #[arg(long = "ignore-push-failures")]
    pub ignore_push_failures: bool,
    /// Push without printing progress information.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Also push images of services declared as dependencies.
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `restart`.
#[derive(Args, Debug, Clone)]
pub struct RestartArgs {
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i64>,
    /// Don't restart dependent services.
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `rm`.
#[derive(Args, Debug, Clone)]
pub struct RmArgs {
    /// Don't ask to confirm removal.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Stop the containers, if required, before removing.
    #[arg(short = 's', long = "stop")]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long = "rm")]
    pub rm: bool,
    /// Set environment variables (KEY=VALUE).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Add or override a label (KEY=VALUE).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Override the entrypoint of the image.
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Assign a name to the container.
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Disable pseudo-TTY allocation (default: a TTY when stdin is one).
    #[arg(short = 'T', long = "no-TTY", alias = "no-tty")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached (on by default).
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Run as specified username or uid.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Bind mount a volume.
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Publish a container's port(s) to the host.
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host.
    #[arg(long = "service-ports")]
    pub service_ports: bool,
    /// Use the service's network aliases in the network(s) the container connects to.
    #[arg(long = "use-aliases")]
    pub use_aliases: bool,
    /// Don't start linked services.
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Build image before starting container.
    #[arg(long = "build")]
    pub build: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long = "pull", default_value = "policy")]
    pub pull: String,
    /// SERVICE [COMMAND] [ARGS...].
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SERVICE [COMMAND] [ARGS...]"
    )]
    pub cmd: Vec<String>,
}

// `scale`.
#[derive(Args, Debug, Clone)]
pub struct ScaleArgs {
    /// Don't start linked services.
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// SERVICE=NUM pairs.
    #[arg(required = true, value_name = "SERVICE=NUM")]
    pub pairs: Vec<String>,
}

// `stop`.
#[derive(Args, Debug, Clone)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i64>,
    /// Services (default: all).
    pub services: Vec<String>,
}

// `version`.
#[derive(Args, Debug, Clone)]
pub struct VersionArgs {
    /// Shows only Compose's version number.
    #[arg(long = "short")]
    pub short: bool,
    /// Format the output (pretty or json).
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}
