//! A port of the layout algorithm of Go's `text/tabwriter`, restricted to
//! what docker/cli uses (`tabwriter.NewWriter(out, minwidth, tabwidth,
//! padding, ' ', 0)`): cells are terminated by `'\t'`, lines by `'\n'`.
//!
//! The `tabwriter` crate computes `max(text, minwidth) + padding` while Go
//! computes `max(text + padding, minwidth)`, so the Go algorithm is ported
//! here instead. Widths count Unicode scalar values, like Go.

/// Go `tabwriter` settings (padding character is always a space).
#[derive(Clone, Copy, Debug)]
pub(crate) struct GoTabWriter {
    /// Minimal cell width including padding.
    pub minwidth: usize,
    /// Padding added to each cell's text width.
    pub padding: usize,
}

/// One cell: its text and width in characters.
struct Cell<'a> {
    text: &'a str,
    width: usize,
}

impl GoTabWriter {
    /// docker/cli's table settings: minwidth 10, padding 3.
    pub(crate) const DOCKER: GoTabWriter = GoTabWriter {
        minwidth: 10,
        padding: 3,
    };

    /// Lays out `text` as Go's `tabwriter.Writer` does after writing all of
    /// `text` and calling `Flush`.
    pub(crate) fn format(&self, text: &str) -> String {
        let lines: Vec<Vec<Cell<'_>>> = text
            .split('\n')
            .map(|line| {
                line.split('\t')
                    .map(|t| Cell {
                        text: t,
                        width: t.chars().count(),
                    })
                    .collect()
            })
            .collect();
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&mut out, &lines, &mut widths, 0, lines.len());
        out
    }

    /// Go's `(*Writer).format`: recursively computes column-block widths.
    fn format_block(
        &self,
        out: &mut String,
        lines: &[Vec<Cell<'_>>],
        widths: &mut Vec<usize>,
        line0: usize,
        line1: usize,
    ) {
        let column = widths.len();
        let mut line0 = line0;
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A cell exists in this column: print the lines before the block.
            write_lines(out, lines, widths, line0, this);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 {
                let line = &lines[this];
                if column + 1 >= line.len() {
                    break;
                }
                width = width.max(line[column].width + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format_block(out, lines, widths, line0, this);
            widths.pop();
            line0 = this;
        }
        write_lines(out, lines, widths, line0, line1);
    }
}

/// Go's `(*Writer).writeLines`: prints lines `line0..line1` padding each cell
/// that has a known column width.
fn write_lines(
    out: &mut String,
    lines: &[Vec<Cell<'_>>],
    widths: &[usize],
    line0: usize,
    line1: usize,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell.text);
            if let Some(&w) = widths.get(j) {
                for _ in cell.width..w {
                    out.push(' ');
                }
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layout() {
        let tw = GoTabWriter::DOCKER;
        assert_eq!(tw.format("a\tb\n"), "a         b\n");
        assert_eq!(
            tw.format("NAME\tID\nsomething-long\tx\n"),
            "NAME             ID\nsomething-long   x\n"
        );
        // Trailing tab: the last column is padded too.
        assert_eq!(tw.format("a\t\n"), "a         \n");
        // A line with fewer cells ends the column block.
        assert_eq!(
            tw.format("aaaaaaaaaaaa\tb\nsingle\nc\td\n"),
            "aaaaaaaaaaaa   b\nsingle\nc         d\n"
        );
        assert_eq!(tw.format(""), "");
        assert_eq!(tw.format("no tabs\n"), "no tabs\n");
    }
}
