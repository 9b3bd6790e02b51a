//! The JSON path of the place a serde_json error points at, so a config
//! error names its field (`linux.resources.memory.limit`, `mounts[2].type`).
//!
//! A path-tracking deserializer would instantiate a second copy of every
//! Deserialize impl of the spec (a few hundred KiB of code, loaded on every
//! run for the sake of broken configs); re-scanning the text up to the
//! error's line and column costs a few dozen lines instead.

enum Frame {
    /// An object, with the key whose value is being read (if any).
    Object { key: Option<String>, want_key: bool },
    /// An array, with the index of the element being read.
    Array { index: usize },
}

/// The path to the value that `err` was raised in, `.` for the document.
pub fn of_error(text: &str, err: &serde_json::Error) -> String {
    let offset = offset_of(text, err.line(), err.column());
    // "missing field" is reported at the object's closing brace: the path is
    // the object's, not that of its last key.
    let object_level = err.to_string().starts_with("missing field");
    let path = at_offset(text, offset, object_level);
    if path.is_empty() {
        ".".into()
    } else {
        path
    }
}

/// Byte offset of a 1-based line and column (serde_json's).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column).min(text.len())
}

/// Scans `text` up to `offset` and returns the path of the innermost value
/// open there.
fn at_offset(text: &str, offset: usize, object_level: bool) -> String {
    let bytes = &text.as_bytes()[..offset.min(text.len())];
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key, want_key }) => {
                    *key = None;
                    *want_key = true;
                }
                None => {}
            },
            b':' => {
                if let Some(Frame::Object { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b'"' => {
                let (s, end) = read_string(bytes, i + 1);
                if let Some(Frame::Object { key, want_key }) = stack.last_mut() {
                    if *want_key {
                        *key = Some(s);
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // An error right at a `{` or `[` is about that value as a whole (a
    // wrong type): it belongs to the enclosing path.
    if matches!(
        bytes.iter().rev().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    ) {
        stack.pop();
    }
    if object_level {
        if let Some(Frame::Object { key, .. }) = stack.last_mut() {
            *key = None;
        }
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(k), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

/// Reads a JSON string starting after its opening quote; returns its text
/// (escapes kept as written, enough for keys) and the index after it.
fn read_string(bytes: &[u8], start: usize) -> (String, usize) {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                return (
                    String::from_utf8_lossy(&bytes[start..i]).into_owned(),
                    i + 1,
                )
            }
            _ => i += 1,
        }
    }
    (
        String::from_utf8_lossy(&bytes[start..bytes.len().min(i)]).into_owned(),
        bytes.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Limit {
        limit: i64,
        name: String,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Doc {
        items: Vec<Limit>,
        other: Option<u8>,
    }

    fn path(text: &str) -> String {
        let err = serde_json::from_str::<Doc>(text).expect_err("must fail");
        of_error(text, &err)
    }

    #[test]
    fn names_the_field_inside_arrays_and_objects() {
        let text = r#"{"other": 1, "items": [{"limit": 1, "name": "a"},
            {"name": "b", "limit": "five"}]}"#;
        assert_eq!(path(text), "items[1].limit");
    }

    #[test]
    fn top_level_fields_and_the_document() {
        assert_eq!(path(r#"{"items": [], "other": 300}"#), "other");
        assert_eq!(path(r#""text""#), ".");
        assert_eq!(path(r#"{"items": {"limit": 1}}"#), "items");
    }

    #[test]
    fn missing_fields_name_their_object() {
        assert_eq!(path(r#"{"items": [{"limit": 1}]}"#), "items[0]");
    }

    #[test]
    fn keys_with_escapes_and_commas_in_strings() {
        let text = r#"{"other": 1, "items": [{"name": "a,\"b\"]", "limit": true}]}"#;
        assert_eq!(path(text), "items[0].limit");
    }
}
