pub mod dlq;
mod group_state;
pub mod groups;
pub mod keys;
pub mod migrate;
pub mod projections;
pub mod replay;
mod replay_rules;
pub mod tenants;
pub mod topics;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `text` for people or `value` for scripts.
    /// A closed pipe (`signalctl groups list | head`) ends the output
    /// quietly instead of panicking.
    pub fn print(&self, text: impl AsRef<str>, value: serde_json::Value) {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = if self.json { writeln!(stdout, "{value}") } else { writeln!(stdout, "{}", text.as_ref()) };
    }

    /// A note on the way to the result, for people only (on stderr, so
    /// stdout stays the result); scripts asking for JSON get none. Like
    /// `print`, a closed stream ends the note quietly instead of panicking.
    pub fn progress(&self, text: impl AsRef<str>) {
        use std::io::Write as _;
        if !self.json {
            let _ = writeln!(std::io::stderr().lock(), "{}", text.as_ref());
        }
    }
}
