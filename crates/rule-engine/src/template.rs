//! Templates: minijinja in a sandbox. There is no loader, so a template
//! cannot read a file or another template (`include`, `import` and
//! `extends` are not even compiled in); each rendering has a fuel budget and
//! a recursion limit; an action's renderings share an output budget.
//!
//! Templates see two variables, `event` (`event.type`, `event.data.*`, …)
//! and `rule` (`rule.id`, `rule.version`, `rule.name`); a template naming
//! any other variable is refused at validation. Below those, undefined is
//! lenient: `{{ event.data.missing.deeper }}` renders as the empty string
//! (use `default` for a fallback), so an event without an optional field
//! still sends its notification.

use std::io;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

use crate::limits::{MAX_RENDERED_BYTES, MAX_TEMPLATE_LENGTH, TEMPLATE_FUEL, TEMPLATE_RECURSION_LIMIT};

/// The variables templates may name.
pub const TEMPLATE_VARIABLES: [&str; 2] = ["event", "rule"];

/// Why a template could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the action's rendered output is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the template ran out of fuel (it does too much work)")]
    OutOfFuel,
    #[error("template failed: {0}")]
    Failed(String),
}

/// A set of compiled templates, by name.
#[derive(Debug)]
pub(crate) struct Templates {
    env: Environment<'static>,
}

fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(TEMPLATE_RECURSION_LIMIT);
    // A template without markup renders as itself, trailing newline included.
    env.set_keep_trailing_newline(true);
    // Notifications are plain text; channels escape for their own medium.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env
}

/// Checks one template source: length, syntax and the variables it names.
pub(crate) fn check(source: &str) -> Result<(), String> {
    if source.len() > MAX_TEMPLATE_LENGTH {
        return Err(format!("template is longer than {MAX_TEMPLATE_LENGTH} bytes"));
    }
    let env = sandbox();
    let template = env.template_from_str(source).map_err(|e| format!("template does not parse: {}", describe(&e)))?;
    // Built-in functions (`range`, `dict`, …) are globals, not unknown variables.
    let known = |name: &str| TEMPLATE_VARIABLES.contains(&name) || env.globals().any(|(global, _)| global == name);
    let mut unknown: Vec<String> = template.undeclared_variables(false).into_iter().filter(|v| !known(v)).collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(format!("template names unknown variable `{name}` (templates see `event` and `rule`)")),
    }
}

fn describe(e: &minijinja::Error) -> String {
    match (e.detail(), e.line()) {
        (Some(detail), Some(line)) => format!("{detail} (line {line})"),
        (Some(detail), None) => detail.to_owned(),
        _ => e.to_string(),
    }
}

impl Templates {
    pub(crate) fn new() -> Self {
        Templates { env: sandbox() }
    }

    /// Adds a template after [`check`]ing it.
    pub(crate) fn add(&mut self, name: String, source: String) -> Result<(), String> {
        check(&source)?;
        self.env.add_template_owned(name, source).map_err(|e| format!("template does not parse: {}", describe(&e)))
    }

    /// Renders template `name`, taking its output from `budget`.
    pub(crate) fn render(&self, name: &str, context: &minijinja::Value, budget: &mut usize) -> Result<String, RenderError> {
        let template = self.env.get_template(name).map_err(|e| RenderError::Failed(e.to_string()))?;
        let mut out = Bounded { bytes: Vec::new(), budget, over: false };
        match template.render_captured_to(context, &mut out) {
            Ok(_) => Ok(String::from_utf8_lossy(&out.bytes).into_owned()),
            Err(_) if out.over => Err(RenderError::TooLarge { limit: MAX_RENDERED_BYTES }),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(RenderError::OutOfFuel),
            Err(e) => Err(RenderError::Failed(describe(&e))),
        }
    }
}

/// A writer that refuses to grow past its budget.
struct Bounded<'a> {
    bytes: Vec<u8>,
    budget: &'a mut usize,
    over: bool,
}

impl io::Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > *self.budget {
            self.over = true;
            return Err(io::Error::other("output budget exhausted"));
        }
        *self.budget -= buf.len();
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
