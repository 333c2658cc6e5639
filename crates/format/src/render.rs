//! List and per-item rendering, following docker/cli's
//! `cli/command/formatter` (`Context.Write`) and `cli/command/inspect`.

use std::io::Write;

use crate::tabwriter::GoTabWriter;
use crate::template::{to_value, Compiled};
use crate::FormatError;

/// Prints a list as docker/cli's formatter does.
///
/// - `"json"`: each item as compact JSON on its own line (the item object is
///   printed as is, keeping its key order).
/// - a format starting with `table`: the prefix is removed, surrounding
///   spaces trimmed and the two-character sequences `\t` / `\n` replaced by a
///   tab / newline; the header row is the template executed on `headers` (an
///   object mapping field name to header text) with docker's header
///   functions (`json`, `split`, `join`, `title`, `lower`, `upper` and
///   `truncate` return their first argument unchanged), followed by one row
///   per item; everything is aligned like Go's
///   `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`. The header is printed even
///   when there are no items. A bare `"table"` renders empty rows: callers
///   substitute their default table format for it (and for `""`).
/// - anything else: same `\t` / `\n` replacement, then one rendering per item
///   followed by `"\n"`, without alignment.
///
/// Nothing is written if any item fails to render.
///
/// # Errors
/// [`FormatError::Template`] for template syntax or execution errors,
/// [`FormatError::Io`] / [`FormatError::Json`] for output failures.
pub fn render_list(
    format: &str,
    headers: &serde_json::Value,
    items: &[serde_json::Value],
    out: &mut dyn Write,
) -> Result<(), FormatError> {
    if format == "json" {
        let mut buf = String::new();
        for item in items {
            buf.push_str(&serde_json::to_string(item)?);
            buf.push('\n');
        }
        out.write_all(buf.as_bytes())?;
        return Ok(());
    }
    let is_table = format.starts_with("table");
    let body = if is_table { &format[5..] } else { format };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    let tmpl = Compiled::new(&body, false)?;
    let mut buf = String::new();
    for item in items {
        tmpl.execute(&to_value(item), &mut buf)?;
        buf.push('\n');
    }
    if is_table {
        let header_tmpl = Compiled::new(&body, true)?;
        let mut text = String::new();
        // docker/cli ignores header rendering errors (keeping partial output).
        let _ = header_tmpl.execute(&to_value(headers), &mut text);
        text.push('\n');
        text.push_str(&buf);
        out.write_all(GoTabWriter::DOCKER.format(&text).as_bytes())?;
    } else {
        out.write_all(buf.as_bytes())?;
    }
    Ok(())
}

/// Renders one template per item with a newline after each (`docker inspect
/// --format`, `docker version --format`). No table handling and no `\t` /
/// `\n` replacement, like docker. Nothing is written if any item fails.
///
/// # Errors
/// [`FormatError::Template`] for template syntax or execution errors,
/// [`FormatError::Io`] if writing fails.
pub fn render_each(
    template: &str,
    items: &[serde_json::Value],
    out: &mut dyn Write,
) -> Result<(), FormatError> {
    let tmpl = Compiled::new(template, false)?;
    let mut buf = String::new();
    for item in items {
        tmpl.execute(&to_value(item), &mut buf)?;
        buf.push('\n');
    }
    out.write_all(buf.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(format: &str, headers: serde_json::Value, items: &[serde_json::Value]) -> String {
        let mut out = Vec::new();
        if let Err(e) = render_list(format, &headers, items, &mut out) {
            panic!("{format}: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    fn image_headers() -> serde_json::Value {
        json!({
            "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
            "CreatedSince": "CREATED", "Size": "SIZE"
        })
    }

    fn images() -> Vec<serde_json::Value> {
        vec![
            json!({"Repository": "nginx", "Tag": "latest", "ID": "a6bd71f48f68",
                   "CreatedSince": "2 weeks ago", "Size": "187MB",
                   "Labels": {"maintainer": "NGINX"}, "Names": ["n1", "n2"]}),
            json!({"Repository": "alpine", "Tag": "3.19", "ID": "05455a08881e",
                   "CreatedSince": "3 months ago", "Size": "7.38MB",
                   "Labels": {}, "Names": ["a1"]}),
        ]
    }

    const IMAGES_TABLE: &str =
        "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";

    #[test]
    fn docker_images_table() {
        let got = list(IMAGES_TABLE, image_headers(), &images());
        // Column widths: max(text + 3, 10): 13, 10, 15, 15; last column unpadded.
        let want = concat!(
            "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n",
            "nginx        latest    a6bd71f48f68   2 weeks ago    187MB\n",
            "alpine       3.19      05455a08881e   3 months ago   7.38MB\n",
        );
        assert_eq!(got, want);
    }

    #[test]
    fn typical_header_widths() {
        // "3 seconds ago" (13 chars) widens CREATED to 16.
        let items = [
            json!({"Repository": "busybox", "Tag": "latest", "ID": "0123456789ab",
                            "CreatedSince": "3 seconds ago", "Size": "4.26MB"}),
        ];
        let got = list(IMAGES_TABLE, image_headers(), &items);
        let want = concat!(
            "REPOSITORY   TAG       IMAGE ID       CREATED         SIZE\n",
            "busybox      latest    0123456789ab   3 seconds ago   4.26MB\n",
        );
        assert_eq!(got, want);
    }

    #[test]
    fn empty_table_prints_header() {
        let got = list(
            "table {{.ID}}\\t{{.Name}}",
            json!({"ID": "ID", "Name": "NAME"}),
            &[],
        );
        assert_eq!(got, "ID        NAME\n");
    }

    #[test]
    fn table_header_functions() {
        let got = list(
            "table {{upper .Repository}}\\t{{json .Tag}}",
            image_headers(),
            &images(),
        );
        let want = concat!(
            "REPOSITORY   TAG\n",
            "NGINX        \"latest\"\n",
            "ALPINE       \"3.19\"\n",
        );
        assert_eq!(got, want);
    }

    #[test]
    fn non_table_format() {
        let got = list("{{.Repository}}:{{.Tag}}\\t{{.Size}}", json!({}), &images());
        assert_eq!(got, "nginx:latest\t187MB\nalpine:3.19\t7.38MB\n");
        let got = list("  {{.ID}}  ", json!({}), &images());
        assert_eq!(got, "a6bd71f48f68\n05455a08881e\n");
    }

    #[test]
    fn json_formats() {
        let items = [json!({"ID": "abc", "Name": "<web>", "Size": 3})];
        assert_eq!(
            list("json", json!({}), &items),
            "{\"ID\":\"abc\",\"Name\":\"<web>\",\"Size\":3}\n"
        );
        assert_eq!(
            list("{{json .}}", json!({}), &items),
            "{\"ID\":\"abc\",\"Name\":\"<web>\",\"Size\":3}\n"
        );
    }

    #[test]
    fn template_functions_in_lists() {
        let imgs = images();
        assert_eq!(
            list("{{.Labels}}", json!({}), &imgs),
            "map[maintainer:NGINX]\nmap[]\n"
        );
        assert_eq!(
            list("{{index .Labels \"maintainer\"}}", json!({}), &imgs),
            "NGINX\n\n"
        );
        assert_eq!(
            list("{{join .Names \",\"}}", json!({}), &imgs),
            "n1,n2\na1\n"
        );
        assert_eq!(
            list("{{upper .Repository}}", json!({}), &imgs),
            "NGINX\nALPINE\n"
        );
    }

    #[test]
    fn unknown_function_error() {
        let mut out = Vec::new();
        let err = render_list("{{foo .ID}}", &json!({}), &images(), &mut out)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("template parsing error: template: :1: function \"foo\" not defined")
        );
        assert!(out.is_empty());
    }

    #[test]
    fn inspect_each() {
        let items = [
            json!({"Id": "c1", "Config": {"ExposedPorts": {"80/tcp": {}}, "Env": ["A=1", "B=2"]}}),
            json!({"Id": "c2", "Config": {"ExposedPorts": null, "Env": []}}),
        ];
        let mut out = Vec::new();
        let r = render_each(
            "{{.Id}} {{.Config.ExposedPorts}} {{.Config.Env}}\\t",
            &items,
            &mut out,
        );
        assert!(r.is_ok());
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            "c1 map[80/tcp:{}] [A=1 B=2]\\t\nc2 <nil> []\\t\n"
        );
    }
}
