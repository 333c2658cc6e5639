//! The command tree: docker's commands, short forms and flags, as clap
//! definitions. Global flags (`-H`, `-D`) come before the command, as in
//! docker, so `history -H` can still mean `--human`.
//!
//! Every subcommand's flags are built only when that subcommand is invoked
//! (`#[command(defer = true)]`): building the whole tree cost ~3 ms of every
//! command's start. The argument structs therefore carry plain comments, not
//! doc comments: a deferred struct's doc comment would replace the command's
//! about line in `--help`.

use clap::{Args, Parser, Subcommand};

/// A self-sufficient container engine, compatible with Docker.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path or tcp://host:port).
    #[arg(short = 'H', long = "host", global = false)]
    pub host: Option<String>,
    /// Enable debug output.
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Set the logging level (debug, info, warn, error, fatal).
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    pub log_level: String,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Run the berth daemon.
    Daemon(DaemonArgs),
    /// Show the berth version information.
    Version(FormatOnly),
    /// Display system-wide information.
    Info(FormatOnly),
    /// Manage berth (info, df, events, prune).
    #[command(subcommand)]
    System(SystemCmd),
    /// Get real time events from the server.
    Events(EventsArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Build an image from a Dockerfile.
    Build(crate::commands::build::BuildCli),
    /// Manage builds (build, prune).
    #[command(subcommand)]
    Builder(crate::commands::build::BuilderCmd),
    /// List images.
    Images(ImageLs),
    /// Remove one or more images.
    Rmi(ImageRm),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(ImageTag),
    /// Load an image from a tar archive or STDIN.
    Load(ImageLoad),
    /// Save one or more images to a tar archive (streamed to STDOUT by default).
    Save(ImageSave),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImageImport),
    /// Show the history of an image.
    History(ImageHistory),
    /// Return low-level information on berth objects.
    Inspect(Inspect),
    /// Create and run a new container from an image.
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container.
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Remove one or more containers.
    Rm(RmArgs),
    /// List containers.
    Ps(PsArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(Names),
    /// Rename a container.
    Rename(RenameArgs),
    /// Pause all processes within one or more containers.
    Pause(Names),
    /// Unpause all processes within one or more containers.
    Unpause(Names),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(OneContainer),
    /// Display the running processes of a container.
    Top(TopArgs),
    /// Update configuration of one or more containers.
    Update(UpdateArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive.
    Export(ExportArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(StatsArgs),
    /// Execute a command in a running container.
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(AttachArgs),
    /// List port mappings or a specific mapping for the container.
    Port(PortArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Authenticate to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout(LogoutArgs),
    /// Search a registry for images (Docker Hub unless the term names one).
    Search(SearchArgs),
    /// berth's own image registry (serve, gc).
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// Define and run multi-container applications.
    Compose(Box<crate::commands::compose::ComposeArgs>),
    /// Run a container's shim (internal: started by the daemon).
    #[command(hide = true)]
    Shim(ShimArgs),
    /// Run a process inside a running container (internal: exec, health checks).
    #[command(hide = true, name = "shim-exec")]
    ShimExec(ShimExecArgs),
}

// `berth shim-exec` (internal): reads its request from fd 3.
#[derive(Args, Debug)]
pub struct ShimExecArgs {}

// `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Container options.
    #[command(flatten)]
    pub opts: crate::commands::container_opts::ContainerOpts,
    /// `run`-only options.
    #[command(flatten)]
    pub run: crate::commands::container_opts::RunOnly,
    /// IMAGE [COMMAND] [ARG...]: flags stop at the image, as in docker.
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub cmd: Vec<String>,
}

// `create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Container options.
    #[command(flatten)]
    pub opts: crate::commands::container_opts::ContainerOpts,
    /// IMAGE [COMMAND] [ARG...]: flags stop at the image, as in docker.
    #[arg(
        required = true,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    pub cmd: Vec<String>,
}

// `start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// `stop` and `restart`.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    /// Signal to send to the container.
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// `kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// `rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove the specified link.
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// `ps`.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Filter output based on conditions provided.
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states).
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display total file sizes.
    #[arg(short = 's', long = "size")]
    pub size: bool,
}

// `logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Show extra details provided to logs.
    #[arg(long = "details")]
    pub details: bool,
    /// Follow log output.
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show logs since timestamp or relative (e.g. 42m).
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs.
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs before a timestamp or relative (e.g. 42m).
    #[arg(long = "until")]
    pub until: Option<String>,
    /// The container.
    pub container: String,
}

// A list of containers.
#[derive(Args, Debug)]
pub struct Names {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// `rename`.
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

// `container prune`.
#[derive(Args, Debug)]
pub struct ContainerPrune {
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

// `container inspect`.
#[derive(Args, Debug)]
pub struct ContainerInspect {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Display total file sizes.
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth container …`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ContainerCmd {
    /// List containers.
    #[command(alias = "list", alias = "ps")]
    Ls(PsArgs),
    /// Create and run a new container from an image.
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container.
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Remove one or more containers.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Block until one or more containers stop.
    Wait(Names),
    /// Rename a container.
    Rename(RenameArgs),
    /// Pause all processes within one or more containers.
    Pause(Names),
    /// Unpause all processes within one or more containers.
    Unpause(Names),
    /// Display detailed information on one or more containers.
    Inspect(ContainerInspect),
    /// Remove all stopped containers.
    Prune(ContainerPrune),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(OneContainer),
    /// Display the running processes of a container.
    Top(TopArgs),
    /// Update configuration of one or more containers.
    Update(UpdateArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive.
    Export(ExportArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(StatsArgs),
    /// Execute a command in a running container.
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(AttachArgs),
    /// List port mappings or a specific mapping for the container.
    Port(PortArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
}

// `cp`.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, SRC_PATH or - (a tar stream).
    pub src: String,
    /// CONTAINER:DEST_PATH, DEST_PATH or -.
    pub dst: String,
}

// `port`.
#[derive(Args, Debug)]
pub struct PortArgs {
    /// The container.
    pub container: String,
    /// PRIVATE_PORT[/PROTO].
    pub port: Option<String>,
}

/// `volume` subcommands.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum VolumeCmd {
    /// Create a volume.
    Create(VolumeCreate),
    /// List volumes.
    #[command(alias = "list")]
    Ls(VolumeLs),
    /// Display detailed information on one or more volumes.
    Inspect(VolumeInspect),
    /// Remove one or more volumes.
    #[command(alias = "remove")]
    Rm(VolumeRm),
    /// Remove unused local volumes.
    Prune(VolumePrune),
}

// `volume create`.
#[derive(Args, Debug)]
pub struct VolumeCreate {
    /// Specify volume driver name.
    #[arg(short = 'd', long = "driver", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume.
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Set driver specific options.
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Specify volume name (as the seminar's `--name`).
    #[arg(long = "name", hide = true)]
    pub name_flag: Option<String>,
    /// The volume's name.
    pub name: Option<String>,
}

// `volume ls`.
#[derive(Args, Debug)]
pub struct VolumeLs {
    /// Provide filter values (e.g. "dangling=true").
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Only display volume names.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

// `volume inspect`.
#[derive(Args, Debug)]
pub struct VolumeInspect {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Volumes.
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

// `volume rm`.
#[derive(Args, Debug)]
pub struct VolumeRm {
    /// Force the removal of one or more volumes.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Volumes.
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

// `volume prune`.
#[derive(Args, Debug)]
pub struct VolumePrune {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>").
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// `network` subcommands.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum NetworkCmd {
    /// Create a network.
    Create(NetworkCreate),
    /// List networks.
    #[command(alias = "list")]
    Ls(NetworkLs),
    /// Display detailed information on one or more networks.
    Inspect(NetworkInspect),
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm(NetworkRm),
    /// Remove all unused networks.
    Prune(NetworkPrune),
    /// Connect a container to a network.
    Connect(NetworkConnect),
    /// Disconnect a container from a network.
    Disconnect(NetworkDisconnect),
}

// `network create`.
#[derive(Args, Debug)]
pub struct NetworkCreate {
    /// Driver to manage the Network.
    #[arg(short = 'd', long = "driver", default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment.
    #[arg(long = "subnet")]
    pub subnet: Vec<String>,
    /// Allocate container ip from a sub-range.
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// IPv4 Gateway for the master subnet.
    #[arg(long = "gateway")]
    pub gateway: Vec<String>,
    /// Auxiliary IPv4 addresses used by Network driver.
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// Restrict external access to the network.
    #[arg(long = "internal")]
    pub internal: bool,
    /// Enable manual container attachment.
    #[arg(long = "attachable")]
    pub attachable: bool,
    /// Enable IPv6 networking.
    #[arg(long = "ipv6")]
    pub ipv6: bool,
    /// IP Address Management Driver.
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set metadata on a network.
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Set driver specific options.
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// The network's name.
    pub name: String,
}

// `network ls`.
#[derive(Args, Debug)]
pub struct NetworkLs {
    /// Provide filter values (e.g. "driver=bridge").
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Do not truncate the output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

// `network inspect`.
#[derive(Args, Debug)]
pub struct NetworkInspect {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Verbose output for diagnostics.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Networks.
    #[arg(required = true)]
    pub networks: Vec<String>,
}

// `network rm`.
#[derive(Args, Debug)]
pub struct NetworkRm {
    /// Do not error if the network does not exist.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Networks.
    #[arg(required = true)]
    pub networks: Vec<String>,
}

// `network prune`.
#[derive(Args, Debug)]
pub struct NetworkPrune {
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

// `network connect`.
#[derive(Args, Debug)]
pub struct NetworkConnect {
    /// Add network-scoped alias for the container.
    #[arg(long = "alias")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104").
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// Add link to another container.
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// The network.
    pub network: String,
    /// The container.
    pub container: String,
}

// `network disconnect`.
#[derive(Args, Debug)]
pub struct NetworkDisconnect {
    /// Force the container to disconnect from a network.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// The network.
    pub network: String,
    /// The container.
    pub container: String,
}

// `exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Give extended privileges to the command.
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]").
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// The container.
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

// `attach`.
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container.
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN.
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// The container.
    pub container: String,
}

// `stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Containers (default: all running).
    pub containers: Vec<String>,
}

// `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// The container.
    pub container: String,
}

// `commit`.
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short = 'a', long = "author")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(short = 'p', long = "pause", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// The container.
    pub container: String,
    /// [REPOSITORY[:TAG]]
    pub repository: Option<String>,
}

// `update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS period.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS quota.
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs.
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit.
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits.
    #[arg(long = "restart")]
    pub restart: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// One container.
#[derive(Args, Debug)]
pub struct OneContainer {
    /// The container.
    pub container: String,
}

// `top`.
#[derive(Args, Debug)]
pub struct TopArgs {
    /// The container.
    pub container: String,
    /// Options for ps (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

// `berth shim --standby` (internal): reads its container's arguments, one
// JSON line, from stdin.
#[derive(Args, Debug)]
pub struct ShimArgs {
    // Wait for the arguments (the only form; it names the process in ps).
    #[arg(long = "standby")]
    pub standby: bool,
}

// `--format` alone.
#[derive(Args, Debug)]
pub struct FormatOnly {
    /// Format output using a custom template ('json' or a Go template).
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

/// `berth system …`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum SystemCmd {
    /// Display system-wide information.
    Info(FormatOnly),
    /// Show berth disk usage.
    Df(DfArgs),
    /// Get real time events from the server.
    Events(EventsArgs),
    /// Remove unused data (containers, networks, images, build cache).
    Prune(crate::commands::build::SystemPrune),
}

// `system df`.
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
}

// `events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (key=value).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Show all events created since timestamp.
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long = "until")]
    pub until: Option<String>,
}

/// `berth image …`.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum ImageCmd {
    /// List images.
    #[command(alias = "list")]
    Ls(ImageLs),
    /// Build an image from a Dockerfile.
    Build(crate::commands::build::BuildCli),
    /// Remove one or more images.
    #[command(alias = "rmi", alias = "remove")]
    Rm(ImageRm),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(ImageTag),
    /// Load an image from a tar archive or STDIN.
    Load(ImageLoad),
    /// Save one or more images to a tar archive.
    Save(ImageSave),
    /// Import the contents from a tarball to create a filesystem image.
    Import(ImageImport),
    /// Show the history of an image.
    History(ImageHistory),
    /// Display detailed information on one or more images.
    Inspect(ImageInspect),
    /// Remove unused images.
    Prune(ImagePrune),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
}

// `pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository.
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable.
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Suppress verbose output.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Skip image verification (accepted, as docker does).
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub disable_content_trust: bool,
    /// NAME[:TAG|@DIGEST].
    pub image: String,
}

// `push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository.
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Skip image signing (accepted, as docker does).
    #[arg(long = "disable-content-trust", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub disable_content_trust: bool,
    /// NAME[:TAG].
    pub image: String,
}

// `login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username.
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Password.
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// The registry (Docker Hub by default).
    pub server: Option<String>,
}

// `logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry (Docker Hub by default).
    pub server: Option<String>,
}

// `search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Filter output based on conditions provided.
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Max number of search results.
    #[arg(long = "limit", default_value_t = 0, allow_negative_numbers = true)]
    pub limit: i64,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// [REGISTRY/]TERM.
    pub term: String,
}

/// `registry` subcommands.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum RegistryCmd {
    /// Serve an image registry (Docker registry v2 / OCI distribution API).
    Serve(RegistryServe),
    /// Remove blobs no manifest refers to.
    Gc(RegistryGc),
}

// `registry serve`.
#[derive(Args, Debug)]
pub struct RegistryServe {
    /// Address to listen on (HOST:PORT; default 127.0.0.1:5000).
    #[arg(long = "addr")]
    pub addr: Option<String>,
    /// Storage directory (default /var/lib/berth-registry).
    #[arg(long = "root")]
    pub root: Option<String>,
    /// Configuration file (JSON; flags override it).
    #[arg(long = "config")]
    pub config: Option<String>,
    /// TLS certificate (PEM).
    #[arg(long = "tls-cert")]
    pub tls_cert: Option<String>,
    /// TLS key (PEM).
    #[arg(long = "tls-key")]
    pub tls_key: Option<String>,
    /// htpasswd file (bcrypt entries) for basic authentication.
    #[arg(long = "htpasswd")]
    pub htpasswd: Option<String>,
}

// `registry gc`.
#[derive(Args, Debug)]
pub struct RegistryGc {
    /// Storage directory.
    #[arg(long = "root", default_value = "/var/lib/berth-registry")]
    pub root: String,
    /// Only report what would be removed.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Also delete manifests no tag refers to.
    #[arg(long = "delete-untagged")]
    pub delete_untagged: bool,
}

// `image ls`.
#[derive(Args, Debug)]
pub struct ImageLs {
    /// Show all images (default hides intermediate images).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Show digests.
    #[arg(long = "digests")]
    pub digests: bool,
    /// Filter output based on conditions provided.
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// [REPOSITORY[:TAG]]
    pub repository: Option<String>,
}

// `image rm`.
#[derive(Args, Debug)]
pub struct ImageRm {
    /// Force removal of the image.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// Images to remove.
    #[arg(required = true)]
    pub images: Vec<String>,
}

// `image tag`.
#[derive(Args, Debug)]
pub struct ImageTag {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

// `image load`.
#[derive(Args, Debug)]
pub struct ImageLoad {
    /// Read from tar archive file, instead of STDIN.
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,
    /// Suppress the load output.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

// `image save`.
#[derive(Args, Debug)]
pub struct ImageSave {
    /// Write to a file, instead of STDOUT.
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// Images to save.
    #[arg(required = true)]
    pub images: Vec<String>,
}

// `image import`.
#[derive(Args, Debug)]
pub struct ImageImport {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image.
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable.
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// file|- (a tarball, or - for STDIN).
    pub file: String,
    /// [REPOSITORY[:TAG]]
    pub repository: Option<String>,
}

// `image history`.
#[derive(Args, Debug)]
pub struct ImageHistory {
    /// Format output using a custom template.
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long = "human", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// The image.
    pub image: String,
}

// `image inspect`.
#[derive(Args, Debug)]
pub struct ImageInspect {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Images to inspect.
    #[arg(required = true)]
    pub images: Vec<String>,
}

// `inspect` (any object).
#[derive(Args, Debug)]
pub struct Inspect {
    /// Format output using a custom template.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Only inspect objects of the given type (image).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes if the type is container.
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Objects to inspect.
    #[arg(required = true)]
    pub names: Vec<String>,
}

// `image prune`.
#[derive(Args, Debug)]
pub struct ImagePrune {
    /// Remove all unused images, not just dangling ones.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>").
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

// `berth daemon` flags (docker's dockerd flags).
#[derive(Args, Debug, Clone)]
pub struct DaemonArgs {
    /// Daemon socket(s) to connect to.
    #[arg(short = 'H', long = "host")]
    pub host: Vec<String>,
    /// Root directory of persistent berth state.
    #[arg(long = "data-root", alias = "graph", short = 'g')]
    pub data_root: Option<String>,
    /// Root directory for execution state files.
    #[arg(long = "exec-root")]
    pub exec_root: Option<String>,
    /// Enable debug mode.
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal").
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Set key=value labels to the daemon.
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Storage driver to use.
    #[arg(short = 's', long = "storage-driver")]
    pub storage_driver: Option<String>,
    /// Path to use for daemon PID file.
    #[arg(short = 'p', long = "pidfile")]
    pub pidfile: Option<String>,
    /// Daemon configuration file.
    #[arg(long = "config-file")]
    pub config_file: Option<String>,
    /// Network bridge IP (the default bridge's address and prefix).
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// IPv4 subnet for fixed IPs on the default bridge.
    #[arg(long = "fixed-cidr")]
    pub fixed_cidr: Option<String>,
    /// Default address pools for node specific local networks (base=CIDR,size=N).
    #[arg(long = "default-address-pool")]
    pub default_address_pool: Vec<String>,
    /// Use userland proxy for loopback traffic.
    #[arg(long = "userland-proxy", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub userland_proxy: Option<bool>,
    /// Enable addition of nftables rules (berth's own table).
    #[arg(long = "iptables", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub iptables: Option<bool>,
    /// Enable net.ipv4.ip_forward.
    #[arg(long = "ip-forward", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ip_forward: Option<bool>,
    /// Prefix of berth's network device and nftables table names (berth only).
    #[arg(long = "net-prefix")]
    pub net_prefix: Option<String>,
    /// Enable insecure registry communication.
    #[arg(long = "insecure-registry")]
    pub insecure_registry: Vec<String>,
    /// Preferred Docker registry mirror.
    #[arg(long = "registry-mirror")]
    pub registry_mirror: Vec<String>,
    /// Only ever contact these registries (berth only; host or host:port).
    #[arg(long = "allowed-registry")]
    pub allowed_registry: Vec<String>,
}

impl RunArgs {
    /// The image.
    pub fn image(&self) -> &str {
        self.cmd.first().map(String::as_str).unwrap_or("")
    }
    /// The command after the image.
    pub fn command(&self) -> &[String] {
        self.cmd.get(1..).unwrap_or(&[])
    }
}

impl CreateArgs {
    /// The image.
    pub fn image(&self) -> &str {
        self.cmd.first().map(String::as_str).unwrap_or("")
    }
    /// The command after the image.
    pub fn command(&self) -> &[String] {
        self.cmd.get(1..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command, deferred or not, shows its own about line in help.
    #[test]
    fn every_command_keeps_its_about_line() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
                if !sub.is_hide_set() && (about.is_empty() || about.starts_with('`')) {
                    missing.push(format!("{path}: {about:?}"));
                }
                walk(sub, &path, missing);
            }
        }
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut missing = Vec::new();
        walk(&cmd, "berth", &mut missing);
        assert!(
            missing.is_empty(),
            "commands without an about line: {missing:#?}"
        );
    }
}
