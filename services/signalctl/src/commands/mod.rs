pub mod keys;
pub mod migrate;
pub mod tenants;
pub mod topics;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `text` for people or `value` for scripts.
    pub fn print(&self, text: impl AsRef<str>, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", text.as_ref());
        }
    }
}
