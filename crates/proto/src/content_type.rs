//! What an envelope's `data_content_type` says about its data bytes.

/// Whether `content_type` names JSON: `application/json` or any
/// `application/…+json` (CloudEvents, JSON:API, …), parameters and case ignored.
pub fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_and_structured_json_suffixes_are_json_whatever_their_case_and_parameters() {
        for yes in ["application/json", "Application/JSON; charset=utf-8", "application/cloudevents+json", " application/vnd.api+json "] {
            assert!(is_json(yes), "{yes}");
        }
        for no in ["", "text/json", "application/octet-stream", "application/jsonp", "text/plain+json"] {
            assert!(!is_json(no), "{no}");
        }
    }
}
