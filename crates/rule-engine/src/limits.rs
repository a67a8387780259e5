//! The limits every rule is held to. Validation refuses a rule that exceeds
//! one (naming the field), and evaluation and rendering stay within them, so
//! one tenant's rule cannot take an unbounded share of a worker.

/// Deepest nesting of `all` / `any` / `not` (the root condition is depth 1).
pub const MAX_CONDITION_DEPTH: usize = 8;
/// Most leaves (comparisons) in one rule's condition.
pub const MAX_LEAVES: usize = 64;
/// Most actions in one rule.
pub const MAX_ACTIONS: usize = 10;
/// Most channels in one `notify` action's fallback chain.
pub const MAX_CHANNELS: usize = 5;
/// Most entries in `event_types`.
pub const MAX_EVENT_TYPES: usize = 32;
/// Longest event type or prefix, in bytes (the same bound ingest applies).
pub const MAX_EVENT_TYPE_LENGTH: usize = 128;
/// Longest rule name, in characters.
pub const MAX_NAME_LENGTH: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LENGTH: usize = 2_000;
/// Longest path (`/data/customer/id`), in bytes.
pub const MAX_PATH_LENGTH: usize = 256;
/// Most items in the array of an `in` / `not_in` leaf.
pub const MAX_SET_SIZE: usize = 256;
/// Longest `matches` pattern, in bytes.
pub const MAX_REGEX_LENGTH: usize = 512;
/// Largest compiled regex program, in bytes (`RegexBuilder::size_limit`).
pub const REGEX_SIZE_LIMIT: usize = 64 * 1024;
/// Largest lazy-DFA cache of one regex, in bytes (`RegexBuilder::dfa_size_limit`).
pub const REGEX_DFA_SIZE_LIMIT: usize = 256 * 1024;
/// Longest template source (one subject, body or string leaf), in bytes.
pub const MAX_TEMPLATE_LENGTH: usize = 8 * 1024;
/// Most templated string leaves in one `emit` action's `data`.
pub const MAX_DATA_TEMPLATES: usize = 64;
/// Deepest nesting of one `emit` action's `data`.
pub const MAX_DATA_DEPTH: usize = 8;
/// Most bytes one action may render, all its templates together.
pub const MAX_RENDERED_BYTES: usize = 64 * 1024;
/// Fuel of one template rendering (minijinja's instruction budget).
pub const TEMPLATE_FUEL: u64 = 50_000;
/// Deepest recursion of one template rendering.
pub const TEMPLATE_RECURSION_LIMIT: usize = 32;
/// Largest `window.count`.
pub const MAX_WINDOW_COUNT: u32 = 1_000;
/// Largest `throttle.at_most`.
pub const MAX_THROTTLE_AT_MOST: u32 = 1_000;
/// Shortest duration (`within`, `per`), in seconds.
pub const MIN_DURATION_SECONDS: u32 = 1;
/// Longest duration (`within`, `per`), in seconds: 30 days.
pub const MAX_DURATION_SECONDS: u32 = 30 * 24 * 3600;
/// Default cap on derived-event depth (see [`crate::causation`]).
pub const DEFAULT_MAX_DEPTH: u32 = 3;
