//! The core's shape, checked (issue 23): decisions and flows stay small enough to read at a
//! glance. No function in `shared/src/flow` over 60 lines, none in `shared/src` over 80
//! (unit-test code aside).

use std::path::{Path, PathBuf};

const FLOW_LIMIT: usize = 60;
const CORE_LIMIT: usize = 80;

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            found.push(path);
        }
    }
}

/// The line with strings, characters and comments blanked, so braces in them do not count.
fn code_of(line: &str) -> String {
    let mut code = String::new();
    let mut chars = line.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '/') if chars.peek() == Some(&'/') => break,
            // A character literal ('{'): skipped whole; a lifetime ('a) is not one.
            (false, '\'') if chars.clone().nth(1) == Some('\'') => {
                chars.next();
                chars.next();
            }
            (false, c) => code.push(c),
        }
    }
    code
}

/// Every function of `source` (before its unit tests) as (name, first line, length in lines).
fn functions(source: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = source.lines().take_while(|l| l.trim() != "#[cfg(test)]").collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let signature = ["pub(crate) ", "pub(super) ", "pub ", ""].iter().find_map(|vis| {
            let rest = trimmed.strip_prefix(vis)?;
            let rest = rest.strip_prefix("async ").unwrap_or(rest);
            rest.strip_prefix("fn ")
        });
        let Some(signature) = signature else { continue };
        let name: String = signature.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let (mut depth, mut opened) = (0i32, false);
        for (offset, body) in lines[start..].iter().enumerate() {
            let code = code_of(body);
            for c in code.chars() {
                match c {
                    '{' => (depth, opened) = (depth + 1, true),
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth == 0) || (!opened && code.trim_end().ends_with(';')) {
                found.push((name.clone(), start + 1, offset + 1));
                break;
            }
        }
    }
    found
}

#[test]
fn no_function_of_the_core_is_too_long() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("shared/src");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    assert!(files.len() > 30, "the core's sources were found");
    let mut too_long = Vec::new();
    for file in &files {
        let limit = if file.components().any(|c| c.as_os_str() == "flow") { FLOW_LIMIT } else { CORE_LIMIT };
        for (name, line, length) in functions(&std::fs::read_to_string(file).unwrap()) {
            if length > limit {
                too_long.push(format!("{}:{line} {name}: {length} lines (at most {limit})", file.display()));
            }
        }
    }
    assert!(too_long.is_empty(), "{too_long:#?}");
}

#[test]
fn the_length_of_a_function_is_measured_from_its_signature_to_its_closing_brace() {
    let source = "fn a() {\n    let s = \"}\";\n    if x {\n        y('{');\n    }\n}\n\npub async fn b(\n    x: u8,\n) -> u8 {\n    x\n}\n";
    assert_eq!(functions(source), vec![("a".to_string(), 1, 6), ("b".to_string(), 8, 5)]);
}
