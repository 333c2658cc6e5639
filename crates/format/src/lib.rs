//! Output formatting for the `berth` CLI, compatible with the docker CLI
//! (`docker/cli`): human-readable units (`go-units`), tables laid out like
//! Go's `text/tabwriter`, and `--format` Go templates with docker's template
//! functions.
//!
//! Items to print are `serde_json::Value` objects whose fields are the
//! display fields the templates refer to (`{{.ID}}`, `{{.CreatedSince}}`).

mod render;
mod tabwriter;
mod template;
mod timestamp;
mod units;

pub use render::{render_each, render_list};
pub use timestamp::parse_timestamp;
pub use units::{bytes_size, human_duration, human_size, human_size_f, time_ago};

/// docker/cli's `formatter.Ellipsis`: `s` cut to `max` characters, the
/// last one replaced by `…` when cut (every character counted as one
/// column).
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    match max {
        0 => String::new(),
        1 => s.chars().take(1).collect(),
        _ => format!("{}…", s.chars().take(max - 1).collect::<String>()),
    }
}

/// Errors from template parsing/execution, timestamp parsing and output.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A template could not be parsed or executed. The message follows Go's
    /// wording, e.g. `template: :1: function "foo" not defined`; it is
    /// displayed with docker's `template parsing error: ` prefix.
    #[error("template parsing error: {0}")]
    Template(String),
    /// A `--since` / `--until` style time value could not be parsed.
    #[error("{0}")]
    Time(String),
    /// Encoding an item as JSON failed.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Writing the output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    #[test]
    fn ellipsis_as_docker() {
        assert_eq!(super::ellipsis("abcdef", 6), "abcdef");
        assert_eq!(super::ellipsis("abcdefg", 6), "abcde…");
        assert_eq!(super::ellipsis("ñandú", 3), "ña…");
        assert_eq!(super::ellipsis("abc", 0), "");
    }
}
