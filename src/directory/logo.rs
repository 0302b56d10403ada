//! App logos: PNG or SVG, at most [`MAX`] bytes. An SVG is accepted only if it is plain
//! drawing: well-formed, no DOCTYPE, no scripts, event handlers, foreign objects or links
//! to other documents. Logos are also served with a sandboxing CSP (`web::portal::logo`),
//! so even a missed construct cannot run on sesame's origin.

use super::DirectoryError;

pub const MAX: usize = 64 * 1024;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const SVG_NS: &str = "http://www.w3.org/2000/svg";

fn invalid(m: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(m.into())
}

/// The content type of an acceptable logo, or why it is refused.
pub fn check(bytes: &[u8]) -> Result<&'static str, DirectoryError> {
    if bytes.is_empty() {
        return Err(invalid("choose a PNG or SVG file for the logo"));
    }
    if bytes.len() > MAX {
        return Err(invalid(format!(
            "the logo is {} KiB; at most {} KiB are accepted",
            bytes.len().div_ceil(1024),
            MAX / 1024
        )));
    }
    if bytes.starts_with(PNG_MAGIC) {
        return Ok("image/png");
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid("the logo is neither a PNG nor an SVG file"))?;
    if text.to_ascii_uppercase().contains("<!DOCTYPE") {
        return Err(invalid("an SVG logo must not contain a DOCTYPE"));
    }
    let doc = roxmltree::Document::parse(text)
        .map_err(|_| invalid("the logo is neither a PNG nor a well-formed SVG file"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "svg" || root.tag_name().namespace() != Some(SVG_NS) {
        return Err(invalid(
            "the logo is neither a PNG nor an SVG file (no <svg> root)",
        ));
    }
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name().to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "script" | "foreignobject" | "iframe" | "embed" | "object"
        ) {
            return Err(invalid(format!("an SVG logo must not contain <{name}>")));
        }
        for a in node.attributes() {
            let attr = a.name().to_ascii_lowercase();
            if attr.starts_with("on") {
                return Err(invalid(format!(
                    "an SVG logo must not contain event handlers ({attr})"
                )));
            }
            let v = a.value().trim().to_ascii_lowercase();
            if attr == "href" && !(v.starts_with('#') || v.starts_with("data:image/png")) {
                return Err(invalid(
                    "an SVG logo must not link to other documents (href)",
                ));
            }
            if v.contains("javascript:") || (attr == "style" && v.contains("url(")) {
                return Err(invalid("an SVG logo must not reference scripts or URLs"));
            }
        }
    }
    Ok("image/svg+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="blue"/></svg>"#;

    #[test]
    fn accepts_png_and_plain_svg() {
        let mut png = PNG_MAGIC.to_vec();
        png.extend_from_slice(&[0; 32]);
        assert_eq!(check(&png).unwrap(), "image/png");
        assert_eq!(check(SVG.as_bytes()).unwrap(), "image/svg+xml");
    }

    #[test]
    fn refuses_active_or_oversized_content() {
        let bad = [
            r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><text>x</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>"#,
            r#"<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>"#,
            r#"<html><body/></html>"#,
            "GIF89a....",
            "",
        ];
        for b in bad {
            assert!(check(b.as_bytes()).is_err(), "{b}");
        }
        let big = format!("{}{}", &SVG[..SVG.len() - 6], " ".repeat(MAX)) + "</svg>";
        let e = check(big.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("at most 64 KiB"), "{e}");
    }
}
