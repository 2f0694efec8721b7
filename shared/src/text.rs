//! Engage Digital only delivers plain text from a bot (seed 001), so markup in a bot's reply is
//! turned into the text a person would read.

/// Converts HTML and the common Markdown marks into plain text.
///
/// Line breaks (`<br>`, `</p>`, list items) become newlines, tags are dropped, the usual
/// entities are decoded, `[label](url)` becomes `label (url)`, and emphasis and code marks are
/// removed. Text without markup comes back unchanged (only trimmed).
pub fn to_plain_text(input: &str) -> String {
    // Most replies are plain already: no tag, entity, link or mark to take out.
    if !input.contains(['<', '&', '[', '*', '_', '`', '#']) {
        return collapse_blank_lines(input);
    }
    let without_tags = strip_html(input);
    let text = strip_markdown(&without_tags);
    collapse_blank_lines(&text)
}

fn strip_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        match after.find('>') {
            Some(end) if looks_like_tag(&after[1..end]) => {
                let tag = after[1..end].trim().trim_end_matches('/').trim().to_ascii_lowercase();
                let name = tag.split_whitespace().next().unwrap_or("");
                match name {
                    "br" | "/p" | "/div" | "/li" | "/h1" | "/h2" | "/h3" | "/tr" => out.push('\n'),
                    "li" => out.push_str("- "),
                    _ => {}
                }
                rest = &after[end + 1..];
            }
            // A lone `<` (e.g. "3 < 4") is text.
            _ => {
                out.push('<');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    decode_entities(&out)
}

fn looks_like_tag(inner: &str) -> bool {
    let inner = inner.trim_start_matches('/');
    inner.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && inner.chars().all(|c| c.is_ascii_alphanumeric() || " =\"'-_:/.;#%?&".contains(c))
}

fn decode_entities(input: &str) -> String {
    input
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn strip_markdown(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    // Links first: `[label](url)` -> `label (url)`.
    while let Some(open) = rest.find('[') {
        let after = &rest[open..];
        let link =
            after.find("](").and_then(|mid| after[mid + 2..].find(')').map(|close| (mid, mid + 2 + close)));
        match link {
            Some((mid, close)) if !after[1..mid].contains(['[', ']']) => {
                out.push_str(&rest[..open]);
                let label = &after[1..mid];
                let url = &after[mid + 2..close];
                if label.is_empty() || label == url {
                    out.push_str(url);
                } else {
                    out.push_str(&format!("{label} ({url})"));
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    let out = out.replace("**", "").replace("__", "").replace('`', "");
    out.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            match trimmed.strip_prefix('#') {
                Some(heading) => heading.trim_start_matches('#').trim_start().to_string(),
                None => match trimmed.strip_prefix("* ") {
                    Some(item) => format!("- {item}"),
                    None => line.to_string(),
                },
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn collapse_blank_lines(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut blank_run = 0;
    for line in input.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::to_plain_text;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(to_plain_text("Hello, how can I help?"), "Hello, how can I help?");
        assert_eq!(to_plain_text("3 < 4 and 5 > 2"), "3 < 4 and 5 > 2");
    }

    #[test]
    fn html_becomes_text_with_line_breaks() {
        assert_eq!(
            to_plain_text(
                "<p>Hello <b>Ann</b>,</p><p>Your order&nbsp;is <i>on its way</i> &amp; paid.<br/>Bye</p>"
            ),
            "Hello Ann,\nYour order is on its way & paid.\nBye"
        );
        assert_eq!(to_plain_text("<ul><li>one</li><li>two</li></ul>"), "- one\n- two");
    }

    #[test]
    fn markdown_marks_are_removed_and_links_kept_readable() {
        assert_eq!(
            to_plain_text("# Help\nSee **our** [FAQ](https://example.com/faq) or `call us`."),
            "Help\nSee our FAQ (https://example.com/faq) or call us."
        );
        assert_eq!(to_plain_text("[https://x.io](https://x.io)"), "https://x.io");
        assert_eq!(to_plain_text("array[0] stays"), "array[0] stays");
    }
}
