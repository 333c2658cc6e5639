//! berth's Dockerfile front-end: everything about a Dockerfile that does
//! not need a container. It parses exactly like BuildKit (the parser, the
//! typed instructions and the `shell.Lex` variable expansion are ports of
//! `moby/buildkit/frontend/dockerfile`, checked against it case by case),
//! and provides the pure rules an executor needs:
//!
//! * [`parse`] → [`Dockerfile`]: directives, meta `ARG`s, stages with typed
//!   [`Instruction`]s, each with its lines and original text; errors worded
//!   like Docker ([`ParseError`]).
//! * [`shell_lex`]: `$x`, `${x:-w}`, `${x#p}`, `${x/p/r}`, quotes, escapes;
//!   [`Instruction::expand`] applies Docker's per-instruction rules.
//! * [`args`]: predefined platform args, meta args, `ARG` scoping inside a
//!   stage, proxy args, unused build-arg warning.
//! * [`Dockerfile::graph`] / [`StageGraph`]: which stages a target needs
//!   and in which order they can run.
//! * [`dockerignore`]: `.dockerignore` reading and moby's pattern matcher,
//!   with the walker's directory-skipping rule.
//! * [`exec_form`]: argv for `RUN`/`CMD`/`ENTRYPOINT`, heredoc scripts,
//!   `ENTRYPOINT`/`CMD` interplay, `STOPSIGNAL`, `EXPOSE`.
//! * [`copy_rules`]: `COPY`/`ADD` globs, destinations, `--chown`,
//!   `--chmod`, context path cleaning.
//!
//! No I/O: callers pass file contents in.

pub mod args;
pub mod copy_rules;
pub mod dockerignore;
mod error;
pub mod exec_form;
pub mod golang;
pub mod instructions;
mod json;
pub mod mount;
pub mod parser;
pub mod shell_lex;
mod stages;

pub use error::{BuildError, ParseError, ParseErrorKind};
pub use instructions::{Instruction, InstructionKind};
pub use stages::{
    parse, parse_onbuild_trigger, Dependency, DependencyKind, Dockerfile, Stage, StageGraph,
    StageNode, StageRef,
};
