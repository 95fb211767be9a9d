//! Text from outside (notes, exercise names, a bad field in a file) on the
//! terminal: what it says, never what it would do.
//!
//! A note that holds `ESC ] 52 ;…` or `ESC [ 2 J` would, printed raw, write
//! the clipboard or clear the screen; a carriage return would overwrite the
//! line before it; a bad field with a newline would split a one-line error
//! in two. [`printable`] shows such characters as escapes instead.

use std::borrow::Cow;

/// True for characters that steer a terminal or the text's direction
/// rather than print: C0 and C1 controls, DEL, and the bidirectional
/// overrides and isolates that can make text read differently from what
/// it is.
fn steers(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character written as an escape (`\n`, `\r`,
/// `\t`, `\u{1b}`…): one line, inert on any terminal. Unchanged (and not
/// copied) when there is nothing to escape.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(steers) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if steers(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// "1 rep", "2 reps", "0 reps": a count with its noun, singular for one.
pub fn plural(n: impl Into<i64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The width to fit tables to: the terminal's, else `COLUMNS` when set;
/// `None` (no wrapping) for a pipe or a file, so tools get whole lines.
pub fn width() -> Option<u16> {
    use std::io::IsTerminal as _;
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|c| *c >= 20)
    {
        return Some(c);
    }
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ fills the winsize it is given and nothing else.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    (ok && ws.ws_col >= 20).then_some(ws.ws_col)
}

/// A table in medius' style (comfy-table): a header rule, no borders,
/// columns wrapped to fit [`width`]; numbers are right-aligned by the
/// caller with [`right`].
pub fn table(header: &[&str]) -> comfy_table::Table {
    use comfy_table::{ContentArrangement, LineStyle, Table, TableStyle};
    // Columns two blanks apart, a rule under the header, no boxes.
    const STYLE: TableStyle =
        TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));
    let mut t = Table::new();
    t.load_style(STYLE).set_header(header.to_vec());
    for c in t.column_iter_mut() {
        c.set_padding((0, 1));
    }
    match width() {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

/// Right-aligns the columns at `columns` (counts, loads, degrees).
pub fn right(t: &mut comfy_table::Table, columns: &[usize]) {
    for &i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
}

/// The table as lines, each ending in a line break, without the blanks
/// after the last column.
pub fn render(t: &comfy_table::Table) -> String {
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn controls_are_shown_not_obeyed() {
        assert_eq!(printable("hip hike on rep 4"), "hip hike on rep 4");
        assert_eq!(printable("Größe ＝1+1 °"), "Größe ＝1+1 °");
        assert_eq!(printable("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(
            printable("\u{1b}]52;c;aGk=\u{7}\u{1b}[2J"),
            "\\u{1b}]52;c;aGk=\\u{7}\\u{1b}[2J"
        );
        assert_eq!(printable("\u{9b}31m\u{7f}"), "\\u{9b}31m\\u{7f}");
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert!(!printable("x\u{1b}[31my").contains('\u{1b}'));
    }

    #[test]
    fn plurals() {
        assert_eq!(super::plural(1, "rep", "reps"), "1 rep");
        assert_eq!(super::plural(2, "rep", "reps"), "2 reps");
        assert_eq!(super::plural(0, "set", "sets"), "0 sets");
    }
}
